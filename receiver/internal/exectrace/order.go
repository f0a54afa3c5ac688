package exectrace

import (
	"fmt"

	"golang.org/x/exp/trace"

	"github.com/gostitch/gostitch/receiver/internal/idmap"
)

// Goroutine and P statuses of the wire format.
const (
	goRunnable = 1
	goRunning  = 2
	goSyscall  = 3
	goWaiting  = 4

	procRunning          = 1
	procIdle             = 2
	procSyscall          = 3
	procSyscallAbandoned = 4
)

// wireGoState maps a wire goroutine status to its state.
var wireGoState = [...]trace.GoState{
	goRunnable: trace.GoRunnable, goRunning: trace.GoRunning, goSyscall: trace.GoSyscall, goWaiting: trace.GoWaiting,
}

// seq is a sequence number within a generation.
type seq struct{ gen, n uint64 }

func (s seq) follows(prev seq) bool { return s.gen == prev.gen && s.n == prev.n+1 }

type goState struct {
	status uint8
	seq    seq
	// stw is the kind of the stop-the-world phase the goroutine began, for its end.
	stw string
}

type procState struct {
	status uint8
	seq    seq
}

// mState is what runs on a thread: its P and goroutine.
type mState struct {
	p  trace.ProcID
	g  trace.GoID
	gs *goState // g's state
}

type taskInfo struct {
	name   string
	parent trace.TaskID
}

// ordering replays the scheduler's state so that events of different threads are handed out
// in an order consistent with it: an event whose sequence number says it comes after another
// thread's pending event waits for that one (x/exp/trace's rules, without its validation).
// Each event type has its advance method in dispatch; what they produce goes to out.
type ordering struct {
	gs         idmap.Map[trace.GoID, goState]
	ps         []*procState // by P id
	ms         map[trace.ThreadID]*mState
	tasks      map[trace.TaskID]taskInfo
	gcSeq      uint64
	gcKnown    bool
	initialGen uint64

	gen     uint64       // the generation being ordered
	strings *stringTable // its strings
	out     *queue
}

func newOrdering(strings *stringTable, out *queue) ordering {
	return ordering{
		ms:      make(map[trace.ThreadID]*mState),
		tasks:   make(map[trace.TaskID]taskInfo),
		strings: strings,
		out:     out,
	}
}

// beginGeneration starts ordering generation gen.
func (o *ordering) beginGeneration(gen uint64) {
	if o.initialGen == 0 { // the first generation (numbers start at 1)
		o.initialGen = gen
	}
	o.gen = gen
}

func (o *ordering) thread(m trace.ThreadID) *mState {
	ms, ok := o.ms[m]
	if !ok {
		ms = &mState{p: trace.NoProc, g: trace.NoGoroutine}
		o.ms[m] = ms
	}
	return ms
}

// advanceFunc applies c's current event if the scheduler's state allows it now, handing out
// what it produces through o.out. It reports false when the event must wait for another
// thread. An advanceFunc hands out its events before it changes c's goroutine, which is the
// one in their context.
type advanceFunc func(o *ordering, c *cursor) (bool, error)

// dispatch holds the advanceFunc of each event type. The types without one (P count, heap
// metrics, sweeps, experimental events) are not handed out.
var dispatch = [256]advanceFunc{
	evProcStatus: (*ordering).advanceProcStatus,
	evProcStart:  (*ordering).advanceProcStart,
	evProcStop:   (*ordering).advanceProcStop,
	evProcSteal:  (*ordering).advanceProcSteal,

	evGoStatus:            (*ordering).advanceGoStatus,
	evGoStatusStack:       (*ordering).advanceGoStatus,
	evGoCreate:            (*ordering).advanceGoCreate,
	evGoCreateBlocked:     (*ordering).advanceGoCreate,
	evGoCreateSyscall:     (*ordering).advanceGoCreate,
	evGoStart:             (*ordering).advanceGoStart,
	evGoStop:              (*ordering).advanceGoStop,
	evGoBlock:             (*ordering).advanceGoStop,
	evGoDestroy:           (*ordering).advanceGoDestroy,
	evGoUnblock:           (*ordering).advanceGoUnblock,
	evGoSwitch:            (*ordering).advanceGoSwitch,
	evGoSwitchDestroy:     (*ordering).advanceGoSwitch,
	evGoSyscallBegin:      (*ordering).advanceGoSyscallBegin,
	evGoSyscallEnd:        (*ordering).advanceGoSyscallEnd,
	evGoSyscallEndBlocked: (*ordering).advanceGoSyscallEndBlocked,
	evGoDestroySyscall:    (*ordering).advanceGoDestroySyscall,

	evSTWBegin:           (*ordering).advanceSTWBegin,
	evSTWEnd:             (*ordering).advanceSTWEnd,
	evGCActive:           (*ordering).advanceGC,
	evGCBegin:            (*ordering).advanceGC,
	evGCEnd:              (*ordering).advanceGC,
	evGCMarkAssistActive: (*ordering).advanceGCAssist,
	evGCMarkAssistBegin:  (*ordering).advanceGCAssist,
	evGCMarkAssistEnd:    (*ordering).advanceGCAssist,

	evUserTaskBegin:   (*ordering).advanceTaskBegin,
	evUserTaskEnd:     (*ordering).advanceTaskEnd,
	evUserRegionBegin: (*ordering).advanceRegion,
	evUserRegionEnd:   (*ordering).advanceRegion,
	evUserLog:         (*ordering).advanceLog,
	evGoLabel:         (*ordering).advanceGoLabel,
}

// advance applies c's current event through its type's advanceFunc.
func (o *ordering) advance(c *cursor) (bool, error) {
	f := dispatch[c.typ]
	if f == nil {
		o.out.skip(c.time)
		return true, nil
	}
	return f(o, c)
}

// str returns the string c's argument i names, which the generation must define. The
// advanceFuncs look their strings up before anything else.
func (o *ordering) str(c *cursor, i int) (string, error) {
	s, ok := o.strings.lookup(c.args[i])
	if !ok {
		return "", undefinedString(c, i)
	}
	return s, nil
}

func undefinedString(c *cursor, i int) error {
	return fmt.Errorf("event type %d on thread %d names string %d, which the generation does not define", c.typ, c.m, c.args[i])
}

// push queues an event of c on its thread and goroutine.
func (o *ordering) push(c *cursor) *Event {
	return o.out.push(c.time, c.m, c.ms.g)
}

// transition queues c's event as goroutine g's transition from one state to another.
func (o *ordering) transition(c *cursor, g trace.GoID, from, to trace.GoState) *Event {
	ev := o.push(c)
	ev.Kind, ev.Subject, ev.From, ev.To = Transition, g, from, to
	return ev
}

// advanceProcStatus learns a P's status at the start of a generation.
func (o *ordering) advanceProcStatus(c *cursor) (bool, error) {
	pid, status := trace.ProcID(c.args[0]), uint8(c.args[1])
	if pid < 0 || pid >= maxProcs {
		return false, fmt.Errorf("P %d out of range", pid)
	}
	if ps := o.proc(pid); ps != nil {
		ps.seq = seq{o.gen, 0}
	} else {
		if int(pid) >= len(o.ps) {
			o.ps = append(o.ps, make([]*procState, int(pid)+1-len(o.ps))...)
		}
		o.ps[pid] = &procState{status: status, seq: seq{o.gen, 0}}
	}
	if status == procRunning || status == procSyscall {
		c.ms.p = pid
	}
	o.out.skip(c.time)
	return true, nil
}

// advanceProcStart puts an idle P on c's thread.
func (o *ordering) advanceProcStart(c *cursor) (bool, error) {
	pid, s := trace.ProcID(c.args[0]), seq{o.gen, c.args[1]}
	ps := o.proc(pid)
	if ps == nil || ps.status != procIdle || !s.follows(ps.seq) || c.ms.p != trace.NoProc {
		return false, nil
	}
	ps.status, ps.seq, c.ms.p = procRunning, s, pid
	o.out.skip(c.time)
	return true, nil
}

// advanceProcStop idles the P of c's thread.
func (o *ordering) advanceProcStop(c *cursor) (bool, error) {
	if ps := o.proc(c.ms.p); ps != nil {
		ps.status = procIdle
	}
	c.ms.p = trace.NoProc
	o.out.skip(c.time)
	return true, nil
}

// advanceProcSteal takes a P from a thread in a syscall, idling it.
func (o *ordering) advanceProcSteal(c *cursor) (bool, error) {
	pid, s, victim := trace.ProcID(c.args[0]), seq{o.gen, c.args[1]}, trace.ThreadID(c.args[2])
	ps := o.proc(pid)
	if ps == nil || (ps.status != procSyscall && ps.status != procSyscallAbandoned) || !s.follows(ps.seq) {
		return false, nil
	}
	abandoned := ps.status == procSyscallAbandoned
	ps.status, ps.seq = procIdle, s
	if !abandoned {
		if vs, ok := o.ms[victim]; ok && vs.p == pid {
			vs.p = trace.NoProc
		}
	}
	o.out.skip(c.time)
	return true, nil
}

// advanceGoStatus learns a goroutine's status at the start of a generation: a transition from
// the state it had (undetermined when new).
func (o *ordering) advanceGoStatus(c *cursor) (bool, error) {
	gid, status := trace.GoID(c.args[0]), uint8(c.args[2])
	if status == 0 || int(status) >= len(wireGoState) {
		return false, fmt.Errorf("goroutine %d has invalid status %d", gid, status)
	}
	from := wireGoState[status]
	g := o.gs.Get(gid)
	if g != nil {
		g.status, g.seq = status, seq{o.gen, 0}
	} else {
		g = &goState{status: status, seq: seq{o.gen, 0}}
		o.gs.Put(gid, g)
		from = trace.GoUndetermined
	}
	ev := o.transition(c, gid, from, wireGoState[status])
	if c.typ == evGoStatusStack {
		ev.Stack = StackID(c.args[3])
	}
	switch status {
	case goRunning:
		c.ms.g, c.ms.gs = gid, g
	case goSyscall:
		o.placeInSyscall(c, ev, gid, g)
	}
	return true, nil
}

// placeInSyscall puts goroutine gid, in a syscall on the thread c's event names, on that
// thread; when that is another thread, its status event ev moves there.
func (o *ordering) placeInSyscall(c *cursor, ev *Event, gid trace.GoID, g *goState) {
	mid := trace.ThreadID(c.args[1])
	if mid == c.m {
		c.ms.g, c.ms.gs = gid, g
		return
	}
	if other, ok := o.ms[mid]; ok {
		ev.Goroutine = other.g
	} else {
		o.ms[mid] = &mState{p: trace.NoProc, g: gid, gs: g}
	}
	ev.Thread = mid
}

// advanceGoCreate creates a goroutine: runnable, blocked, or in a syscall on c's thread.
func (o *ordering) advanceGoCreate(c *cursor) (bool, error) {
	gid := trace.GoID(c.args[0])
	g := &goState{status: goRunnable, seq: seq{o.gen, 0}}
	switch c.typ {
	case evGoCreateBlocked:
		g.status = goWaiting
	case evGoCreateSyscall:
		g.status = goSyscall
	}
	o.gs.Put(gid, g)
	ev := o.transition(c, gid, trace.GoNotExist, wireGoState[g.status])
	if c.typ == evGoCreateSyscall {
		c.ms.g, c.ms.gs = gid, g
	} else {
		ev.Stack = StackID(c.args[1])
	}
	return true, nil
}

// advanceGoStart runs a runnable goroutine on c's thread.
func (o *ordering) advanceGoStart(c *cursor) (bool, error) {
	gid, s := trace.GoID(c.args[0]), seq{o.gen, c.args[1]}
	g := o.gs.Get(gid)
	if g == nil || g.status != goRunnable || !s.follows(g.seq) {
		return false, nil
	}
	o.transition(c, gid, trace.GoRunnable, trace.GoRunning)
	g.status, g.seq, c.ms.g, c.ms.gs = goRunning, s, gid, g
	return true, nil
}

// advanceGoStop takes the running goroutine off c's thread, stopped (runnable) or blocked.
func (o *ordering) advanceGoStop(c *cursor) (bool, error) {
	reason, err := o.str(c, 0)
	if err != nil {
		return false, err
	}
	g, err := o.running(c, goRunning)
	if err != nil {
		return false, err
	}
	g.status = goRunnable
	if c.typ == evGoBlock {
		g.status = goWaiting
	}
	ev := o.transition(c, c.ms.g, trace.GoRunning, wireGoState[g.status])
	ev.Reason, ev.Stack = reason, StackID(c.args[1])
	c.ms.g, c.ms.gs = trace.NoGoroutine, nil
	return true, nil
}

// advanceGoDestroy ends the running goroutine.
func (o *ordering) advanceGoDestroy(c *cursor) (bool, error) {
	if _, err := o.running(c, goRunning); err != nil {
		return false, err
	}
	o.transition(c, c.ms.g, trace.GoRunning, trace.GoNotExist)
	o.gs.Delete(c.ms.g)
	c.ms.g, c.ms.gs = trace.NoGoroutine, nil
	return true, nil
}

// advanceGoUnblock makes a waiting goroutine runnable.
func (o *ordering) advanceGoUnblock(c *cursor) (bool, error) {
	gid, s := trace.GoID(c.args[0]), seq{o.gen, c.args[1]}
	g := o.gs.Get(gid)
	if g == nil || g.status != goWaiting || !s.follows(g.seq) {
		return false, nil
	}
	g.status, g.seq = goRunnable, s
	// The stack is the unblocking goroutine's (Goroutine), where it released the wait.
	o.transition(c, gid, trace.GoWaiting, trace.GoRunnable).Stack = StackID(c.args[2])
	return true, nil
}

// advanceGoSwitch hands c's thread from its goroutine, which blocks or is destroyed, to a
// waiting one: the next goroutine is unblocked, the current one leaves, the next one runs.
func (o *ordering) advanceGoSwitch(c *cursor) (bool, error) {
	g, err := o.running(c, goRunning)
	if err != nil {
		return false, err
	}
	next, s := trace.GoID(c.args[0]), seq{o.gen, c.args[1]}
	ng := o.gs.Get(next)
	if ng == nil || ng.status != goWaiting || !s.follows(ng.seq) {
		return false, nil
	}
	o.transition(c, next, trace.GoWaiting, trace.GoRunnable)
	ev := o.transition(c, c.ms.g, trace.GoRunning, trace.GoNotExist)
	if c.typ == evGoSwitch {
		g.status, ev.To = goWaiting, trace.GoWaiting
	} else {
		o.gs.Delete(c.ms.g)
	}
	o.transition(c, next, trace.GoRunnable, trace.GoRunning).Goroutine = trace.NoGoroutine
	ng.status, ng.seq, c.ms.g, c.ms.gs = goRunning, s, next, ng
	return true, nil
}

// advanceGoSyscallBegin puts the running goroutine and its P in a syscall.
func (o *ordering) advanceGoSyscallBegin(c *cursor) (bool, error) {
	g, err := o.running(c, goRunning)
	if err != nil {
		return false, err
	}
	ps := o.proc(c.ms.p)
	if ps == nil {
		return false, fmt.Errorf("thread %d enters a syscall without a known P", c.m)
	}
	g.status, ps.status, ps.seq = goSyscall, procSyscall, seq{o.gen, c.args[0]}
	o.transition(c, c.ms.g, trace.GoRunning, trace.GoSyscall).Stack = StackID(c.args[1])
	return true, nil
}

// advanceGoSyscallEnd returns the goroutine from its syscall to running, with its P.
func (o *ordering) advanceGoSyscallEnd(c *cursor) (bool, error) {
	g, err := o.running(c, goSyscall)
	if err != nil {
		return false, err
	}
	g.status = goRunning
	if ps := o.proc(c.ms.p); ps != nil {
		ps.status = procRunning
	}
	o.transition(c, c.ms.g, trace.GoSyscall, trace.GoRunning)
	return true, nil
}

// advanceGoSyscallEndBlocked returns the goroutine from its syscall to runnable, its P having
// been stolen.
func (o *ordering) advanceGoSyscallEndBlocked(c *cursor) (bool, error) {
	if ps := o.proc(c.ms.p); ps != nil && ps.status == procSyscall {
		return false, nil // the P has not been seen stolen yet
	}
	g, err := o.running(c, goSyscall)
	if err != nil {
		return false, err
	}
	g.status = goRunnable
	o.transition(c, c.ms.g, trace.GoSyscall, trace.GoRunnable)
	c.ms.g, c.ms.gs = trace.NoGoroutine, nil
	return true, nil
}

// advanceGoDestroySyscall destroys the goroutine in a syscall, abandoning its P.
func (o *ordering) advanceGoDestroySyscall(c *cursor) (bool, error) {
	if _, err := o.running(c, goSyscall); err != nil {
		return false, err
	}
	o.gs.Delete(c.ms.g)
	if c.ms.p != trace.NoProc {
		if ps := o.proc(c.ms.p); ps != nil {
			ps.status = procSyscallAbandoned
		}
		c.ms.p = trace.NoProc
		o.out.skip(c.time) // the P's implied steal
	}
	o.transition(c, c.ms.g, trace.GoSyscall, trace.GoNotExist)
	c.ms.g, c.ms.gs = trace.NoGoroutine, nil
	return true, nil
}

// advanceSTWBegin begins a stop-the-world phase of c's goroutine, which keeps its kind for
// its end.
func (o *ordering) advanceSTWBegin(c *cursor) (bool, error) {
	kind, err := o.str(c, 0)
	if err != nil {
		return false, err
	}
	g, err := o.stopping(c)
	if err != nil {
		return false, err
	}
	g.stw = kind
	ev := o.push(c)
	ev.Kind, ev.Range, ev.Name, ev.Stack = RangeBegin, STW, kind, StackID(c.args[1])
	return true, nil
}

// advanceSTWEnd ends the stop-the-world phase of c's goroutine.
func (o *ordering) advanceSTWEnd(c *cursor) (bool, error) {
	g, err := o.stopping(c)
	if err != nil {
		return false, err
	}
	ev := o.push(c)
	ev.Kind, ev.Range, ev.Name = RangeEnd, STW, g.stw
	return true, nil
}

// stopping returns the goroutine on c's thread, which stops or starts the world.
func (o *ordering) stopping(c *cursor) (*goState, error) {
	if c.ms.gs == nil {
		return nil, fmt.Errorf("stop-the-world on thread %d without a known goroutine", c.m)
	}
	return c.ms.gs, nil
}

// advanceGC begins or ends a GC mark phase, or says one is going when the trace begins, in
// the order of the GC's sequence numbers.
func (o *ordering) advanceGC(c *cursor) (bool, error) {
	s := c.args[0]
	switch {
	case c.typ == evGCActive && o.gen == o.initialGen && !o.gcKnown, c.typ == evGCBegin && !o.gcKnown:
		o.gcKnown = true
	case s != o.gcSeq+1:
		return false, nil
	}
	o.gcSeq = s
	ev := o.push(c)
	ev.Kind, ev.Range = RangeBegin, GCMark
	switch c.typ {
	case evGCActive:
		ev.Kind = RangeActive
	case evGCEnd:
		ev.Kind = RangeEnd
	default:
		ev.Stack = StackID(c.args[1])
	}
	return true, nil
}

// advanceGCAssist begins or ends c's goroutine's GC assist, or says a goroutine was assisting
// when the generation began.
func (o *ordering) advanceGCAssist(c *cursor) (bool, error) {
	ev := o.push(c)
	ev.Range, ev.Subject, ev.Kind, ev.Stack = GCAssist, c.ms.g, RangeBegin, StackID(c.args[0])
	switch c.typ {
	case evGCMarkAssistEnd:
		ev.Kind, ev.Stack = RangeEnd, NoStack
	case evGCMarkAssistActive:
		ev.Kind, ev.Subject, ev.Stack = RangeActive, trace.GoID(c.args[0]), NoStack
	}
	return true, nil
}

// advanceTaskBegin begins a task, keeping its name and parent for its end.
func (o *ordering) advanceTaskBegin(c *cursor) (bool, error) {
	name, err := o.str(c, 2)
	if err != nil {
		return false, err
	}
	id, parent := trace.TaskID(c.args[0]), trace.TaskID(c.args[1])
	if parent == trace.BackgroundTask {
		parent = trace.NoTask
	}
	o.tasks[id] = taskInfo{name: name, parent: parent}
	ev := o.push(c)
	ev.Kind, ev.Task, ev.Parent, ev.Name, ev.Stack = TaskBegin, id, parent, name, StackID(c.args[3])
	return true, nil
}

// advanceTaskEnd ends a task, with the name and parent of its beginning when seen.
func (o *ordering) advanceTaskEnd(c *cursor) (bool, error) {
	id := trace.TaskID(c.args[0])
	info, ok := o.tasks[id]
	if ok {
		delete(o.tasks, id)
	} else {
		info.parent = trace.NoTask
	}
	ev := o.push(c)
	ev.Kind, ev.Task, ev.Parent, ev.Name, ev.Stack = TaskEnd, id, info.parent, info.name, StackID(c.args[1])
	return true, nil
}

// advanceRegion begins or ends a region of c's goroutine.
func (o *ordering) advanceRegion(c *cursor) (bool, error) {
	name, err := o.str(c, 1)
	if err != nil {
		return false, err
	}
	ev := o.push(c)
	ev.Kind, ev.Task, ev.Name, ev.Stack = RegionBegin, trace.TaskID(c.args[0]), name, StackID(c.args[2])
	if c.typ == evUserRegionEnd {
		ev.Kind = RegionEnd
	}
	return true, nil
}

// advanceLog hands out a log message.
func (o *ordering) advanceLog(c *cursor) (bool, error) {
	category, err := o.str(c, 1)
	if err != nil {
		return false, err
	}
	message, err := o.str(c, 2)
	if err != nil {
		return false, err
	}
	ev := o.push(c)
	ev.Kind, ev.Task, ev.Name, ev.Message, ev.Stack = Log, trace.TaskID(c.args[0]), category, message, StackID(c.args[3])
	return true, nil
}

// advanceGoLabel checks a goroutine label's string; labels are not handed out.
func (o *ordering) advanceGoLabel(c *cursor) (bool, error) {
	if _, err := o.str(c, 0); err != nil {
		return false, err
	}
	o.out.skip(c.time)
	return true, nil
}

// maxProcs bounds P ids (the runtime's GOMAXPROCS limit is far below).
const maxProcs = 1 << 16

// proc returns P pid's state, nil when unknown.
func (o *ordering) proc(pid trace.ProcID) *procState {
	if pid < 0 || int(pid) >= len(o.ps) {
		return nil
	}
	return o.ps[pid]
}

// running returns the goroutine on c's thread, which must be in the given status.
func (o *ordering) running(c *cursor, status uint8) (*goState, error) {
	g := c.ms.gs
	if g == nil || g.status != status {
		return nil, fmt.Errorf("event type %d on thread %d, whose goroutine %d is not %v", c.typ, c.m, c.ms.g, wireGoState[status])
	}
	return g, nil
}
