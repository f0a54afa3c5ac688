package tracesrc

import (
	"bytes"
	"testing"
	"time"
)

// FuzzRead feeds arbitrary bytes to Read (seed corpus: testdata/fuzz/FuzzRead, small real
// traces whole, truncated and corrupted, and garbage). Read must not panic, and what it hands
// over must be consistent.
func FuzzRead(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		c := newCollector(t)
		tl, err := Read(bytes.NewReader(data), Options{MinSpanDuration: time.Microsecond, Threads: AllThreadIntervals}, c)
		if tl == nil {
			if err == nil || len(c.tasks) > 0 {
				t.Fatalf("no timeline, error %v, %d tasks", err, len(c.tasks))
			}
			return
		}
		for _, task := range c.tasks {
			checkTaskShape(t, task, 0)
		}
	})
}
