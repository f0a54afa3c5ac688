package stitch

import (
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"golang.org/x/exp/trace"

	"github.com/gostitch/gostitch/internal/linkkeys"
	"github.com/gostitch/gostitch/receiver/internal/otelid"
	"github.com/gostitch/gostitch/receiver/internal/tracesrc"
)

// Id namespaces of the execution-trace spans.
const (
	nsTaskTrace    = "go.trace/task-trace"
	nsTaskSpan     = "go.trace/task"
	nsRegionSpan   = "go.trace/region"
	nsEpisodeSpan  = "go.trace/episode"
	nsRuntimeTrace = "go.trace/runtime-trace"
	nsRuntimeSpan  = "go.trace/runtime"
	nsSTWSpan      = "go.trace/stw"
)

// taskIDs decides the trace of a task span and its parent span (docs/design.md, "Trace ids"
// rules 1–4 and A). A task that logged otel.trace_id / traceparent (and otel.span_id) is in that
// trace, under that span: the application's own span. A task the OTel SDK began for an app
// span that reached the collector is in that span's trace, under it (see appSpan). A task
// that logged nothing is in its parent task's trace, under the parent's span (or the region it began in). A root task that logged nothing gets a
// trace derived from the process, the task id and its start, and no parent. A task that began
// in the previous trace keeps what was decided for it there.
//
// Not only root tasks may log ids: the OTel SDK begins a task for every span it starts, so the
// application's task is the child of the SDK's.
func (c *TraceConverter) taskIDs(t *tracesrc.Task) (pcommon.TraceID, pcommon.SpanID) {
	e := c.taskEntry(t)
	return e.trace, e.parent
}

// taskEntry returns the ids of task t: remembered on the id path, or derived, and remembered
// once t was handed over (when they are final: makesSpan holds for t and its ancestors).
func (c *TraceConverter) taskEntry(t *tracesrc.Task) taskIDEntry {
	if e := c.idPath.find(t); e != nil {
		return *e
	}
	e := taskIDEntry{t: t}
	e.trace, e.parent = c.deriveTaskIDs(t)
	e.span = e.parent
	if makesSpan(t) {
		e.span = taskKey(c.hash(nsTaskSpan), t).SpanID()
	}
	if t.Mark&markDecided != 0 {
		c.idPath.push(e)
	}
	return e
}

// deriveTaskIDs decides the ids taskIDs returns.
func (c *TraceConverter) deriveTaskIDs(t *tracesrc.Task) (pcommon.TraceID, pcommon.SpanID) {
	if tid, sid, ok := loggedIDs(t.Logs); ok {
		return tid, sid
	}
	if e, ok := c.carry[t.ID]; ok && t.Continued && (e.own || t.Parent == nil) {
		return e.traceID, e.parentSpan
	}
	if s, ok := c.appSpan(t); ok {
		return s.TraceID, s.SpanID
	}
	if t.Parent != nil {
		tid, _ := c.taskIDs(t.Parent)
		return tid, c.parentSpanID(t.Parent, t.ParentRegion)
	}
	return c.hash(nsTaskTrace).U64(uint64(t.ID)).U64(uint64(t.Began)).TraceID(), pcommon.SpanID{}
}

// ownIDs reports whether a task's trace and parent come from itself rather than its parent task.
func (c *TraceConverter) ownIDs(t *tracesrc.Task) bool {
	if _, _, ok := loggedIDs(t.Logs); ok || t.Parent == nil {
		return true
	}
	if e, ok := c.carry[t.ID]; ok && t.Continued {
		return e.own
	}
	_, ok := c.appSpan(t)
	return ok
}

// loggedIDs finds the first valid trace id and span id logged under the otel keys; a
// traceparent supplies both, an otel.span_id overrides its span id.
func loggedIDs(logs []tracesrc.Log) (pcommon.TraceID, pcommon.SpanID, bool) {
	var tid pcommon.TraceID
	var sid, tpSpan pcommon.SpanID
	for _, l := range logs {
		switch l.Category {
		case linkkeys.TraceID:
			if tid.IsEmpty() {
				tid, _ = otelid.ParseTraceID(l.Message)
			}
		case linkkeys.SpanID:
			if sid.IsEmpty() {
				sid, _ = otelid.ParseSpanID(l.Message)
			}
		case linkkeys.Traceparent:
			if t, s, ok := otelid.ParseTraceparent(l.Message); ok && tid.IsEmpty() {
				tid, tpSpan = t, s
			}
		}
	}
	if sid.IsEmpty() {
		sid = tpSpan
	}
	return tid, sid, !tid.IsEmpty()
}

// hash starts an id derivation for this converter's process. It reuses one buffer: each
// derivation must be finished (traceID or spanID) before the next starts.
func (c *TraceConverter) hash(namespace string) *otelid.Hash {
	return c.ids.Reset(namespace).Str(c.id.Name).Str(c.id.Host).U64(uint64(c.id.PID))
}

// taskKey appends what identifies one task span: a task seen in two traces gets one span per
// trace, told apart by its start within the trace.
func taskKey(h *otelid.Hash, t *tracesrc.Task) *otelid.Hash {
	return h.U64(uint64(t.ID)).U64(uint64(t.Began)).U64(uint64(t.Start))
}

func (c *TraceConverter) regionSpanID(t *tracesrc.Task, region int) pcommon.SpanID {
	return taskKey(c.hash(nsRegionSpan), t).U64(uint64(region)).SpanID()
}

func (c *TraceConverter) episodeSpanID(t *tracesrc.Task, episode int) pcommon.SpanID {
	return taskKey(c.hash(nsEpisodeSpan), t).U64(uint64(episode)).SpanID()
}

// parentSpanID is the span a task's child span (region, episode or task) hangs from: for a
// task that has no span (see makesSpan), its own parent.
func (c *TraceConverter) parentSpanID(t *tracesrc.Task, region int) pcommon.SpanID {
	if region >= 0 && makesSpan(t) {
		return c.regionSpanID(t, region)
	}
	return c.taskEntry(t).span
}

// taskIDPath remembers the ids of the tasks on the path from a root task to the task handed
// over last. Tasks are handed over before their descendants, so a task's parent is mostly
// there, and the ids of a task's ancestors (each a SHA-256) are not derived again for each of
// its descendants, its regions' tasks and its waits' releases.
type taskIDPath []taskIDEntry

// taskIDEntry holds a task's trace, the parent of its span, and the span its child spans hang
// from outside its regions: its own, or its parent when it makes none.
type taskIDEntry struct {
	t            *tracesrc.Task
	trace        pcommon.TraceID
	parent, span pcommon.SpanID
}

// find returns the entry of t, nil when t is not on the path.
func (p taskIDPath) find(t *tracesrc.Task) *taskIDEntry {
	for i := len(p) - 1; i >= 0; i-- {
		if p[i].t == t {
			return &p[i]
		}
	}
	return nil
}

// push puts e on the path after its task's parent, in place of what followed the parent; the
// path restarts at e when its parent is not on it.
func (p *taskIDPath) push(e taskIDEntry) {
	n := 0
	for i := len(*p) - 1; i >= 0; i-- {
		if (*p)[i].t == e.t.Parent {
			n = i + 1
			break
		}
	}
	*p = append((*p)[:n], e)
}

// wrapperSlack bounds the time between a wrapper task's start and its child's.
const wrapperSlack = time.Millisecond

// wrapper reports whether task t only wraps one child task of its own type that t's goroutine
// began at once: the task the OTel Go SDK begins for every span it starts (named like the span),
// around the app's own task of that name. Its span would repeat the child's, so it makes none;
// what would hang from it hangs from its parent instead.
func wrapper(t *tracesrc.Task) bool {
	if len(t.Children) != 1 || len(t.Regions) != 0 || t.Type == "" {
		return false
	}
	ch := t.Children[0]
	return ch.Type == t.Type && ch.Goroutine == t.Goroutine && ch.Start >= t.Start &&
		time.Duration(ch.Start-t.Start) <= wrapperSlack
}

// runtimeTraceID is the trace of a window's runtime spans (stop-the-world phases).
func (c *TraceConverter) runtimeTraceID(start trace.Time) pcommon.TraceID {
	return c.hash(nsRuntimeTrace).U64(uint64(start)).TraceID()
}

func (c *TraceConverter) runtimeSpanID(start trace.Time) pcommon.SpanID {
	return c.hash(nsRuntimeSpan).U64(uint64(start)).SpanID()
}

func (c *TraceConverter) stwSpanID(s tracesrc.STW) pcommon.SpanID {
	return c.hash(nsSTWSpan).U64(uint64(s.Start)).SpanID()
}
