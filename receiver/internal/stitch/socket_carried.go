package stitch

import (
	"cmp"
	"maps"
	"slices"

	"go.opentelemetry.io/collector/pdata/ptrace"
	"golang.org/x/exp/trace"

	"github.com/gostitch/gostitch/receiver/internal/ebpfsrc"
	"github.com/gostitch/gostitch/receiver/internal/metadata"
)

// Connections that carry requests (issue 13 item 4). A server connection's events that no task
// claims stay in the connection's own trace (docs/design.md, "Trace ids" rule 7); its "tcp
// connection" span links to the task spans of the requests it carried. HTTP/1.x reads a
// connection on one goroutine that also runs the handler: the reads in a request's task join
// it by the thread rule, and its tasks are the requests. An HTTP/2 or gRPC server transport reads
// for many streams on one goroutine and creates a goroutine per stream, which begins the
// request's task: a read there is no request's, and the requests are the tasks begun by the
// goroutines it created. So the requests a connection carried are the outermost tasks (with a
// span) begun by its reader goroutine or by a goroutine its reader created (the execution
// trace records each creation with its creator: tracesrc.Timeline.Creators). Its reader is the
// goroutine a read of the connection ran on (a read wait's thread and time); a goroutine that
// read more than one connection in the window is the reader of none.

// maxCarriedLinks bounds the links of one connection span; the rest are counted in its
// dropped links.
const maxCarriedLinks = 32

// carriedIndex holds, for one window, which connection each goroutine read and the request
// tasks each reader carried.
type carriedIndex struct {
	// readers holds per socket cookie the goroutines that read it and no other connection.
	readers map[uint64][]trace.GoID
	// tasks holds per reader goroutine the outermost tasks it or a goroutine it created began.
	tasks map[trace.GoID][]*joinTask
}

// newCarriedIndex indexes the readers of b's connections and their requests in x.
func newCarriedIndex(x *joinIndex, b *ebpfsrc.Batch) *carriedIndex {
	const several = 0 // no socket has cookie 0
	read := make(map[trace.GoID]uint64)
	for i := range b.Events {
		e := &b.Events[i]
		if e.Kind != ebpfsrc.KindReadWait || e.TID == 0 {
			continue
		}
		iv, ok := x.tl.RunningOn(trace.ThreadID(e.TID), x.tl.FromMono(int64(e.Mono)))
		if !ok {
			continue
		}
		if cookie, seen := read[iv.Goroutine]; !seen {
			read[iv.Goroutine] = e.Cookie
		} else if cookie != e.Cookie {
			read[iv.Goroutine] = several
		}
	}
	ci := &carriedIndex{readers: make(map[uint64][]trace.GoID), tasks: make(map[trace.GoID][]*joinTask)}
	for _, g := range slices.Sorted(maps.Keys(read)) {
		if cookie := read[g]; cookie != several {
			ci.readers[cookie] = append(ci.readers[cookie], g)
		}
	}
	x.goroutineTasks()
	for g, cookie := range read {
		if cookie == several {
			continue
		}
		for _, jt := range slices.Concat(x.began[g], x.spawned[g]) { // linkCarried sorts what it links
			if jt.outer && !jt.span.IsEmpty() {
				ci.tasks[g] = append(ci.tasks[g], jt)
			}
		}
	}
	return ci
}

// link links connection span sp of c to the task spans of the requests c carried in the
// window, the earliest first, at most maxCarriedLinks.
func (ci *carriedIndex) link(sp ptrace.Span, c *socketConn) {
	var tasks []*joinTask
	for _, g := range ci.readers[c.cookie] {
		tasks = append(tasks, ci.tasks[g]...)
	}
	if len(tasks) == 0 {
		return
	}
	slices.SortFunc(tasks, func(x, y *joinTask) int { return cmp.Or(cmp.Compare(x.start, y.start), cmp.Compare(x.id, y.id)) })
	tasks = slices.CompactFunc(tasks, func(x, y *joinTask) bool { return x.id == y.id })
	if n := len(tasks) - maxCarriedLinks; n > 0 {
		sp.SetDroppedLinksCount(uint32(n))
		tasks = tasks[:maxCarriedLinks]
	}
	for _, jt := range tasks {
		l := sp.Links().AppendEmpty()
		l.SetTraceID(jt.traceID)
		l.SetSpanID(jt.span)
		l.Attributes().PutStr(metadata.AttributeLinkRelation, metadata.AttributeLinkRelationCarriedRequest)
		l.Attributes().PutInt(metadata.AttributeTaskID, int64(jt.id))
	}
}

// multiplexed says whether goroutine g, working for task own at t, was then also carrying other
// requests: a task begun by a goroutine g created, open at t and not below own. A transport
// goroutine that begins a task of its own while it reads for other streams is such a one: what
// it reads at t may be any stream's, so the thread rule gives it to none. Tasks below own (a
// handler's fan-out) are own's work.
func (x *joinIndex) multiplexed(g trace.GoID, own *joinTask, t trace.Time) bool {
	x.goroutineTasks()
	for _, s := range x.spawned[g] {
		if s.start <= t && t <= s.end && !s.below(own) {
			return true
		}
	}
	return false
}

// byLead is the thread rule for a read on goroutine g at t while g worked for no task (an
// HTTP/1.x connection's goroutine reading a request's headers): the read is the task's that g
// began next, when in between g neither entered another syscall nor stopped executing
// (tracesrc.Timeline.Leads): g began the task on what it had read, with no more input.
func (x *joinIndex) byLead(g trace.GoID, t trace.Time) (*joinTask, bool) {
	x.goroutineTasks()
	began := x.began[g]
	i, _ := slices.BinarySearchFunc(began, t, func(jt *joinTask, t trace.Time) int { return cmp.Compare(jt.start, t) })
	if i == len(began) {
		return nil, false
	}
	jt := began[i]
	lead, ok := x.tl.Leads[jt.id]
	if !ok || lead.Syscall >= t || lead.Stop >= t || jt.span.IsEmpty() {
		return nil, false
	}
	return jt, true
}

// goroutineTasks indexes the tasks by the goroutine that began them, in the order they began,
// and by the goroutine that created that one, once the trace is read.
func (x *joinIndex) goroutineTasks() {
	if x.began != nil {
		return
	}
	x.began, x.spawned = make(map[trace.GoID][]*joinTask), make(map[trace.GoID][]*joinTask)
	for _, jt := range x.tasks {
		if jt.g == 0 {
			continue
		}
		x.began[jt.g] = append(x.began[jt.g], jt)
		if creator, ok := x.tl.Creators[jt.g]; ok && creator != jt.g {
			x.spawned[creator] = append(x.spawned[creator], jt)
		}
	}
	for _, tasks := range x.began {
		slices.SortFunc(tasks, func(a, b *joinTask) int { return cmp.Or(cmp.Compare(a.start, b.start), cmp.Compare(a.id, b.id)) })
	}
}

// below says whether jt is a descendant of task a.
func (jt *joinTask) below(a *joinTask) bool {
	for p := jt.parent; p != nil; p = p.parent {
		if p == a {
			return true
		}
	}
	return false
}
