package tracesrc

import (
	"strings"

	"golang.org/x/exp/trace"

	"github.com/gostitch/gostitch/receiver/internal/exectrace"
)

// rangeEvent tracks GC cycles, GC assists and stop-the-world phases.
func (s *state) rangeEvent(ev *exectrace.Event) {
	now, begin := ev.Time, ev.Kind != exectrace.RangeEnd
	switch ev.Range {
	case exectrace.GCMark:
		if begin {
			s.gcs++
		}
	case exectrace.GCAssist:
		if g := s.gs.Get(ev.Subject); g != nil && g.assist != begin {
			old := g.class()
			g.assist = begin
			s.reclass(g, old, now)
		}
	case exectrace.STW:
		s.setSTW(begin, ev.Name, now)
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
