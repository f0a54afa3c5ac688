package tracesrc

import (
	"golang.org/x/exp/trace"
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
