package stitch

import (
	"io"

	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/pprofile"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/gostitch/gostitch/internal/appspans"
	"github.com/gostitch/gostitch/receiver/internal/ebpfsrc"
	"github.com/gostitch/gostitch/receiver/internal/metadata"
	"github.com/gostitch/gostitch/receiver/internal/tracesrc"
)

// Window is what one collection window of a target brings to the join (docs/design.md, "One
// window").
type Window struct {
	// Trace is the window's execution trace, uncompressed; nil when the window has none.
	Trace io.Reader
	// Sockets holds the window's eBPF socket events and counters; nil when there are none.
	Sockets *ebpfsrc.Batch
	// AppSpans finds the app spans the SDK began the trace's tasks for ("Trace ids" rule A);
	// nil leaves every task where the other rules put it.
	AppSpans appspans.Matcher
}

// Emit hands on a window's spans as they are built; source is the gostitch.source of their
// scope (metadata.AttributeSourceGoTrace or metadata.AttributeSourceEbpf).
type Emit func(source string, td ptrace.Traces) error

// Result is what a window yields besides its spans. Its metrics and profiles are usable
// (empty) whatever the window held.
type Result struct {
	// Metrics holds the execution trace's histograms (delta temporality over its time range).
	Metrics pmetric.Metrics
	// SocketMetrics holds the TCP metrics of the window's sockets, by peer.
	SocketMetrics pmetric.Metrics
	// Profiles holds the execution trace's CPU samples, each linked to its span.
	Profiles pprofile.Profiles
	// EmitErr is the first error emit returned: the spans it refused are counted in Stats and
	// the conversion went on.
	EmitErr error
	// Stats counts what the window held and how it was joined.
	Stats Stats

	// tl and index are the trace's timeline and join index, kept for the tests of the parts.
	tl    *tracesrc.Timeline
	index *joinIndex
}

// Stats counts one window's conversion: the receiver reports them as self-telemetry.
type Stats struct {
	// Trace says an execution trace was read (at least its header); the trace's counts are
	// zero otherwise.
	Trace bool
	// Events counts the execution trace's events.
	Events int
	// Spans counts the execution trace's spans emit took; Refused those it refused.
	Spans, Refused int
	// CPUSamples counts the trace's CPU samples; TaskCPUSamples those taken in tasks (joined
	// by task, the rest by none).
	CPUSamples, TaskCPUSamples int
	// GoroutineCut counts the regions, logs and episodes outside tasks that made no span or
	// span event: over TraceOptions.MaxGoroutineSpans (or tracesrc.MaxGoroutineLogs).
	GoroutineCut int
	// AppSpans counts how the trace's tasks met the app's spans.
	AppSpans AppSpanStats
	// Sockets counts how the window's socket events were joined; all unjoined without a trace.
	Sockets JoinStats
}

// ConvertWindow converts one window of the target and joins its sources, in this order: it
// reads the execution trace, handing its spans to emit in batches as their tasks complete;
// attributes the socket events to the trace's tasks in one pass ("Join rules"); diagnoses the
// held task spans with the kernel's share of their reads and hands them on; then hands on the
// socket spans, joined ones in their tasks' traces, placed on the wall clock by the trace's
// clock so that they lie inside their parents. A truncated or corrupt trace yields everything
// read before the damage and the read error; its socket events are still joined to what was
// read. A batch emit refuses does not stop the conversion.
func (c *TraceConverter) ConvertWindow(w Window, emit Emit) (Result, error) {
	res := Result{Metrics: pmetric.NewMetrics(), SocketMetrics: pmetric.NewMetrics(), Profiles: pprofile.NewProfiles()}
	var conv *conversion
	var readErr error
	if w.Trace != nil {
		conv, readErr = c.readTrace(w.Trace, w.AppSpans, w.Sockets, emit)
	}
	var j *joined
	if conv != nil && conv.join != nil && w.Sockets != nil {
		j = conv.join.join(w.Sockets)
	}
	if conv != nil {
		c.finish(conv, w.Sockets, j, &res)
	}
	if w.Sockets != nil {
		td, md := socketsOut(placed(w.Sockets, res.tl), c.id, j, c.opts.Metrics)
		res.SocketMetrics = md
		res.Stats.Sockets = j.statsOr(len(w.Sockets.Events))
		if td.SpanCount() > 0 {
			if err := emit(metadata.AttributeSourceEbpf, td); err != nil && res.EmitErr == nil {
				res.EmitErr = err
			}
		}
	}
	return res, readErr
}

// placed is b placed on the wall clock by the offset of tl, the window's execution trace (b
// itself without one): one clock per window, so that a joined socket span lies inside its
// parent task span.
func placed(b *ebpfsrc.Batch, tl *tracesrc.Timeline) *ebpfsrc.Batch {
	if tl == nil {
		return b
	}
	p := *b
	p.MonoOffset = tl.MonoWallOffset()
	return &p
}
