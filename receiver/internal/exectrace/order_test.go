package exectrace

import (
	"strings"
	"testing"

	"golang.org/x/exp/trace"
)

// TestUndefinedString checks that every event naming a string refuses one the generation does
// not define (string 7), before it changes any state; string 0, the empty string, is defined.
func TestUndefinedString(t *testing.T) {
	for _, tc := range []struct {
		name string
		typ  evType
		args [maxArgs]uint64
	}{
		{"GoStop", evGoStop, [maxArgs]uint64{7}},
		{"GoBlock", evGoBlock, [maxArgs]uint64{7}},
		{"STWBegin", evSTWBegin, [maxArgs]uint64{7}},
		{"GoLabel", evGoLabel, [maxArgs]uint64{7}},
		{"UserTaskBegin", evUserTaskBegin, [maxArgs]uint64{1, 0, 7}},
		{"UserRegionBegin", evUserRegionBegin, [maxArgs]uint64{1, 7}},
		{"UserRegionEnd", evUserRegionEnd, [maxArgs]uint64{1, 7}},
		{"UserLog category", evUserLog, [maxArgs]uint64{1, 7, 0}},
		{"UserLog message", evUserLog, [maxArgs]uint64{1, 0, 7}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var q queue
			o := newOrdering(&stringTable{}, &q)
			c := &cursor{m: 1, ms: o.thread(1), typ: tc.typ, args: tc.args}
			ok, err := o.advance(c)
			if ok || err == nil || !strings.Contains(err.Error(), "names string 7") {
				t.Fatalf("advance = %v, %v; want the undefined string 7", ok, err)
			}
			if q.count != 0 || len(o.tasks) != 0 || c.ms.g != trace.NoGoroutine {
				t.Errorf("state changed: %d events, %d tasks, goroutine %d", q.count, len(o.tasks), c.ms.g)
			}
		})
	}
}
