package exectrace

import (
	"strings"
	"testing"

	"github.com/gostitch/gostitch/internal/syncnodetest"
)

// TestSameEventsOnLiveSyncnode scrapes a fresh 3 s trace of syncnode under GC pressure (several
// generations, CPU samples, socket logs) and reads it, and its go 1.25 layout, with both readers.
func TestSameEventsOnLiveSyncnode(t *testing.T) {
	node := syncnodetest.Start(t, "-peers", "8", "-fsync-every", "0", "-gc-pressure", "-log-conn")
	data := node.Get(t, "/debug/pprof/trace?seconds=3")
	for _, layout := range []struct {
		name string
		data []byte
	}{{"go1.26", data}, {"go1.25", relayout(t, data, 25)}} {
		want, count, ok := readXExp(layout.data)
		if !ok {
			t.Fatalf("%s: x/exp/trace cannot read the trace", layout.name)
		}
		got, gotCount, err := readOurs(layout.data)
		if err != nil {
			t.Fatalf("%s: %v", layout.name, err)
		}
		sameEvents(t, got, want, err)
		if gotCount != count {
			t.Errorf("%s: Events() = %d, x/exp/trace read %d", layout.name, gotCount, count)
		}
		syncs := 0
		for _, ev := range got {
			if strings.HasPrefix(ev, "kind=1 ") {
				syncs++
			}
		}
		if syncs < 3 {
			t.Errorf("%s: %d Sync events; a 3 s trace should have at least two generations", layout.name, syncs)
		}
		t.Logf("%s: %d bytes, %d events, %d generations", layout.name, len(layout.data), count, syncs-1)
	}
}
