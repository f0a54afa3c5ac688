package stitch

import (
	"cmp"
	"slices"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"golang.org/x/exp/trace"

	"github.com/gostitch/gostitch/receiver/internal/metadata"
	"github.com/gostitch/gostitch/receiver/internal/profdict"
	"github.com/gostitch/gostitch/receiver/internal/tracesrc"
)

// Work outside tasks (docs/design.md, "Trace ids" rule 8). A goroutine that did something
// worth a span while working for no task — a region opened with a context that carries no task,
// a log, a block or syscall of at least TraceOptions.MinSpanDuration — gets one trace per
// execution trace: a root span named "goroutine" over its work, with its logs as events, its
// regions as children (nested as they were), and its episodes as "block <reason>" and "syscall"
// spans with their stacks under the innermost region they began in, and gostitch.cpu.time from
// the CPU samples linked to them. CPU samples outside tasks go into the execution trace's
// profile with their goroutine, linked to the region span they fell in or to the goroutine's
// span once it has one, or to nothing. tracesrc bounds the spans by TraceOptions.MaxGoroutineSpans and
// counts what it cut (Stats.GoroutineCut).

// Id namespaces of the spans of work outside tasks.
const (
	nsGoroutineTrace   = "go.trace/goroutine-trace"
	nsGoroutineSpan    = "go.trace/goroutine"
	nsGoroutineRegion  = "go.trace/goroutine-region"
	nsGoroutineEpisode = "go.trace/goroutine-episode"
)

// goroutineSpanName names the root span of a goroutine's work outside tasks; the goroutine is
// in gostitch.goroutine.id (a span name stays low in cardinality).
const goroutineSpanName = "goroutine"

// goroutineWork is what the root span of a goroutine's work outside tasks needs: its bounds,
// logs and truncation, the number of its episodes (which numbers their spans) and of the CPU
// samples linked to its spans.
type goroutineWork struct {
	id         trace.GoID
	start, end trace.Time
	logs       []tracesrc.Log
	episodes   int
	samples    int
	// cutStart and cutEnd are set when some of its work began before the trace or outlasted it.
	cutStart, cutEnd bool
	// traceID is the trace of its work, spanID the id of its root span, derived once.
	traceID pcommon.TraceID
	spanID  pcommon.SpanID
}

// goroutine returns the work of goroutine g, widened to [start, end].
func (conv *conversion) goroutine(g trace.GoID, start, end trace.Time) *goroutineWork {
	w := conv.goroutines[g]
	if w == nil {
		if conv.goroutines == nil {
			conv.goroutines = make(map[trace.GoID]*goroutineWork)
		}
		c, at := conv.c, conv.tl.Start
		w = &goroutineWork{id: g, start: start, end: end, traceID: c.goroutineTraceID(g, at), spanID: c.goroutineSpanID(g, at)}
		conv.goroutines[g] = w
	}
	w.start, w.end = min(w.start, start), max(w.end, end)
	return w
}

// GoroutineRegion implements tracesrc.GoroutineHandler.
func (conv *conversion) GoroutineRegion(r tracesrc.GoroutineRegion) {
	w := conv.goroutine(r.Goroutine, r.Start, r.End)
	w.cutStart, w.cutEnd = w.cutStart || r.Continued, w.cutEnd || !r.Ended
	c := conv.c
	conv.out.batch.boundary()
	sp := conv.out.batch.span()
	sp.SetTraceID(w.traceID)
	sp.SetSpanID(c.goroutineRegionSpanID(r.Goroutine, conv.tl.Start, r.Index))
	sp.SetParentSpanID(w.parentSpanID(c, conv.tl.Start, r.Parent))
	conv.out.fillRegion(sp, &r.Region)
}

// GoroutineLog implements tracesrc.GoroutineHandler.
func (conv *conversion) GoroutineLog(l tracesrc.Log) {
	w := conv.goroutine(l.Goroutine, l.Time, l.Time)
	w.logs = append(w.logs, l)
}

// GoroutineEpisode implements tracesrc.GoroutineHandler.
func (conv *conversion) GoroutineEpisode(e tracesrc.Episode) {
	sp := conv.goroutineEpisodeSpan(e.Goroutine, e.Start, e.End, e.Partial, e.Region)
	conv.out.fillEpisode(sp, &e, releaseAttrs(&e.Release))
	conv.releaseOf(sp, &e.Release)
}

// goroutineEpisodeSpan starts the span of the next episode-like item (a wait, a syscall, a TLS
// handshake) of goroutine g outside tasks, from start to end (partial: cut by the trace's
// bounds) in its region (-1 for none), with its ids; the caller fills it in.
func (conv *conversion) goroutineEpisodeSpan(g trace.GoID, start, end trace.Time, partial bool, region int) ptrace.Span {
	w := conv.goroutine(g, start, end)
	w.cutStart = w.cutStart || partial && start == conv.tl.Start
	w.cutEnd = w.cutEnd || partial && end == conv.tl.End
	c := conv.c
	conv.out.batch.boundary()
	sp := conv.out.batch.span()
	sp.SetTraceID(w.traceID)
	sp.SetSpanID(c.goroutineEpisodeSpanID(g, conv.tl.Start, w.episodes))
	sp.SetParentSpanID(w.parentSpanID(c, conv.tl.Start, region))
	w.episodes++
	return sp
}

// GoroutineSample implements tracesrc.GoroutineHandler: a sample of a goroutine that has a span
// links to the span of the region it fell in, else to the goroutine's span, which then covers it.
func (conv *conversion) GoroutineSample(s tracesrc.CPUSample, spanned bool) {
	var link profdict.Link
	if spanned {
		w := conv.goroutine(s.Goroutine, s.Time, s.Time)
		link = profdict.Link{Trace: w.traceID, Span: w.parentSpanID(conv.c, conv.tl.Start, s.Region)}
		w.samples++
	}
	conv.cpu.addOutside(&s, link, conv.tl)
}

// goroutineRoots builds the root span of each goroutine's work outside tasks, by goroutine id.
func (conv *conversion) goroutineRoots() {
	ws := make([]*goroutineWork, 0, len(conv.goroutines))
	for _, w := range conv.goroutines {
		ws = append(ws, w)
	}
	slices.SortFunc(ws, func(a, b *goroutineWork) int { return cmp.Compare(a.id, b.id) })
	c := conv.c
	for _, w := range ws {
		conv.out.batch.boundary()
		sp := conv.out.batch.span()
		sp.SetTraceID(w.traceID)
		sp.SetSpanID(w.spanID)
		sp.SetName(goroutineSpanName)
		sp.SetKind(ptrace.SpanKindInternal)
		conv.out.setTimes(sp, w.start, w.end)
		attrs := sp.Attributes()
		attrs.EnsureCapacity(conv.out.commonAttrs(w.id) + truncationAttrs(w.cutStart, w.cutEnd) + b2i(w.samples > 0))
		conv.out.common(attrs, w.id)
		conv.out.truncation(attrs, w.cutStart, w.cutEnd)
		if w.samples > 0 {
			attrs.PutInt(metadata.AttributeCPUTime, int64(w.samples)*int64(c.opts.CPUSamplePeriod))
		}
		conv.out.logEvents(sp, w.logs)
	}
	conv.goroutines = nil
}

// goroutineTraceID is the trace of goroutine g's work outside tasks in the trace that began at start.
func (c *TraceConverter) goroutineTraceID(g trace.GoID, start trace.Time) pcommon.TraceID {
	return c.hash(nsGoroutineTrace).U64(uint64(g)).U64(uint64(start)).TraceID()
}

func (c *TraceConverter) goroutineSpanID(g trace.GoID, start trace.Time) pcommon.SpanID {
	return c.hash(nsGoroutineSpan).U64(uint64(g)).U64(uint64(start)).SpanID()
}

func (c *TraceConverter) goroutineRegionSpanID(g trace.GoID, start trace.Time, region int) pcommon.SpanID {
	return c.hash(nsGoroutineRegion).U64(uint64(g)).U64(uint64(start)).U64(uint64(region)).SpanID()
}

func (c *TraceConverter) goroutineEpisodeSpanID(g trace.GoID, start trace.Time, episode int) pcommon.SpanID {
	return c.hash(nsGoroutineEpisode).U64(uint64(g)).U64(uint64(start)).U64(uint64(episode)).SpanID()
}

// parentSpanID is the parent of a span of w's work in the trace that began at start: its
// region's span, or for -1 w's root span.
func (w *goroutineWork) parentSpanID(c *TraceConverter, start trace.Time, region int) pcommon.SpanID {
	if region >= 0 {
		return c.goroutineRegionSpanID(w.id, start, region)
	}
	return w.spanID
}
