package tracesrc

import (
	"golang.org/x/exp/trace"
)

// Handoff is a stretch of a task's time during which no goroutine worked for it, between one
// goroutine leaving it and another beginning to work for it: the work was handed over from
// one to the other, through a channel or a queue, and waited there. Only stretches of at least
// Options.MinSpanDuration are kept.
type Handoff struct {
	// Start is when From stopped working for the task (it began another); End when To began
	// working for it (a region's begin, a log, ...).
	Start, End trace.Time
	From, To   trace.GoID
	// Wait is From's last blocking wait while it worked for the task, when there was one: its
	// Reason (e.g. "chan send", "select": the hand-off itself, when the queue was full), its
	// Frame (ProgramFrame of its stack) and, for a chan send or a select only, its Release.
	// Reason is empty when there was none.
	Wait HandoffWait
	// Took is ProgramFrame of To's stack at the event where it began working for the task.
	Took trace.StackFrame
	// Busy counts the tasks To took up in the same way during this stretch (each after a stretch
	// of its own with no goroutine, or, for a task that began before the trace, as the first
	// goroutine to act for it), up to MaxBusy: the work taken ahead of this one.
	Busy int
}

// HandoffWait is the last blocking wait of a hand-off's sender while it worked for the task.
type HandoffWait struct {
	Reason  string
	Frame   trace.StackFrame
	Release Release
}

// MaxBusy bounds Handoff.Busy: a goroutine remembers when it took up its last MaxBusy tasks.
const MaxBusy = 64

// lastWait is a goroutine's last blocking wait while it worked for a task, kept until it
// leaves the task (the start of a possible hand-off). Its stacks are read only then.
type lastWait struct {
	task   *taskState
	reason int
	stack  []trace.StackFrame
	// unblock released the wait in generation gen; relTask and relRegion are the releaser's
	// task and innermost region then.
	unblock   unblock
	gen       int
	relTask   *Task
	relRegion int
	// relFrame is the release's frame once resolved (left), nil before or when the program did
	// not release the wait.
	relFrame *trace.StackFrame
}

// idleStretch is a task's current stretch with no goroutine working for it.
type idleStretch struct {
	since trace.Time
	from  trace.GoID
	// wait is from's last wait for the task, nil when it had none; its stacks are read only
	// when the hand-off is kept.
	wait *lastWait
}

// noteWait keeps g's blocking wait that ended now as its last wait for task ts.
func (s *state) noteWait(g *gState, ts *taskState, stack []trace.StackFrame) {
	lw := &g.lastWait
	*lw = lastWait{task: ts, reason: g.reason, stack: stack, unblock: g.unblock, gen: s.tl.Generations, relRegion: -1}
	if rg := s.gs.Get(g.unblock.g); g.unblock.g != 0 && rg != nil && rg.cur != nil {
		lw.relTask, lw.relRegion = rg.cur.t, rg.innermostRegion(rg.cur)
	}
}

// left notes that g, leaving task ts at now, was the last goroutine working for it.
func (s *state) left(ts *taskState, g *gState, now trace.Time) {
	ts.idle = idleStretch{since: now, from: g.id}
	if g.lastWait.task != ts {
		return
	}
	lw := g.lastWait
	g.lastWait = lastWait{}
	if lw.unblock.g != 0 && lw.gen == s.tl.Generations && HandsOff(s.reasons[lw.reason]) { // stack ids live for one generation
		if f, ok := releaseFrame(s.stacks.frames(s.tr, lw.unblock.stack)); ok {
			lw.relFrame = f
		}
	}
	ts.idle.wait = &lw
}

// HandsOff says whether a wait for block reason r can be a hand-off itself (a send to a full
// queue): only then is its release read, when the task goes without a goroutine right after.
func HandsOff(r string) bool { return r == "chan send" || r == "select" }

// handoffWait resolves the sender's last wait of a kept hand-off.
func (s *state) handoffWait(lw *lastWait) HandoffWait {
	w := HandoffWait{Reason: s.reasons[lw.reason], Frame: ProgramFrame(lw.stack), Release: Release{Region: -1}}
	if lw.relFrame != nil {
		w.Release = Release{Goroutine: lw.unblock.g, Frame: lw.relFrame, Task: lw.relTask, Region: lw.relRegion}
	}
	return w
}

// tookUp ends task ts's stretch with no goroutine as g begins to work for it at now, keeping
// the hand-off when it lasted long enough and came from another goroutine.
func (s *state) tookUp(ts *taskState, g *gState, now trace.Time) {
	st := ts.idle
	ts.idle = idleStretch{}
	if st.from == g.id {
		return
	}
	if ts != g.cur { // an ancestor of the task taken up: counted once, for the task
		s.keepHandoff(ts, g, st, now, 0)
		return
	}
	busy := 0
	for _, at := range g.pickups {
		if at >= st.since {
			busy++
		}
	}
	g.notePickup(now)
	s.keepHandoff(ts, g, st, now, busy)
}

// notePickup remembers that g took up a task at now: one left with no goroutine, or one that
// began before the trace and that g is the first to act for.
// It keeps the last MaxBusy, in time order: most goroutines take up a few tasks, if any.
func (g *gState) notePickup(now trace.Time) {
	if len(g.pickups) == MaxBusy {
		g.pickups = append(g.pickups[:0], g.pickups[1:]...)
	}
	g.pickups = append(g.pickups, now)
}

// keepHandoff adds the hand-off of stretch st, taken up by g at now, to its task when it
// lasted long enough.
func (s *state) keepHandoff(ts *taskState, g *gState, st idleStretch, now trace.Time, busy int) {
	if now.Sub(st.since) < s.opts.MinSpanDuration {
		return
	}
	h := Handoff{Start: st.since, End: now, From: st.from, To: g.id, Busy: busy}
	if st.wait != nil {
		h.Wait = s.handoffWait(st.wait)
	}
	h.Took = ProgramFrame(s.stacks.frames(s.tr, s.evStack))
	ts.t.Handoffs = append(ts.t.Handoffs, h)
}
