package stitch

import (
	"strconv"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"golang.org/x/exp/trace"

	"github.com/gostitch/gostitch/internal/linkkeys"
	"github.com/gostitch/gostitch/receiver/internal/ebpfsrc"
	"github.com/gostitch/gostitch/receiver/internal/tracesrc"
)

// joinIndex is what the eBPF join (docs/design.md, "Join rules") needs of one execution trace: the
// timeline's per-thread goroutine intervals and, per task, its trace id and the span ids of the
// task and its regions, computed by the rules the task spans use, so joined spans hang from them.
// The trace's conversion builds it when TraceOptions.Threads keeps thread intervals.
type joinIndex struct {
	tl    *tracesrc.Timeline
	tasks map[trace.TaskID]*joinTask
	// owners holds, per socket cookie, the tasks that logged it.
	owners map[uint64][]*joinTask
	// began and spawned hold, per goroutine, the tasks it began and those begun by goroutines
	// it created; built on first use (goroutineTasks).
	began, spawned map[trace.GoID][]*joinTask
}

// joinTask is one task of the trace as the join sees it.
type joinTask struct {
	id         trace.TaskID
	traceID    pcommon.TraceID
	span       pcommon.SpanID
	start, end trace.Time
	regions    []joinRegion
	// g began the task; outer says no task with a span above it was begun by g, so the task is
	// the request's own (socket_carried.go). parent is the parent task, nil for a root or one
	// that began before the trace's tasks were indexed.
	g      trace.GoID
	outer  bool
	parent *joinTask
}

// joinRegion is one region of a task: the goroutine in it, its bounds and its span.
type joinRegion struct {
	g          trace.GoID
	start, end trace.Time
	span       pcommon.SpanID
}

func newJoinIndex() *joinIndex {
	return &joinIndex{tasks: make(map[trace.TaskID]*joinTask), owners: make(map[uint64][]*joinTask)}
}

// add records task t, in trace traceID, with the span ids of its task span and regions.
func (x *joinIndex) add(t *tracesrc.Task, traceID pcommon.TraceID, ids *taskSpanIDs) {
	jt := &joinTask{id: t.ID, traceID: traceID, span: ids.task, start: t.Start, end: t.End,
		regions: make([]joinRegion, len(t.Regions)), g: t.Goroutine, outer: true}
	if p := t.Parent; p != nil {
		jt.parent = x.tasks[p.ID] // a parent is added first
		// One without a span (a wrapper) leaves its child outer.
		if p.Goroutine == t.Goroutine && jt.parent != nil && !jt.parent.span.IsEmpty() {
			jt.outer = false
		}
	}
	for i, r := range t.Regions {
		jt.regions[i] = joinRegion{g: r.Goroutine, start: r.Start, end: r.End, span: ids.regions[i]}
	}
	x.tasks[t.ID] = jt
	for _, l := range t.Logs {
		if l.Category != linkkeys.SocketCookie {
			continue
		}
		if cookie, err := strconv.ParseUint(l.Message, 10, 64); err == nil && cookie != 0 {
			x.owners[cookie] = append(x.owners[cookie], jt)
		}
	}
}

// attribution is the task span or region span an eBPF event hangs from.
type attribution struct {
	task   *joinTask
	parent pcommon.SpanID
	// g is the goroutine the event ran on, 0 when the event was not joined by thread.
	g trace.GoID
}

// JoinStats counts how the eBPF events of one window were attributed (docs/design.md, "Join rules").
type JoinStats struct {
	// ByCookie, ByThread and ByLastUse count the events joined to a task by the cookie, thread
	// and last_use rules; Unjoined those left in their connection's trace (none).
	ByCookie, ByThread, ByLastUse, Unjoined int
}

// joined is the one join pass over a window's socket events (docs/design.md, "Join rules"):
// the attribution of each event, by its index in the batch, and the counts by rule. The
// diagnosis, the socket spans and the socket metrics all read it.
type joined struct {
	x *joinIndex
	// att holds each event's attribution; a nil task: the event joined no task.
	att   []attribution
	stats JoinStats
}

// join attributes b's events in time order, remembering per socket the attribution of its
// last use, for the events that run in softirq context.
func (x *joinIndex) join(b *ebpfsrc.Batch) *joined {
	j := &joined{x: x, att: make([]attribution, len(b.Events))}
	last := make(map[uint64]attribution)
	for i := range b.Events {
		if a, ok := j.attribute(&b.Events[i], last); ok {
			j.att[i] = a
		}
	}
	return j
}

// of returns the attribution of event i of the batch; false when it joined no task or j is nil.
func (j *joined) of(i int) (attribution, bool) {
	if j == nil {
		return attribution{}, false
	}
	a := j.att[i]
	return a, a.task != nil
}

// traceOf is the trace the span of event i went to: its task's when joined, else conn, its
// connection's.
func (j *joined) traceOf(i int, conn pcommon.TraceID) pcommon.TraceID {
	if a, ok := j.of(i); ok {
		return a.task.traceID
	}
	return conn
}

// statsOr returns the counts of the join, or, without one (nil j), all n events unjoined.
func (j *joined) statsOr(n int) JoinStats {
	if j == nil {
		return JoinStats{Unjoined: n}
	}
	return j.stats
}

// attribute finds the task of event e, in this order: (a) a task that logged the socket's
// cookie and was open at the event; for events in the thread's own context, (b) the task of the
// goroutine running on M = tid at the event's time; for softirq-context events (retransmit,
// reset received, or no thread of the target), (c) the task that last used the socket (by
// last). It reports false when none applies: the event stays in its connection's trace.
func (j *joined) attribute(e *ebpfsrc.Event, last map[uint64]attribution) (attribution, bool) {
	t := j.x.tl.FromMono(int64(e.Mono))
	a, ok := j.x.byCookie(e.Cookie, t, true)
	switch {
	case ok:
		j.stats.ByCookie++
	case softirq(e):
		if a, ok = last[e.Cookie]; !ok {
			a, ok = j.x.byCookie(e.Cookie, t, false)
		}
		j.count(ok, &j.stats.ByLastUse)
		return a, ok
	default:
		a, ok = j.x.byThread(e, t)
		j.count(ok, &j.stats.ByThread)
	}
	if ok {
		last[e.Cookie] = a
	}
	return a, ok
}

// count counts an event joined by the rule of n, or left unjoined.
func (j *joined) count(joined bool, n *int) {
	if joined {
		*n++
	} else {
		j.stats.Unjoined++
	}
}

// softirq says whether an event ran in softirq context, on a thread unrelated to the socket's user.
func softirq(e *ebpfsrc.Event) bool {
	return e.TID == 0 || e.Kind == ebpfsrc.KindRetransmit || e.Kind == ebpfsrc.KindResetReceived
}

// byCookie is the cookie rule: the latest-begun task that logged the cookie and began by t; open
// also asks that it had not ended by t.
func (x *joinIndex) byCookie(cookie uint64, t trace.Time, open bool) (attribution, bool) {
	var best *joinTask
	for _, jt := range x.owners[cookie] {
		if jt.start <= t && (!open || t <= jt.end) && (best == nil || jt.start > best.start) {
			best = jt
		}
	}
	if best == nil {
		return attribution{}, false
	}
	return attribution{task: best, parent: best.span}, true
}

// byThread is the thread rule: the task of the goroutine running on M = tid at t, under its innermost
// region open at t. A connect completes in softirq context: its thread is the one that called
// connect, when it began. A read outside tasks may lead to the task the goroutine begins next
// (byLead). A goroutine that also carried other requests at t (multiplexed) is no one
// request's.
func (x *joinIndex) byThread(e *ebpfsrc.Event, t trace.Time) (attribution, bool) {
	if e.Kind == ebpfsrc.KindEstablished && e.Since != 0 {
		t = x.tl.FromMono(int64(e.Since))
	}
	iv, ok := x.tl.RunningOn(trace.ThreadID(e.TID), t)
	if !ok {
		return attribution{}, false
	}
	if iv.Task == trace.NoTask {
		if e.Kind != ebpfsrc.KindReadWait {
			return attribution{}, false
		}
		jt, ok := x.byLead(iv.Goroutine, t)
		if !ok || x.multiplexed(iv.Goroutine, jt, t) {
			return attribution{}, false
		}
		return attribution{task: jt, parent: jt.span, g: iv.Goroutine}, true
	}
	jt := x.tasks[iv.Task]
	if jt == nil || x.multiplexed(iv.Goroutine, jt, t) {
		return attribution{}, false
	}
	a := attribution{task: jt, parent: jt.span, g: iv.Goroutine}
	// Regions are in the order they began: the last one open at t is the innermost.
	for i := range jt.regions {
		if r := &jt.regions[i]; r.g == iv.Goroutine && r.start <= t && t < r.end {
			a.parent = r.span
		}
	}
	return a, true
}
