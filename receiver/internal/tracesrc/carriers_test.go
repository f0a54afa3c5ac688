package tracesrc

import (
	"bytes"
	"errors"
	"io"
	"testing"

	"golang.org/x/exp/trace"
)

// refCreators reads, with x/exp/trace, which goroutine created each goroutine the trace saw
// created, and which goroutines began a task.
func refCreators(t testing.TB, data []byte) (creators map[trace.GoID]trace.GoID, taskGs map[trace.GoID]bool) {
	t.Helper()
	r, err := trace.NewReader(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	creators, taskGs = map[trace.GoID]trace.GoID{}, map[trace.GoID]bool{}
	for {
		ev, err := r.ReadEvent()
		if errors.Is(err, io.EOF) {
			return creators, taskGs
		}
		if err != nil {
			t.Fatal(err)
		}
		switch ev.Kind() {
		case trace.EventTaskBegin:
			taskGs[ev.Goroutine()] = true
		case trace.EventStateTransition:
			st := ev.StateTransition()
			if st.Resource.Kind != trace.ResourceGoroutine {
				continue
			}
			if from, to := st.Goroutine(); from == trace.GoNotExist && to != trace.GoNotExist && ev.Goroutine() != trace.NoGoroutine {
				creators[st.Resource.Goroutine()] = ev.Goroutine()
			}
		}
	}
}

// carriersOf are the goroutines that began a task or created one that did.
func carriersOf(tl *Timeline, taskGs map[trace.GoID]bool) map[trace.GoID]bool {
	carriers := map[trace.GoID]bool{}
	for g := range taskGs {
		carriers[g] = true
	}
	for _, c := range tl.Creators {
		carriers[c] = true
	}
	return carriers
}

// TestCarriers checks Timeline.Creators against x/exp/trace and that task-only thread intervals
// outside tasks are those of carriers.
func TestCarriers(t *testing.T) {
	for _, name := range []string{"blocksync.trace", "syncnode.trace"} {
		t.Run(name, func(t *testing.T) {
			data := readFixture(t, name)
			creators, taskGs := refCreators(t, data)
			_, tl, err := readAll(t, data, Options{Threads: TaskThreadIntervals})
			if err != nil {
				t.Fatal(err)
			}
			want := 0
			for g := range taskGs {
				c, created := creators[g]
				if !created {
					continue
				}
				want++
				if got, ok := tl.Creators[g]; !ok || got != c {
					t.Errorf("goroutine %d, which began a task, was created by %d; Creators says %d, %v", g, c, got, ok)
				}
			}
			if want == 0 || len(tl.Creators) != want {
				t.Errorf("Creators holds %d goroutines, want the %d task goroutines created in the trace", len(tl.Creators), want)
			}
			carriers, outside := carriersOf(tl, taskGs), 0
			for _, ivs := range tl.Threads {
				for _, iv := range ivs {
					if iv.Task != trace.NoTask {
						continue
					}
					outside++
					if !carriers[iv.Goroutine] {
						t.Fatalf("interval outside tasks of goroutine %d, no carrier: %+v", iv.Goroutine, iv)
					}
				}
			}
			if outside == 0 {
				t.Error("no carrier intervals outside tasks")
			}
		})
	}
}

// refLeads reads, with x/exp/trace, for each task the goroutine that began it, when that
// goroutine last entered a syscall and last stopped executing before.
func refLeads(t testing.TB, data []byte) map[trace.TaskID]Lead {
	t.Helper()
	r, err := trace.NewReader(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	last := map[trace.GoID]Lead{}
	leads := map[trace.TaskID]Lead{}
	for {
		ev, err := r.ReadEvent()
		if errors.Is(err, io.EOF) {
			return leads
		}
		if err != nil {
			t.Fatal(err)
		}
		switch ev.Kind() {
		case trace.EventTaskBegin:
			leads[ev.Task().ID] = last[ev.Goroutine()]
		case trace.EventStateTransition:
			st := ev.StateTransition()
			if st.Resource.Kind != trace.ResourceGoroutine {
				continue
			}
			g, l := st.Resource.Goroutine(), last[st.Resource.Goroutine()]
			from, to := st.Goroutine()
			if to == trace.GoSyscall && from != trace.GoSyscall {
				l.Syscall = ev.Time()
			}
			if from.Executing() && !to.Executing() {
				l.Stop = ev.Time()
			}
			last[g] = l
		}
	}
}

// TestLeads checks Timeline.Leads against x/exp/trace: what each task's goroutine did last
// before beginning it outside any task.
func TestLeads(t *testing.T) {
	syscalls, stops := 0, 0
	for _, name := range []string{"blocksync.trace", "syncnode.trace"} {
		data := readFixture(t, name)
		want := refLeads(t, data)
		_, tl, err := readAll(t, data, Options{Threads: TaskThreadIntervals})
		if err != nil {
			t.Fatal(err)
		}
		for id, got := range tl.Leads {
			if w, ok := want[id]; !ok || got != w {
				t.Errorf("%s: task %d: lead %+v, want %+v (%v)", name, id, got, w, ok)
			}
			syscalls, stops = syscalls+min(int(got.Syscall), 1), stops+min(int(got.Stop), 1)
		}
	}
	if syscalls == 0 || stops == 0 {
		t.Errorf("leads after a syscall: %d, after a stop: %d; want some of each", syscalls, stops)
	}
}

// TestThreadIntervalsDisjoint: on every thread the kept intervals follow one another, none twice,
// and none goes past the thread's last event (x/exp/trace), also for goroutines still running
// when the trace ends.
func TestThreadIntervalsDisjoint(t *testing.T) {
	for _, name := range []string{"blocksync.trace", "syncnode.trace", "window1.trace", "annotations-stress.trace"} {
		data := readFixture(t, name)
		last := refLastOnThread(t, data)
		for _, mode := range []ThreadIntervals{TaskThreadIntervals, AllThreadIntervals} {
			_, tl, err := readAll(t, data, Options{Threads: mode})
			if err != nil {
				t.Fatal(err)
			}
			for m, ivs := range tl.Threads {
				for i := range ivs {
					if i > 0 && ivs[i].Start < ivs[i-1].End {
						t.Errorf("%s, mode %d: thread %d: interval %+v begins before %+v ends", name, mode, m, ivs[i], ivs[i-1])
					}
					if ivs[i].End > max(last[m], ivs[i].Start+1) {
						t.Errorf("%s, mode %d: thread %d: interval %+v ends after the thread's last event at %d", name, mode, m, ivs[i], last[m])
					}
				}
			}
		}
	}
}

// refLastOnThread reads, with x/exp/trace, the time of each thread's last event.
func refLastOnThread(t testing.TB, data []byte) map[trace.ThreadID]trace.Time {
	t.Helper()
	r, err := trace.NewReader(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	last := map[trace.ThreadID]trace.Time{}
	for {
		ev, err := r.ReadEvent()
		if errors.Is(err, io.EOF) {
			return last
		}
		if err != nil {
			t.Fatal(err)
		}
		if ev.Thread() != trace.NoThread {
			last[ev.Thread()] = ev.Time()
		}
	}
}
