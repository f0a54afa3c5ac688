package stitch

import (
	"strings"

	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/gostitch/gostitch/receiver/internal/metadata"
	"github.com/gostitch/gostitch/receiver/internal/tracesrc"
)

// Runtime span names: each execution trace gets one runtime trace whose root spans the window
// and whose children are the stop-the-world phases.
const (
	runtimeSpanName = "go runtime"
	gcSTWSpanName   = "GC stop-the-world"
	stwSpanName     = "stop-the-world"
)

// stwName names a stop-the-world span or event by whether the GC caused it.
func stwName(s tracesrc.STW) string {
	if strings.HasPrefix(s.Reason, "GC ") {
		return gcSTWSpanName
	}
	return stwSpanName
}

// stwSpan builds the span of a stop-the-world phase in the window's runtime trace and
// observes a GC pause.
func (conv *conversion) stwSpan(s tracesrc.STW) {
	c := conv.c
	spanID := c.stwSpanID(s)
	if s.GC > 0 {
		conv.metrics.gcPause.observe(s.End.Sub(s.Start), s.End, spanRef{trace: c.runtimeTraceID(conv.tl.Start), span: spanID})
	}
	conv.out.stws++
	conv.out.batch.boundary()
	sp := conv.out.batch.span()
	sp.SetTraceID(c.runtimeTraceID(conv.tl.Start))
	sp.SetSpanID(spanID)
	sp.SetParentSpanID(c.runtimeSpanID(conv.tl.Start))
	sp.SetName(stwName(s))
	sp.SetKind(ptrace.SpanKindInternal)
	conv.out.setTimes(sp, s.Start, s.End)
	attrs := sp.Attributes()
	attrs.EnsureCapacity(conv.out.commonAttrs(0) + 1 + b2i(s.GC > 0))
	conv.out.common(attrs, 0)
	attrs.PutStr(metadata.AttributeSTWReason, s.Reason)
	if s.GC > 0 {
		attrs.PutInt(metadata.AttributeGCID, int64(s.GC))
	}
}

// stwEvents marks the stop-the-world phases a task overlapped: an event on the task span and
// a link to the phase's span in the runtime trace.
func (conv *conversion) stwEvents(sp ptrace.Span, stws []tracesrc.STW) {
	if len(stws) == 0 {
		return
	}
	runtimeTrace := conv.c.runtimeTraceID(conv.tl.Start)
	sp.Events().EnsureCapacity(sp.Events().Len() + len(stws))
	sp.Links().EnsureCapacity(sp.Links().Len() + len(stws))
	for _, s := range stws {
		ev := sp.Events().AppendEmpty()
		ev.SetName(stwName(s))
		ev.SetTimestamp(conv.out.ts(s.Start))
		ev.Attributes().EnsureCapacity(2 + b2i(s.GC > 0))
		ev.Attributes().PutStr(metadata.AttributeSTWReason, s.Reason)
		ev.Attributes().PutInt(metadata.AttributeTimeSTW, int64(s.End.Sub(s.Start)))
		if s.GC > 0 {
			ev.Attributes().PutInt(metadata.AttributeGCID, int64(s.GC))
		}
		link := sp.Links().AppendEmpty()
		link.SetTraceID(runtimeTrace)
		link.SetSpanID(conv.c.stwSpanID(s))
	}
}

// runtimeRoot builds the root span of the window's runtime trace, when it has children.
func (conv *conversion) runtimeRoot() {
	if conv.out.stws == 0 {
		return
	}
	c := conv.c
	sp := conv.out.batch.span()
	sp.SetTraceID(c.runtimeTraceID(conv.tl.Start))
	sp.SetSpanID(c.runtimeSpanID(conv.tl.Start))
	sp.SetName(runtimeSpanName)
	sp.SetKind(ptrace.SpanKindInternal)
	conv.out.setTimes(sp, conv.tl.Start, conv.tl.End)
	conv.out.common(sp.Attributes(), 0)
}
