package tracesrc

import (
	"slices"

	"golang.org/x/exp/trace"

	"github.com/gostitch/gostitch/receiver/internal/exectrace"
)

// gState is what the model keeps per live goroutine.
type gState struct {
	id    trace.GoID
	state trace.GoState
	// since is when the goroutine entered its state; partial is set when that was before the trace.
	since   trace.Time
	partial bool
	// reason indexes state.reasons while the goroutine is blocked.
	reason int
	assist bool
	// syscall names the system call the goroutine is in (syscalls.go).
	syscall string
	// m is the thread the goroutine executes on; runStart is when its current run interval began.
	m        trace.ThreadID
	runStart trace.Time
	// scopes is the goroutine's stack of task and region scopes; cur is the task it works for.
	scopes []scope
	cur    *taskState
	// creator is the goroutine that created this one, when the trace saw it (carriers.go);
	// carrier says this one began a task or created a goroutine that did, began that it began one.
	creator        trace.GoID
	carrier, began bool
	// lastSyscall and lastStop are when the goroutine last entered a syscall and last stopped
	// executing (carriers.go: Timeline.Leads).
	lastSyscall, lastStop trace.Time
	// outside is the goroutine's work outside tasks, nil until it has some.
	outside *goOutside
	// The task, region and stack when the current block or syscall began (cur was set).
	waitTask   *taskState
	waitRegion int
	waitStack  []trace.StackFrame
	// waitOutRegion is the goroutine's innermost region outside tasks when the wait began (-1: none).
	waitOutRegion int
	// netWoken is when the netpoller last woke the goroutine, until it runs (0: none pending);
	// netOpen is set while its last Timeline.NetWakes entry waits for its next block.
	netWoken trace.Time
	netOpen  bool
	// tls is the goroutine's TLS handshake state (tls.go), nil until it dials or handshakes.
	tls *goTLS
	// netEp is the network-block episode whose next run the goroutine notes (netrun.go).
	netEp netEpisode
	// unblock is the event that ended the current block; lastWait the last block while working
	// for a task; pickups when it took up tasks left with no goroutine (unblock.go, handoff.go).
	unblock  unblock
	lastWait lastWait
	pickups  []trace.Time
}

// class is the goroutine's contribution to a task's breakdown.
func (g *gState) class() class {
	switch g.state {
	case trace.GoRunning:
		if g.assist {
			return classAssist
		}
		return classRunning
	case trace.GoSyscall:
		return classSyscall
	case trace.GoRunnable:
		return classRunnable
	default:
		return classBlocked
	}
}

func (g *gState) executing() bool { return g.state.Executing() }

// transition applies a goroutine state transition.
func (s *state) transition(ev *exectrace.Event) {
	from, to, id, now := ev.From, ev.To, ev.Subject, ev.Time
	g := s.gs.Get(id)
	if g == nil {
		if to == trace.GoNotExist {
			return
		}
		s.newGoroutine(id, to, from != trace.GoNotExist, ev)
		return
	}
	if from == to {
		return // a status repeated at a generation boundary
	}
	s.tlsTransition(g, from, to, ev)
	if to == trace.GoWaiting && g.cur != nil && slices.ContainsFunc(g.scopes, func(sc scope) bool { return sc.linger }) {
		g.dropLinger() // blocking ends a linger: what the goroutine waits for next is not known
		s.setCurrent(g, now)
	}
	old := g.class()
	if from == trace.GoWaiting {
		noteUnblock(g, ev)
	}
	s.leave(g, to, now)
	if to == trace.GoNotExist {
		s.tlsFinish(g, false)
		if s.outsideOn() {
			s.outsideFinish(g, now)
		}
		s.detach(g, now)
		s.destroy(g)
		return
	}
	s.enter(g, to, now, ev)
	s.reclass(g, old, now)
}

// newGoroutine starts tracking a goroutine that was created or first appears in the trace.
func (s *state) newGoroutine(id trace.GoID, to trace.GoState, seenBefore bool, ev *exectrace.Event) {
	g := &gState{id: id}
	s.gs.Put(g.id, g)
	for _, ts := range s.creators[id] {
		if ts.open {
			g.scopes = append(g.scopes, scope{task: ts})
			ts.creator = g
		}
	}
	delete(s.creators, id)
	if !seenBefore {
		noteCreator(g, ev)
	}
	g.cur = g.currentTask()
	s.enter(g, to, ev.Time, ev)
	g.partial = seenBefore
	s.attach(g, ev.Time)
}

// destroy forgets a goroutine that exited; the tasks it began have no goroutine left.
func (s *state) destroy(g *gState) {
	for _, sc := range g.scopes {
		if !sc.isRegion && !sc.linger && sc.task.creator == g {
			sc.task.creator = nil
		}
	}
	g.state, g.scopes, g.cur = trace.GoNotExist, nil, nil
	s.gs.Delete(g.id)
}

// leave ends the goroutine's current state at now for state to, reporting the wait it ends.
func (s *state) leave(g *gState, to trace.GoState, now trace.Time) {
	switch g.state {
	case trace.GoRunnable:
		if !g.partial {
			s.h.Wait(Wait{Kind: Scheduling, Goroutine: g.id, Start: g.since, End: now, Task: g.cur.model(), Episode: -1})
		}
	case trace.GoWaiting:
		s.netUnblock(g, to, now)
		s.endWait(g, now, false)
	case trace.GoSyscall:
		s.endWait(g, now, false)
	}
	if g.executing() && !to.Executing() {
		g.netEpisodeStop(now)
		s.endRun(g, now)
		g.lastStop = now
	}
}

// enter puts the goroutine into state to at now.
func (s *state) enter(g *gState, to trace.GoState, now trace.Time, ev *exectrace.Event) {
	wasExecuting := g.executing()
	g.state, g.since, g.partial = to, now, false
	if to.Executing() && !wasExecuting {
		g.m, g.runStart = ev.Thread, now
		g.netEpisodeRun(ev.Thread, now)
		s.netRun(g, now)
	}
	if to == trace.GoSyscall {
		g.lastSyscall, g.syscall = now, s.names.syscall(s.tr, ev.Stack)
	}
	if to == trace.GoWaiting || to == trace.GoSyscall {
		if to == trace.GoWaiting {
			g.reason = s.reason(s.blockReason(ev))
			s.netBlock(g, now)
		}
		g.waitTask, g.waitRegion, g.waitOutRegion, g.waitStack = g.cur, -1, -1, nil
		if g.cur != nil {
			g.waitRegion = g.innermostRegion(g.cur)
			g.waitStack = s.stacks.frames(s.tr, ev.Stack)
		}
		if s.outsideOn() && noOpenTask(g.cur) {
			g.waitOutRegion = g.innermostRegion(nil)
			g.waitStack = s.stacks.frames(s.tr, ev.Stack)
		}
	}
}

// endWait ends a block or syscall at now, recording it as an episode of its task when long
// enough and reporting a block to the handler. cut marks a wait still going at the trace's end.
func (s *state) endWait(g *gState, now trace.Time, cut bool) {
	ts, stack := g.waitTask, g.waitStack
	g.waitTask, g.waitStack = nil, nil
	blocked := g.state == trace.GoWaiting
	w := Wait{Kind: Blocking, Goroutine: g.id, Start: g.since, End: now, Task: ts.model(), Episode: -1}
	if blocked {
		w.Reason = s.reasons[g.reason]
	} else {
		w.Kind, w.Reason = InSyscall, g.syscall
	}
	if (ts == nil || ts.emitted) && s.outsideOn() && now.Sub(s.outsideSince(g)) >= s.opts.MinSpanDuration {
		ep := Episode{Kind: Syscall, Reason: w.Reason, Goroutine: g.id, Thread: g.m, Start: s.outsideSince(g), End: now,
			Region: g.waitOutRegion, Stack: stack, Partial: g.partial || cut, Release: Release{Region: -1}}
		if blocked {
			ep.Kind = Blocked
		}
		s.outsideEpisode(g, ep)
	}
	if ts != nil && !ts.emitted && now.Sub(g.since) >= s.opts.MinSpanDuration {
		end := now
		if !ts.open && ts.t.End < end {
			end = ts.t.End
		}
		ep := Episode{Kind: Syscall, Reason: w.Reason, Goroutine: g.id, Thread: g.m, Start: g.since, End: end,
			Region: g.waitRegion, Stack: stack, Partial: g.partial || cut, Release: Release{Region: -1}}
		if blocked {
			ep.Kind, ep.Release = Blocked, s.release(g.unblock)
		}
		w.Episode = len(ts.t.Episodes)
		ts.t.Episodes = append(ts.t.Episodes, ep)
	}
	if blocked && !cut {
		g.noteNetEpisode(ts, w.Episode, w.Reason)
	}
	if blocked && ts != nil && !ts.emitted {
		s.noteWait(g, ts, stack)
	}
	g.unblock = unblock{}
	if !g.partial && !cut {
		s.h.Wait(w)
	}
}

// endOpenWait records a block or syscall still going at the end of the trace.
func (s *state) endOpenWait(g *gState, now trace.Time) {
	if g.state == trace.GoWaiting || g.state == trace.GoSyscall {
		s.endWait(g, now, true)
	}
}

// unknownReason stands for a block reason the trace does not give.
const unknownReason = "unknown"

// reason interns a block reason. The runtime has a couple dozen, so a slice beats a map.
func (s *state) reason(r string) int {
	if r == "" {
		r = unknownReason
	}
	for i, known := range s.reasons {
		if known == r {
			return i
		}
	}
	s.reasons = append(s.reasons, r)
	return len(s.reasons) - 1
}
