package stitch

import (
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/gostitch/gostitch/receiver/internal/metadata"
	"github.com/gostitch/gostitch/receiver/internal/target"
)

// spanBatch collects execution-trace spans and hands them on in batches of about size spans,
// keeping each task's spans in one batch. A batch emit refuses is counted and the next batches
// are still handed on: one refusal does not lose the rest of the trace.
type spanBatch struct {
	id    target.Identity
	size  int
	emit  func(ptrace.Traces) error
	td    ptrace.Traces
	spans ptrace.SpanSlice
	n     int
	// emitted and refused count the spans emit took and refused; err is emit's first error.
	emitted, refused int
	err              error
}

// span appends a new span to the current batch.
func (b *spanBatch) span() ptrace.Span {
	b.begin()
	b.n++
	return b.spans.AppendEmpty()
}

// take moves spans (whole tasks' spans) into the batches: at once when they fit in the current
// batch, else one by one, filling batches to size. spans is left empty.
func (b *spanBatch) take(spans ptrace.SpanSlice) {
	if n := spans.Len(); n > 0 && b.n+n <= b.size {
		b.begin()
		spans.MoveAndAppendTo(b.spans)
		b.n += n
		return
	}
	for i := range spans.Len() {
		b.boundary()
		spans.At(i).MoveTo(b.span())
	}
	spans.RemoveIf(func(ptrace.Span) bool { return true })
}

// begin starts a batch when none is under way.
func (b *spanBatch) begin() {
	if b.n > 0 {
		return
	}
	b.td = ptrace.NewTraces()
	rs := b.td.ResourceSpans().AppendEmpty()
	b.id.FillResource(rs.Resource())
	ss := rs.ScopeSpans().AppendEmpty()
	target.FillScope(ss.Scope(), metadata.AttributeSourceGoTrace)
	b.spans = ss.Spans()
}

// boundary marks a point between tasks: a full batch is handed on.
func (b *spanBatch) boundary() {
	if b.n >= b.size {
		b.flush()
	}
}

// flush hands on the current batch, if any.
func (b *spanBatch) flush() {
	if b.n == 0 {
		return
	}
	if err := b.emit(b.td); err != nil {
		b.refused += b.n
		if b.err == nil {
			b.err = err
		}
	} else {
		b.emitted += b.n
	}
	b.n = 0
	b.td = ptrace.Traces{}
}
