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
// that a socket event on its thread names it. Memory: one entry per task goroutine created in
// the trace, and the intervals of carriers between their tasks.

// noteCreator records, at goroutine g's creation by event ev, the goroutine that created it.
func noteCreator(g *gState, ev *exectrace.Event) {
	g.creator = ev.Goroutine
}

// noteCarrier marks goroutine g, which begins a task, and its creator as carriers.
func (s *state) noteCarrier(g *gState) {
	if s.tl.Creators == nil {
		return
	}
	g.carrier = true
	if g.creator == trace.NoGoroutine {
		return
	}
	s.tl.Creators[g.id] = g.creator
	if c := s.gs.get(g.creator); c != nil {
		c.carrier = true
	}
}
