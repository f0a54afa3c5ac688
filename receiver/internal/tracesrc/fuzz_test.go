package tracesrc

import (
	"bytes"
	"testing"
	"time"
)

// FuzzRead feeds arbitrary bytes to Read (seed corpus: testdata/fuzz/FuzzRead, small real
// traces whole, truncated and corrupted, and garbage). Read must not panic, and what it hands
// over (work outside tasks too) must be consistent.
func FuzzRead(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		c := &outsideCollector{collector: newCollector(t)}
		tl, err := Read(bytes.NewReader(data), Options{MinSpanDuration: time.Microsecond, Threads: AllThreadIntervals,
			MaxGoroutineSpans: 16}, c)
		if tl == nil {
			if err == nil || len(c.tasks) > 0 {
				t.Fatalf("no timeline, error %v, %d tasks", err, len(c.tasks))
			}
			return
		}
		for _, task := range c.tasks {
			checkTaskShape(t, task, 0)
		}
		if n := len(c.regions) + len(c.episodes); n > 16 {
			t.Fatalf("%d regions and episodes outside tasks, bound 16", n)
		}
		for _, r := range c.regions {
			if r.End < r.Start {
				t.Fatalf("region outside tasks %+v ends before it starts", r)
			}
		}
	})
}
