package tracesrc

import (
	"golang.org/x/exp/trace"

	"github.com/gostitch/gostitch/receiver/internal/exectrace"
)

// Carriers: what the eBPF join needs to tell which requests a connection carried. A goroutine
// that began a task, or created a goroutine that began one, is a carrier: an HTTP/1.x server
// connection's goroutine begins its requests' tasks itself, and the reader goroutine of an
// HTTP/2 or gRPC server transport creates one goroutine per stream, which begins the request's
// task. With Options.Threads, Timeline.Creators names the creator of each goroutine that began
// a task (when the trace saw the creation), and with TaskThreadIntervals Timeline.Threads keeps
// a carrier's run intervals outside tasks too (Task trace.NoTask) from when it became one, so
// that a socket event on its thread names it, and NetWakes the netpoller wakeups of a carrier that
// began a task (for the legs of a read that leads to one, below). An HTTP/1.x
// connection's goroutine reads a request's headers before it begins the request's task:
// Timeline.Leads says, for a task begun by a goroutine working for no task, when that goroutine
// last entered a syscall and last stopped executing before it, so that a read followed by
// neither is known to have led to the task. Memory: one entry per task goroutine created in the
// trace and per task begun outside tasks, and the intervals of carriers between their tasks.

// noteCreator records, at goroutine g's creation by event ev, the goroutine that created it.
func noteCreator(g *gState, ev *exectrace.Event) {
	g.creator = ev.Goroutine
}

// Lead is what a goroutine did before it began a task while working for no task.
type Lead struct {
	// Syscall is when it last entered a syscall, Stop when it last stopped executing (blocked
	// or was preempted); 0 when it had not in the trace.
	Syscall, Stop trace.Time
}

// noteCarrier marks goroutine g, which begins task ts, and its creator as carriers, and notes
// the lead to ts when g works for no task.
func (s *state) noteCarrier(g *gState, ts *taskState) {
	if s.tl.Creators == nil {
		return
	}
	if g.cur == nil {
		s.tl.Leads[ts.t.ID] = Lead{Syscall: g.lastSyscall, Stop: g.lastStop}
	}
	g.carrier, g.began = true, true
	if g.creator == trace.NoGoroutine {
		return
	}
	s.tl.Creators[g.id] = g.creator
	if c := s.gs.Get(g.creator); c != nil {
		c.carrier = true
	}
}
