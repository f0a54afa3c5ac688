package tracesrc

import (
	"golang.org/x/exp/trace"

	"github.com/gostitch/gostitch/receiver/internal/exectrace"
)

// endRun ends the goroutine's current run interval on its thread at now, keeping it in
// Timeline.Threads when Options.Threads asks for it.
func (s *state) endRun(g *gState, now trace.Time) {
	if s.tl.Threads == nil || now <= g.runStart {
		return
	}
	task := trace.NoTask
	if g.cur != nil {
		task = g.cur.t.ID
	} else if s.opts.Threads == TaskThreadIntervals && !g.carrier {
		return
	}
	s.tl.Threads[g.m] = append(s.tl.Threads[g.m], RunInterval{Start: g.runStart, End: now, Goroutine: g.id, Task: task})
}

// noteThread remembers the time of the latest event of ev's thread, while thread intervals are
// kept (runEnd).
func (s *state) noteThread(ev *exectrace.Event) {
	if s.tl.Threads == nil || ev.Thread == trace.NoThread {
		return
	}
	if last := s.lastOnThread.Get(ev.Thread); last != nil {
		*last = ev.Time
		return
	}
	last := ev.Time
	s.lastOnThread.Put(ev.Thread, &last)
}

// runEnd is where the run interval of goroutine g, still executing when the trace ends at now,
// ends: at its thread's last event. The tracer stops thread by thread, so what ran on a thread
// after its last event is not in the trace, and extending g's run to the trace's end would give
// it the work of goroutines the trace never saw there.
// A run that began at the thread's last event keeps its first nanosecond.
func (s *state) runEnd(g *gState, now trace.Time) trace.Time {
	last := s.lastOnThread.Get(g.m)
	if last == nil || *last >= now {
		return now
	}
	return max(*last, min(g.runStart+1, now))
}
