package tracesrc

import (
	"slices"

	"golang.org/x/exp/trace"

	"github.com/gostitch/gostitch/receiver/internal/exectrace"
)

// scope is one entry of a goroutine's scope stack: a region (of a task, or of none when task
// is nil), a task the goroutine began, or a task it lingers in after leaving a region of it.
type scope struct {
	task     *taskState
	isRegion bool
	// linger marks the scope a goroutine keeps after its last region of an open task ended
	// while it worked for no other task: it goes on working for the task (between two regions,
	// say) until it blocks, begins a region, or the task ends.
	linger bool
	// region indexes task.t.Regions for a region of a task, and numbers a region outside
	// tasks among the goroutine's (GoroutineRegion.Index; -1 when not handed over).
	region int
}

// currentTask is the task of the innermost scope that has one: the task the goroutine works for.
func (g *gState) currentTask() *taskState {
	for i := len(g.scopes) - 1; i >= 0; i-- {
		if ts := g.scopes[i].task; ts != nil {
			return ts
		}
	}
	return nil
}

// innermostRegion indexes the goroutine's innermost region of task ts, -1 when none.
func (g *gState) innermostRegion(ts *taskState) int {
	for i := len(g.scopes) - 1; i >= 0; i-- {
		if sc := g.scopes[i]; sc.task == ts && sc.isRegion {
			return sc.region
		}
	}
	return -1
}

// dropLinger ends the goroutine's lingering in a task, if any; the caller sets its current task.
func (g *gState) dropLinger() {
	g.scopes = slices.DeleteFunc(g.scopes, func(sc scope) bool { return sc.linger })
}

// setCurrent moves g to the task its scopes now say it works for.
func (s *state) setCurrent(g *gState, now trace.Time) {
	next := g.currentTask()
	if next == g.cur {
		return
	}
	s.detach(g, now)
	if g.executing() {
		s.endRun(g, now)
		g.runStart = now
	}
	g.cur = next
	s.attach(g, now)
}

// regionBegin opens a region in the scope of the goroutine that began it.
func (s *state) regionBegin(ev *exectrace.Event) {
	g := s.gs.Get(ev.Goroutine)
	if g == nil {
		return
	}
	now := ev.Time
	g.dropLinger()
	sc := scope{isRegion: true, region: -1}
	if ev.Task != trace.BackgroundTask {
		sc.task = s.taskRef(ev.Task, g, now)
	} else if s.outsideOn() && noOpenTask(g.currentTask()) {
		sc.region = s.outsideRegionBegin(g, ev.Name, now)
	}
	if ts := sc.task; ts != nil {
		sc.region = len(ts.t.Regions)
		if ts.t.Regions == nil {
			ts.t.Regions = make([]Region, 0, 8) // one allocation for a typical task
		}
		ts.t.Regions = append(ts.t.Regions, Region{Type: ev.Name, Goroutine: g.id, Start: now, Parent: g.innermostRegion(ts)})
	}
	g.scopes = append(g.scopes, sc)
	s.setCurrent(g, now)
}

// regionEnd closes the goroutine's innermost region. A region that began before the trace is
// added to its task, enclosing the goroutine's outermost regions of the task so far.
func (s *state) regionEnd(ev *exectrace.Event) {
	g := s.gs.Get(ev.Goroutine)
	if g == nil {
		return
	}
	now := ev.Time
	for i := len(g.scopes) - 1; i >= 0; i-- {
		sc := g.scopes[i]
		if !sc.isRegion {
			continue
		}
		g.scopes = append(g.scopes[:i], g.scopes[i+1:]...)
		if sc.task == nil && sc.region >= 0 {
			s.outsideRegionEnd(g, sc.region, now, true)
		}
		if ts := sc.task; ts != nil && ts.open {
			reg := &ts.t.Regions[sc.region]
			reg.End, reg.Ended = now, true
			if g.currentTask() == nil {
				g.scopes = append(g.scopes, scope{task: ts, linger: true})
				ts.lingering = append(ts.lingering, g)
			}
		}
		s.setCurrent(g, now)
		return
	}
	if ev.Task == trace.BackgroundTask {
		if s.outsideOn() && noOpenTask(g.currentTask()) {
			s.outsideContinuedRegion(g, ev.Name, now)
		}
		return
	}
	ts := s.taskRef(ev.Task, g, now)
	if ts == nil {
		return
	}
	idx := len(ts.t.Regions)
	for i := range ts.t.Regions {
		if reg := &ts.t.Regions[i]; reg.Goroutine == g.id && reg.Parent < 0 && reg.End != 0 {
			reg.Parent = idx
		}
	}
	ts.t.Regions = append(ts.t.Regions, Region{Type: ev.Name, Goroutine: g.id, Start: ts.t.Start, End: now,
		Parent: -1, Continued: true, Ended: true})
}

// log adds a trace.Log call to its task.
func (s *state) log(ev *exectrace.Event) {
	if ev.Task == trace.BackgroundTask {
		if g := s.gs.Get(ev.Goroutine); g != nil && s.outsideOn() && noOpenTask(g.cur) {
			s.outsideLog(g, Log{Time: ev.Time, Goroutine: g.id, Category: ev.Name, Message: ev.Message})
		}
		return
	}
	now := ev.Time
	if ts := s.taskRef(ev.Task, s.gs.Get(ev.Goroutine), now); ts != nil {
		if ts.t.Logs == nil {
			ts.t.Logs = make([]Log, 0, 4)
		}
		ts.t.Logs = append(ts.t.Logs, Log{Time: now, Goroutine: ev.Goroutine, Category: ev.Name, Message: ev.Message})
	}
}

// cpuSample adds a CPU profile sample to the task its goroutine works for.
func (s *state) cpuSample(ev *exectrace.Event) {
	s.tl.CPUSamples++
	g := s.gs.Get(ev.Goroutine)
	if g == nil || g.cur == nil || g.cur.emitted {
		if s.outsideOn() {
			var id trace.GoID
			if g != nil {
				id = g.id
			}
			s.outsideSample(g, CPUSample{Time: ev.Time, Goroutine: id, Stack: s.sampleStacks.frames(s.tr, ev.Stack)})
		}
		return
	}
	t := g.cur.t
	t.Samples = append(t.Samples, CPUSample{Time: ev.Time, Goroutine: g.id, Region: g.innermostRegion(g.cur),
		Stack: s.sampleStacks.frames(s.tr, ev.Stack)})
}
