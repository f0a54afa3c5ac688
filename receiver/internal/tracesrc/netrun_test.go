package tracesrc

import (
	"testing"
	"time"
)

// TestEpisodeResumed checks Episode.Resumed on real traces against Timeline.NetWakes (itself
// checked against a bare read): each network block of a task that the task outlived ran next
// on a thread from the netpoller's wakeup on, as the goroutine's wakeup says; other episodes
// have none.
func TestEpisodeResumed(t *testing.T) {
	for _, name := range []string{"syncnode.trace", "synctls13.trace"} {
		t.Run(name, func(t *testing.T) {
			c, tl, err := readAll(t, readFixture(t, name), Options{MinSpanDuration: time.Millisecond, Threads: AllThreadIntervals})
			if err != nil {
				t.Fatal(err)
			}
			n := 0
			for _, task := range c.tasks {
				for _, e := range task.Episodes {
					if e.Kind != Blocked || e.Reason != Network {
						if e.Resumed != (Run{}) {
							t.Errorf("task %d: %s episode with a run after it %+v", task.ID, e.Reason, e.Resumed)
						}
						continue
					}
					if e.Partial || e.End >= task.End {
						continue
					}
					r := e.Resumed
					w, ok := tl.NetWakeAt(e.Goroutine, r.Start)
					if r.Thread == 0 || r.Start < e.End || (r.End != 0 && r.End < r.Start) || !ok || w.Woken != e.End || w.Running != r.Start {
						t.Errorf("task %d: network block [%d, %d] of goroutine %d resumed %+v; its wakeup %+v (%v)",
							task.ID, e.Start, e.End, e.Goroutine, r, w, ok)
					}
					if iv, ok := tl.RunningOn(r.Thread, r.Start); !ok || iv.Goroutine != e.Goroutine {
						t.Errorf("task %d: goroutine %d resumed on thread %d at %d, where the trace runs %+v", task.ID, e.Goroutine, r.Thread, r.Start, iv)
					}
					n++
				}
			}
			if n == 0 {
				t.Fatal("no network block in the tasks")
			}
			t.Logf("%d network blocks resumed", n)
		})
	}
}
