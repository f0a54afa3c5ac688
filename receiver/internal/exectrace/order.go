package exectrace

import (
	"fmt"

	"golang.org/x/exp/trace"
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
type ordering struct {
	gs         map[trace.GoID]*goState
	ps         []*procState // by P id
	ms         map[trace.ThreadID]*mState
	tasks      map[trace.TaskID]taskInfo
	gcSeq      uint64
	gcKnown    bool
	initialGen uint64
}

func newOrdering() ordering {
	return ordering{
		gs:    make(map[trace.GoID]*goState),
		ms:    make(map[trace.ThreadID]*mState),
		tasks: make(map[trace.TaskID]taskInfo),
	}
}

func (o *ordering) thread(m trace.ThreadID) *mState {
	ms, ok := o.ms[m]
	if !ok {
		ms = &mState{p: trace.NoProc, g: trace.NoGoroutine}
		o.ms[m] = ms
	}
	return ms
}

// advance applies c's current event if the scheduler's state allows it now, handing out what
// it produces through r.emit. It reports false when the event must wait for another thread.
func (o *ordering) advance(r *Reader, c *cursor) (bool, error) {
	ms, args, gen := c.ms, &c.args, r.gen
	g0 := ms.g // the goroutine in the event's context
	for _, i := range stringArgs[c.typ] {
		if !r.t.strings.has(args[i]) {
			return false, fmt.Errorf("event type %d on thread %d names string %d, which the generation does not define", c.typ, c.m, args[i])
		}
	}
	switch c.typ {
	case evProcStatus:
		pid, status := trace.ProcID(args[0]), uint8(args[1])
		if pid < 0 || pid >= maxProcs {
			return false, fmt.Errorf("P %d out of range", pid)
		}
		if ps := o.proc(pid); ps != nil {
			ps.seq = seq{gen, 0}
		} else {
			if int(pid) >= len(o.ps) {
				o.ps = append(o.ps, make([]*procState, int(pid)+1-len(o.ps))...)
			}
			o.ps[pid] = &procState{status: status, seq: seq{gen, 0}}
		}
		if status == procRunning || status == procSyscall {
			ms.p = pid
		}
		r.skip(c.time)
	case evProcStart:
		pid, s := trace.ProcID(args[0]), seq{gen, args[1]}
		ps := o.proc(pid)
		if ps == nil || ps.status != procIdle || !s.follows(ps.seq) || ms.p != trace.NoProc {
			return false, nil
		}
		ps.status, ps.seq, ms.p = procRunning, s, pid
		r.skip(c.time)
	case evProcStop:
		if ps := o.proc(ms.p); ps != nil {
			ps.status = procIdle
		}
		ms.p = trace.NoProc
		r.skip(c.time)
	case evProcSteal:
		pid, s, victim := trace.ProcID(args[0]), seq{gen, args[1]}, trace.ThreadID(args[2])
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
		r.skip(c.time)
	case evGoStatus, evGoStatusStack:
		gid, status := trace.GoID(args[0]), uint8(args[2])
		if status == 0 || int(status) >= len(wireGoState) {
			return false, fmt.Errorf("goroutine %d has invalid status %d", gid, status)
		}
		from := wireGoState[status]
		g, ok := o.gs[gid]
		if ok {
			g.status, g.seq = status, seq{gen, 0}
		} else {
			g = &goState{status: status, seq: seq{gen, 0}}
			o.gs[gid] = g
			from = trace.GoUndetermined
		}
		ev := r.push(c.time, c.m, g0)
		switch status {
		case goRunning:
			ms.g, ms.gs = gid, g
		case goSyscall:
			if mid := trace.ThreadID(args[1]); mid == c.m {
				ms.g, ms.gs = gid, g
			} else {
				if other, ok := o.ms[mid]; ok {
					ev.Goroutine = other.g
				} else {
					o.ms[mid] = &mState{p: trace.NoProc, g: gid, gs: g}
				}
				ev.Thread = mid
			}
		}
		ev.Kind, ev.Subject, ev.From, ev.To = Transition, gid, from, wireGoState[status]
		if c.typ == evGoStatusStack {
			ev.Stack = StackID(args[3])
		}
	case evGoCreate, evGoCreateBlocked, evGoCreateSyscall:
		gid := trace.GoID(args[0])
		g := &goState{status: goRunnable, seq: seq{gen, 0}}
		to := trace.GoRunnable
		switch c.typ {
		case evGoCreateBlocked:
			g.status, to = goWaiting, trace.GoWaiting
		case evGoCreateSyscall:
			g.status, to = goSyscall, trace.GoSyscall
			ms.g, ms.gs = gid, g
		}
		o.gs[gid] = g
		ev := r.push(c.time, c.m, g0)
		ev.Kind, ev.Subject, ev.From, ev.To = Transition, gid, trace.GoNotExist, to
		if c.typ != evGoCreateSyscall {
			ev.Stack = StackID(args[1])
		}
	case evGoStart:
		gid, s := trace.GoID(args[0]), seq{gen, args[1]}
		g, ok := o.gs[gid]
		if !ok || g.status != goRunnable || !s.follows(g.seq) {
			return false, nil
		}
		g.status, g.seq, ms.g, ms.gs = goRunning, s, gid, g
		ev := r.push(c.time, c.m, g0)
		ev.Kind, ev.Subject, ev.From, ev.To = Transition, gid, trace.GoRunnable, trace.GoRunning
	case evGoStop, evGoBlock, evGoDestroy:
		g, err := o.running(c, goRunning)
		if err != nil {
			return false, err
		}
		ev := r.push(c.time, c.m, g0)
		ev.Kind, ev.Subject, ev.From = Transition, ms.g, trace.GoRunning
		switch c.typ {
		case evGoStop:
			g.status, ev.To = goRunnable, trace.GoRunnable
		case evGoBlock:
			g.status, ev.To = goWaiting, trace.GoWaiting
		default:
			delete(o.gs, ms.g)
			ev.To = trace.GoNotExist
		}
		if c.typ != evGoDestroy {
			ev.Reason, ev.Stack = r.t.strings.get(args[0]), StackID(args[1])
		}
		ms.g, ms.gs = trace.NoGoroutine, nil
	case evGoUnblock:
		gid, s := trace.GoID(args[0]), seq{gen, args[1]}
		g, ok := o.gs[gid]
		if !ok || g.status != goWaiting || !s.follows(g.seq) {
			return false, nil
		}
		g.status, g.seq = goRunnable, s
		ev := r.push(c.time, c.m, g0)
		ev.Kind, ev.Subject, ev.From, ev.To = Transition, gid, trace.GoWaiting, trace.GoRunnable
	case evGoSwitch, evGoSwitchDestroy:
		g, err := o.running(c, goRunning)
		if err != nil {
			return false, err
		}
		next, s := trace.GoID(args[0]), seq{gen, args[1]}
		ng, ok := o.gs[next]
		if !ok || ng.status != goWaiting || !s.follows(ng.seq) {
			return false, nil
		}
		ev := r.push(c.time, c.m, g0)
		ev.Kind, ev.Subject, ev.From, ev.To = Transition, next, trace.GoWaiting, trace.GoRunnable
		ev = r.push(c.time, c.m, g0)
		ev.Kind, ev.Subject, ev.From = Transition, ms.g, trace.GoRunning
		if c.typ == evGoSwitch {
			g.status, ev.To = goWaiting, trace.GoWaiting
		} else {
			delete(o.gs, ms.g)
			ev.To = trace.GoNotExist
		}
		ng.status, ng.seq, ms.g, ms.gs = goRunning, s, next, ng
		ev = r.push(c.time, c.m, g0)
		ev.Goroutine, ev.Kind, ev.Subject, ev.From, ev.To = trace.NoGoroutine, Transition, next, trace.GoRunnable, trace.GoRunning
	case evGoSyscallBegin:
		g, err := o.running(c, goRunning)
		if err != nil {
			return false, err
		}
		ps := o.proc(ms.p)
		if ps == nil {
			return false, fmt.Errorf("thread %d enters a syscall without a known P", c.m)
		}
		g.status, ps.status, ps.seq = goSyscall, procSyscall, seq{gen, args[0]}
		ev := r.push(c.time, c.m, g0)
		ev.Kind, ev.Subject, ev.From, ev.To, ev.Stack = Transition, ms.g, trace.GoRunning, trace.GoSyscall, StackID(args[1])
	case evGoSyscallEnd:
		g, err := o.running(c, goSyscall)
		if err != nil {
			return false, err
		}
		g.status = goRunning
		if ps := o.proc(ms.p); ps != nil {
			ps.status = procRunning
		}
		ev := r.push(c.time, c.m, g0)
		ev.Kind, ev.Subject, ev.From, ev.To = Transition, ms.g, trace.GoSyscall, trace.GoRunning
	case evGoSyscallEndBlocked:
		if ps := o.proc(ms.p); ps != nil && ps.status == procSyscall {
			return false, nil // the P has not been seen stolen yet
		}
		g, err := o.running(c, goSyscall)
		if err != nil {
			return false, err
		}
		g.status = goRunnable
		ev := r.push(c.time, c.m, g0)
		ev.Kind, ev.Subject, ev.From, ev.To = Transition, ms.g, trace.GoSyscall, trace.GoRunnable
		ms.g, ms.gs = trace.NoGoroutine, nil
	case evGoDestroySyscall:
		if _, err := o.running(c, goSyscall); err != nil {
			return false, err
		}
		delete(o.gs, ms.g)
		if ms.p != trace.NoProc {
			if ps := o.proc(ms.p); ps != nil {
				ps.status = procSyscallAbandoned
			}
			ms.p = trace.NoProc
			r.skip(c.time) // the P's implied steal
		}
		ev := r.push(c.time, c.m, g0)
		ev.Kind, ev.Subject, ev.From, ev.To = Transition, ms.g, trace.GoSyscall, trace.GoNotExist
		ms.g, ms.gs = trace.NoGoroutine, nil
	case evSTWBegin, evSTWEnd:
		g := ms.gs
		if g == nil {
			return false, fmt.Errorf("stop-the-world on thread %d without a known goroutine", c.m)
		}
		ev := r.push(c.time, c.m, g0)
		ev.Range, ev.Kind = STW, RangeBegin
		if c.typ == evSTWBegin {
			g.stw, ev.Stack = r.t.strings.get(args[0]), StackID(args[1])
		} else {
			ev.Kind = RangeEnd
		}
		ev.Name = g.stw
	case evGCActive, evGCBegin, evGCEnd:
		s := args[0]
		kind := RangeBegin
		switch {
		case c.typ == evGCActive && gen == o.initialGen && !o.gcKnown, c.typ == evGCBegin && !o.gcKnown:
			o.gcKnown = true
		case s != o.gcSeq+1:
			return false, nil
		}
		o.gcSeq = s
		switch c.typ {
		case evGCActive:
			kind = RangeActive
		case evGCEnd:
			kind = RangeEnd
		}
		ev := r.push(c.time, c.m, g0)
		ev.Kind, ev.Range = kind, GCMark
		if c.typ == evGCBegin {
			ev.Stack = StackID(args[1])
		}
	case evGCMarkAssistBegin, evGCMarkAssistEnd, evGCMarkAssistActive:
		ev := r.push(c.time, c.m, g0)
		ev.Range, ev.Subject, ev.Kind, ev.Stack = GCAssist, ms.g, RangeBegin, StackID(args[0])
		switch c.typ {
		case evGCMarkAssistEnd:
			ev.Kind, ev.Stack = RangeEnd, NoStack
		case evGCMarkAssistActive:
			ev.Kind, ev.Subject, ev.Stack = RangeActive, trace.GoID(args[0]), NoStack
		}
	case evUserTaskBegin:
		id, parent := trace.TaskID(args[0]), trace.TaskID(args[1])
		if parent == trace.BackgroundTask {
			parent = trace.NoTask
		}
		name := r.t.strings.get(args[2])
		o.tasks[id] = taskInfo{name: name, parent: parent}
		ev := r.push(c.time, c.m, g0)
		ev.Kind, ev.Task, ev.Parent, ev.Name, ev.Stack = TaskBegin, id, parent, name, StackID(args[3])
	case evUserTaskEnd:
		id := trace.TaskID(args[0])
		info, ok := o.tasks[id]
		if ok {
			delete(o.tasks, id)
		} else {
			info.parent = trace.NoTask
		}
		ev := r.push(c.time, c.m, g0)
		ev.Kind, ev.Task, ev.Parent, ev.Name, ev.Stack = TaskEnd, id, info.parent, info.name, StackID(args[1])
	case evUserRegionBegin, evUserRegionEnd:
		ev := r.push(c.time, c.m, g0)
		ev.Kind, ev.Task, ev.Name, ev.Stack = RegionBegin, trace.TaskID(args[0]), r.t.strings.get(args[1]), StackID(args[2])
		if c.typ == evUserRegionEnd {
			ev.Kind = RegionEnd
		}
	case evUserLog:
		ev := r.push(c.time, c.m, g0)
		ev.Kind, ev.Task, ev.Name, ev.Message, ev.Stack = Log, trace.TaskID(args[0]), r.t.strings.get(args[1]), r.t.strings.get(args[2]), StackID(args[3])
	default: // P count, heap metrics, labels, sweeps, experimental events
		r.skip(c.time)
	}
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
