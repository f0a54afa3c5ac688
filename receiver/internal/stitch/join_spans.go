package stitch

import (
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/gostitch/gostitch/receiver/internal/ebpfsrc"
	"github.com/gostitch/gostitch/receiver/internal/metadata"
)

// spans makes the spans of c's events that belong to a task, as children of the task's span or
// region span in the task's trace, and returns c with the events left for its connection's
// trace: those of no task, and those that only shape the connection span (open, connect, close).
// A retransmit or reset of a task becomes an instant span named like its span event.
func (j *joined) spans(spans ptrace.SpanSlice, b *ebpfsrc.Batch, c *socketConn) *socketConn {
	var rest []ebpfsrc.Event
	var index []int
	for i := range c.events {
		e := &c.events[i]
		a, ok := j.of(c.index[i])
		if !ok || !j.addJoinedSpan(spans, b, c, e, a) {
			rest, index = append(rest, *e), append(index, c.index[i])
		}
	}
	if len(rest) == len(c.events) {
		return c
	}
	left := *c
	left.events, left.index = rest, index
	return &left
}

// addJoinedSpan adds the span of event e under attribution a; false for events that make none.
func (j *joined) addJoinedSpan(spans ptrace.SpanSlice, b *ebpfsrc.Batch, c *socketConn, e *ebpfsrc.Event, a attribution) bool {
	var name string
	switch e.Kind {
	case ebpfsrc.KindRetransmit:
		name = eventTCPRetransmit
	case ebpfsrc.KindResetReceived:
		name = eventTCPResetReceived
	case ebpfsrc.KindResetSent:
		name = eventTCPResetSent
	}
	var s ptrace.Span
	if name != "" {
		s = newSocketSpan(spans, b, c, e, name, e.Mono, a.task.traceID, a.parent)
		if e.Kind == ebpfsrc.KindResetSent {
			s.Attributes().PutInt(metadata.AttributeTCPResetReason, e.Value)
		}
	} else if sp, ok := addEventSpan(spans, b, c, e, a.task.traceID, a.parent); ok {
		s = sp
		if e.Kind == ebpfsrc.KindReadWait {
			j.x.readLegs(s.Attributes(), e)
		}
	} else {
		return false
	}
	s.Attributes().PutInt(metadata.AttributeTaskID, int64(a.task.id))
	if a.g != 0 {
		s.Attributes().PutInt(metadata.AttributeGoroutineID, int64(a.g))
	}
	return true
}
