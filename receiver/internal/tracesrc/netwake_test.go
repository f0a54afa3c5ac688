package tracesrc

import (
	"bytes"
	"errors"
	"io"
	"slices"
	"testing"
	"unsafe"

	"golang.org/x/exp/trace"
)

// TestReadNetWakes checks Timeline.NetWakes against a bare read of real traces: every netpoller
// wakeup (network block → runnable), its next run and its next block, and reports their memory
// next to the thread intervals'.
func TestReadNetWakes(t *testing.T) {
	for _, name := range []string{"blocksync.trace", "syncnode.trace"} {
		t.Run(name, func(t *testing.T) {
			data := readFixture(t, name)
			want := bareNetWakes(t, data)
			_, tl, err := readAll(t, data, Options{Threads: AllThreadIntervals})
			if err != nil {
				t.Fatal(err)
			}
			n := 0
			for g, ws := range want {
				if !slices.Equal(tl.NetWakes[g], ws) {
					t.Errorf("goroutine %d: NetWakes %v, want %v", g, tl.NetWakes[g], ws)
				}
				n += len(ws)
				for _, w := range ws {
					if got, ok := tl.NetWakeAt(g, w.Running); !ok || got != w {
						t.Errorf("goroutine %d: NetWakeAt(%d) = %v, %v; want %v", g, w.Running, got, ok, w)
					}
					if w.Until != 0 {
						if _, ok := tl.NetWakeAt(g, w.Until+1); ok && w.Until+1 < nextWoken(ws, w) {
							t.Errorf("goroutine %d: NetWakeAt after its block at %d still finds %v", g, w.Until, w)
						}
					}
				}
			}
			if n == 0 {
				t.Fatal("no netpoller wakeups in the trace")
			}
			_, tasks, err := readAll(t, data, Options{Threads: TaskThreadIntervals})
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%s (%d bytes): all goroutines %d wakeups = %d B, %d thread intervals = %d B; task goroutines %d wakeups = %d B, %d intervals = %d B",
				name, len(data), n, n*int(unsafe.Sizeof(NetWake{})), count(tl.Threads), count(tl.Threads)*int(unsafe.Sizeof(RunInterval{})),
				count(tasks.NetWakes), count(tasks.NetWakes)*int(unsafe.Sizeof(NetWake{})),
				count(tasks.Threads), count(tasks.Threads)*int(unsafe.Sizeof(RunInterval{})))
		})
	}
}

// nextWoken is the wakeup time after w in ws, or the end of time.
func nextWoken(ws []NetWake, w NetWake) trace.Time {
	for _, x := range ws {
		if x.Woken > w.Woken {
			return x.Woken
		}
	}
	return trace.Time(1<<63 - 1)
}

func count[K comparable, V any](m map[K][]V) int {
	n := 0
	for _, v := range m {
		n += len(v)
	}
	return n
}

// bareNetWakes lists the netpoller wakeups of a trace straight from x/exp/trace.
func bareNetWakes(t *testing.T, data []byte) map[trace.GoID][]NetWake {
	r, err := trace.NewReader(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	out := map[trace.GoID][]NetWake{}
	woken := map[trace.GoID]trace.Time{}
	open := map[trace.GoID]bool{}
	for {
		ev, err := r.ReadEvent()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		if ev.Kind() != trace.EventStateTransition {
			continue
		}
		st := ev.StateTransition()
		if st.Resource.Kind != trace.ResourceGoroutine {
			continue
		}
		g := st.Resource.Goroutine()
		from, to := st.Goroutine()
		switch {
		case to == trace.GoWaiting:
			if from != to {
				if open[g] {
					ws := out[g]
					ws[len(ws)-1].Until = ev.Time()
					open[g] = false
				}
				delete(woken, g)
				if st.Reason == Network {
					woken[g] = -1 // parked in the netpoller
				}
			}
		case from == trace.GoWaiting && to == trace.GoRunnable && woken[g] == -1:
			woken[g] = ev.Time()
		case to.Executing() && !from.Executing() && woken[g] > 0:
			out[g] = append(out[g], NetWake{Woken: woken[g], Running: ev.Time()})
			delete(woken, g)
			open[g] = true
		case from == trace.GoWaiting:
			delete(woken, g)
		}
	}
}
