package tracesrc

import (
	"strings"

	"golang.org/x/exp/trace"
)

// Range names in the execution trace.
const (
	rangeGCMark   = "GC concurrent mark phase"
	rangeGCAssist = "GC mark assist"
	rangeSTW      = "stop-the-world ("
)

// rangeEvent tracks GC cycles, GC assists and stop-the-world phases.
func (s *state) rangeEvent(ev *trace.Event) {
	r, now := ev.Range(), ev.Time()
	begin := ev.Kind() != trace.EventRangeEnd
	switch {
	case r.Name == rangeGCMark:
		if begin {
			s.gcs++
		}
	case r.Name == rangeGCAssist:
		if g := s.gs.get(r.Scope.Goroutine()); g != nil && g.assist != begin {
			old := g.class()
			g.assist = begin
			s.reclass(g, old, now)
		}
	case strings.HasPrefix(r.Name, rangeSTW):
		s.setSTW(begin, strings.TrimSuffix(strings.TrimPrefix(r.Name, rangeSTW), ")"), now)
	}
}

// setSTW starts or ends a stop-the-world phase; an ended one is added to the open tasks.
func (s *state) setSTW(on bool, reason string, now trace.Time) {
	if on == s.stw {
		return
	}
	for _, ts := range s.open {
		ts.flush(now, s.stw)
	}
	s.stw = on
	if on {
		s.stwStart, s.stwReason = now, reason
		return
	}
	stw := STW{Reason: s.stwReason, Start: s.stwStart, End: now}
	if strings.HasPrefix(stw.Reason, "GC ") {
		stw.GC = s.gcs
	}
	for _, ts := range s.open {
		ts.t.STWs = append(ts.t.STWs, stw)
	}
	s.h.STW(stw)
}
