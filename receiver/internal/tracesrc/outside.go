package tracesrc

import (
	"slices"
	"strings"

	"golang.org/x/exp/trace"
)

// Work outside tasks. A goroutine working for no task (or only for tasks that have ended, whose
// regions it left open) may still open regions (with a context that carries no task, e.g.
// context.Background()), log, block, make system calls and be sampled. A Handler that also
// implements GoroutineHandler is handed that work when Options.MaxGoroutineSpans is positive:
// each region as it ends, each log, each blocking or syscall episode of at least
// Options.MinSpanDuration as it ends, and each CPU sample.
//
// Regions, logs and episodes are bounded per trace: a goroutine's first kept item takes one
// place for the goroutine itself (its span), every region and episode one more, and once
// MaxGoroutineSpans places are taken later ones are cut and counted in Timeline.GoroutineCut.
// The places go in trace order and are never given back, so a region or episode inside a region
// that was cut is cut too: nothing kept refers to something cut. Logs (events of the goroutine's
// own span) take no place, but at most MaxGoroutineLogs are kept per goroutine. Waits that are
// not the program's (see programWait) are left out uncounted. An episode that began before the
// trace starts at the trace's start: a goroutine the trace first shows late (its status comes
// with its first event of the trace) was in that state since before the trace.

// GoroutineHandler receives a goroutine's work outside tasks (see Options.MaxGoroutineSpans).
type GoroutineHandler interface {
	// GoroutineRegion is called when a region opened outside tasks ends (or the goroutine
	// exits, or the trace ends).
	GoroutineRegion(r GoroutineRegion)
	// GoroutineLog is called for a trace.Log call outside tasks.
	GoroutineLog(l Log)
	// GoroutineEpisode is called when a blocking or syscall episode outside tasks ends; its
	// Region indexes the goroutine's regions outside tasks (GoroutineRegion.Index), -1 for none.
	GoroutineEpisode(e Episode)
	// GoroutineSample is called for a CPU sample taken outside tasks; its Region indexes the
	// goroutine's kept region outside tasks it fell in, -1 for none; its Goroutine is 0 when
	// the sample was taken on no goroutine. spanned says the goroutine already has kept work
	// outside tasks in this trace (so it has a span of its own).
	GoroutineSample(s CPUSample, spanned bool)
}

// GoroutineRegion is a region a goroutine opened while working for no task.
type GoroutineRegion struct {
	// Region.Parent indexes the goroutine's enclosing region outside tasks, -1 for none.
	Region
	// Index numbers the goroutine's regions outside tasks in this trace, from 0.
	Index int
}

// MaxGoroutineLogs is how many logs outside tasks are kept per goroutine and trace (the OTel
// SDK's default limit of events per span).
const MaxGoroutineLogs = 128

// goOutside is a goroutine's work outside tasks so far in this trace.
type goOutside struct {
	// spanned is set once the goroutine took its own place.
	spanned bool
	// regions counts the regions numbered so far; open holds those still open, innermost last.
	regions int
	open    []GoroutineRegion
	logs    int
}

// noOpenTask says whether a goroutine whose scopes name task ts (nil for none) works for no
// task: none, or one that has ended (a region of it left open).
func noOpenTask(ts *taskState) bool { return ts == nil || !ts.open }

// outsideOn says whether work outside tasks is handed over.
func (s *state) outsideOn() bool { return s.outside != nil }

// reserve takes n places for goroutine g's work outside tasks, plus one for the goroutine
// itself on its first; it reports false, counting the cut, when there are not enough left.
func (s *state) reserve(g *gState, n int) bool {
	o := g.outsideState()
	need := n
	if !o.spanned {
		need++
	}
	if need > s.outsideLeft {
		s.tl.GoroutineCut++
		return false
	}
	s.outsideLeft -= need
	o.spanned = true
	return true
}

func (g *gState) outsideState() *goOutside {
	if g.outside == nil {
		g.outside = &goOutside{}
	}
	return g.outside
}

// outsideRegionBegin numbers a region that goroutine g, working for no task, opened at now;
// it returns the region's index, -1 when it was cut.
func (s *state) outsideRegionBegin(g *gState, typ string, now trace.Time) int {
	if !s.reserve(g, 1) {
		return -1
	}
	o := g.outside
	r := GoroutineRegion{Region: Region{Type: typ, Goroutine: g.id, Start: now, Parent: g.innermostRegion(nil)}, Index: o.regions}
	o.regions++
	o.open = append(o.open, r)
	return r.Index
}

// outsideRegionEnd hands over region idx of goroutine g, ended at now (ended: by its end event).
func (s *state) outsideRegionEnd(g *gState, idx int, now trace.Time, ended bool) {
	o := g.outside
	for i := len(o.open) - 1; i >= 0; i-- {
		if o.open[i].Index != idx {
			continue
		}
		r := o.open[i]
		o.open = append(o.open[:i], o.open[i+1:]...)
		r.End, r.Ended = now, ended
		s.outside.GoroutineRegion(r)
		return
	}
}

// outsideContinuedRegion hands over a region outside tasks that began before the trace and
// ended at now.
func (s *state) outsideContinuedRegion(g *gState, typ string, now trace.Time) {
	if !s.reserve(g, 1) {
		return
	}
	o := g.outside
	r := GoroutineRegion{Region: Region{Type: typ, Goroutine: g.id, Start: s.tl.Start, End: now, Parent: -1,
		Continued: true, Ended: true}, Index: o.regions}
	o.regions++
	s.outside.GoroutineRegion(r)
}

// outsideLog hands over a log of goroutine g outside tasks.
func (s *state) outsideLog(g *gState, l Log) {
	o := g.outsideState()
	if o.logs >= MaxGoroutineLogs {
		s.tl.GoroutineCut++
		return
	}
	if !s.reserve(g, 0) {
		return
	}
	o.logs++
	s.outside.GoroutineLog(l)
}

// outsideEpisode hands over a blocking or syscall episode of goroutine g outside tasks.
func (s *state) outsideEpisode(g *gState, ep Episode) {
	if !programWait(ep) {
		return
	}
	if !s.reserve(g, 1) {
		return
	}
	if ep.Kind == Blocked {
		ep.Release = s.release(g.unblock) // only for the episodes kept: it reads a stack
	}
	s.outside.GoroutineEpisode(ep)
}

// outsideSince is when goroutine g's wait outside tasks began: the trace's start for one that
// began before the trace.
func (s *state) outsideSince(g *gState) trace.Time {
	if g.partial {
		return s.tl.Start
	}
	return g.since
}

// outsideSample hands over a CPU sample taken outside tasks, on goroutine g (nil for none).
func (s *state) outsideSample(g *gState, sm CPUSample) {
	sm.Region = -1
	spanned := false
	if g != nil {
		sm.Region = g.innermostRegion(nil)
		spanned = g.outside != nil && g.outside.spanned
	}
	s.outside.GoroutineSample(sm, spanned)
}

// outsideFinish hands over the regions outside tasks goroutine g still has open at now.
func (s *state) outsideFinish(g *gState, now trace.Time) {
	if g.outside == nil {
		return
	}
	for len(g.outside.open) > 0 {
		s.outsideRegionEnd(g, g.outside.open[len(g.outside.open)-1].Index, now, false)
	}
}

// Block reasons of the runtime's own goroutines (GC workers, the scavenger, the sweeper).
var runtimeReasons = []string{"system goroutine wait", "GC background sweeper wait"}

// observerFuncs are the functions (by prefix) of the goroutines that serve the trace and CPU
// profile to gostitch: their waits last as long as the window, and say nothing of the program.
var observerFuncs = []string{"net/http/pprof.", "runtime/pprof.profileWriter", "runtime/trace.(*traceMultiplexer)",
	"runtime/trace.Start.func1"}

// programWait says whether an episode outside tasks is the program's own wait: not one of the
// runtime's goroutines (by block reason, or a stack of runtime frames only) nor of those that
// observe the program. The trace gives no stack for a goroutine in its state since before the
// trace and first seen when it leaves it: such a syscall is kept (a read on a pipe that began
// before the window), but not such a block without a reason, which says neither where nor on
// what it waited and is as likely one of the runtime's own goroutines.
func programWait(ep Episode) bool {
	if slices.Contains(runtimeReasons, ep.Reason) {
		return false
	}
	if len(ep.Stack) == 0 {
		return ep.Kind == Syscall || ep.Reason != unknownReason
	}
	program := false
	for _, f := range ep.Stack {
		for _, o := range observerFuncs {
			if strings.HasPrefix(f.Func, o) {
				return false
			}
		}
		program = program || !strings.HasPrefix(f.Func, "runtime.")
	}
	return program
}
