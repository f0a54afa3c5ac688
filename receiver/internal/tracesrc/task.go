package tracesrc

import (
	"cmp"
	"slices"
	"time"

	"golang.org/x/exp/trace"

	"github.com/gostitch/gostitch/receiver/internal/exectrace"
)

// class is what a goroutine working for a task is doing, in order of precedence.
type class uint8

const (
	classRunning class = iota
	classAssist
	classSyscall
	classRunnable
	classBlocked
	nClasses
)

// Breakdown buckets beyond the classes.
const (
	bucketSTW = int(nClasses) + iota
	bucketUntracked
	nBuckets
)

// taskState is the model's bookkeeping for one task.
type taskState struct {
	t            *Task
	task         Task // t points here: one allocation per task
	parent, root *taskState
	open         bool
	emitted      bool
	// named is set once an event of the trace names the task (begin, end, region, log, a child's
	// begin); activeBelow once a descendant closed that was not Idle. (The flags share a word:
	// taskState plus the allocator's header must stay within 768 bytes, its size class.)
	named, activeBelow bool
	// creator is the goroutine holding the task's task scope; lingering those that may hold a
	// linger scope of it.
	creator   *gState
	lingering []*gState
	// last is when the breakdown was last brought up to date.
	last trace.Time
	// n counts the goroutines working for the task or a descendant, per class.
	n [nClasses]int32
	// blocked lists those goroutines that are blocked, most recently blocked last; blockedBuf
	// spares an allocation for the usual one or two.
	blocked    []blockedRef
	blockedBuf [2]blockedRef
	acc        [nBuckets]time.Duration
	// blockedFew and blockedMore hold the blocked time per interned reason (the runtime has
	// fewer than 20 reasons, so the first ones need no allocation).
	blockedFew  [16]time.Duration
	blockedMore []time.Duration
	// idle is the current stretch with no goroutine working for the task (handoff.go).
	idle idleStretch
	// pending holds the ended descendants whose nearest open ancestor was this task when they
	// ended, in the order they ended.
	pending []*taskState
}

type blockedRef struct {
	g      trace.GoID
	reason int
}

// model returns the task's model, nil for a nil state.
func (ts *taskState) model() *Task {
	if ts == nil {
		return nil
	}
	return ts.t
}

// flush brings the breakdown up to now.
func (ts *taskState) flush(now trace.Time, stw bool) {
	d := now.Sub(ts.last)
	ts.last = now
	if d <= 0 {
		return
	}
	b := bucketUntracked
	for c := range nClasses {
		if ts.n[c] > 0 {
			b = int(c)
			break
		}
	}
	switch {
	case stw && (b == int(classRunning) || b == int(classAssist) || b == int(classRunnable)):
		b = bucketSTW
	case b == int(classBlocked):
		*ts.blockedTime(ts.blocked[len(ts.blocked)-1].reason) += d
		return
	}
	ts.acc[b] += d
}

// blockedTime is the accumulator of blocked time for reason r.
func (ts *taskState) blockedTime(r int) *time.Duration {
	if r < len(ts.blockedFew) {
		return &ts.blockedFew[r]
	}
	r -= len(ts.blockedFew)
	if r >= len(ts.blockedMore) {
		ts.blockedMore = append(ts.blockedMore, make([]time.Duration, r+1-len(ts.blockedMore))...)
	}
	return &ts.blockedMore[r]
}

// add counts goroutine g, in class c, as working for the task.
func (ts *taskState) add(g *gState, c class) {
	ts.n[c]++
	if c == classBlocked {
		ts.blocked = append(ts.blocked, blockedRef{g.id, g.reason})
	}
}

// remove stops counting goroutine g, in class c.
func (ts *taskState) remove(g *gState, c class) {
	ts.n[c]--
	if c == classBlocked {
		if i := slices.IndexFunc(ts.blocked, func(b blockedRef) bool { return b.g == g.id }); i >= 0 {
			ts.blocked = slices.Delete(ts.blocked, i, i+1)
		}
	}
}

// detach stops counting g for its task and the task's open ancestors; attach counts it again.
// A change of g's task happens between the two.
func (s *state) detach(g *gState, now trace.Time) {
	c := g.class()
	for ts := g.cur; ts != nil; ts = ts.parent {
		if ts.open {
			ts.flush(now, s.stw)
			ts.remove(g, c)
			if ts.n == ([nClasses]int32{}) {
				s.left(ts, g, now)
			}
		}
	}
}

func (s *state) attach(g *gState, now trace.Time) {
	c := g.class()
	for ts := g.cur; ts != nil; ts = ts.parent {
		if ts.open {
			ts.flush(now, s.stw)
			if ts.idle.since != 0 {
				s.tookUp(ts, g, now)
			}
			ts.add(g, c)
		}
	}
}

// reclass moves g's count in its task and open ancestors from class old to its class now.
func (s *state) reclass(g *gState, old class, now trace.Time) {
	c := g.class()
	if c == old && c != classBlocked {
		return
	}
	for ts := g.cur; ts != nil; ts = ts.parent {
		if ts.open {
			ts.flush(now, s.stw)
			ts.remove(g, old)
			ts.add(g, c)
		}
	}
}

// newTask opens a task at start.
func (s *state) newTask(id trace.TaskID, typ string, parent *taskState, start trace.Time) *taskState {
	ts := &taskState{task: Task{ID: id, Type: typ, Start: start, End: start, Began: start, ParentRegion: -1}, open: true, last: start}
	ts.t, ts.blocked = &ts.task, ts.blockedBuf[:0]
	s.setParent(ts, parent)
	s.open[id] = ts
	return ts
}

func (s *state) setParent(ts *taskState, parent *taskState) {
	ts.parent, ts.root, ts.t.Parent, ts.t.Root = parent, ts, nil, ts.t
	if parent != nil {
		ts.root, ts.t.Parent, ts.t.Root = parent.root, parent.t, parent.root.t
		parent.t.Children = append(parent.t.Children, ts.t)
	}
}

// taskRef returns the open task a region, log or task refers to. A task the trace has not
// shown before began before the trace: it is opened as continued, and goroutine g (when not
// nil and working for no task) is taken as the goroutine working for it. A task that has
// ended in this trace gives nil.
func (s *state) taskRef(id trace.TaskID, g *gState, now trace.Time) *taskState {
	if ts := s.open[id]; ts != nil {
		ts.named = true
		return ts
	}
	if id >= s.minBegun || s.endedEarlier[id] {
		return nil
	}
	ts := s.newTask(id, "", nil, s.tl.Start)
	ts.t.Began, ts.t.Continued, ts.named = 0, true, true
	if g != nil && g.cur == nil {
		ts.creator, ts.t.Goroutine = g, g.id
		g.scopes = slices.Insert(g.scopes, 0, scope{task: ts})
		g.notePickup(now)
		s.setCurrent(g, now)
	}
	return ts
}

// taskBegin opens a task and puts it in scope of the goroutine that began it.
func (s *state) taskBegin(ev *exectrace.Event) {
	id, now := ev.Task, ev.Time
	if s.open[id] != nil {
		return
	}
	s.minBegun = min(s.minBegun, id)
	var parent *taskState
	if ev.Parent != trace.NoTask {
		parent = s.taskRef(ev.Parent, nil, now)
	}
	ts := s.newTask(id, ev.Name, parent, now)
	g := s.gs.Get(ev.Goroutine)
	if g == nil {
		return
	}
	ts.creator, ts.t.Goroutine = g, g.id
	s.noteCarrier(g, ts)
	if parent != nil {
		ts.t.ParentRegion = g.innermostRegion(parent)
	}
	g.scopes = append(g.scopes, scope{task: ts})
	s.setCurrent(g, now)
}

// taskEnd closes a task.
func (s *state) taskEnd(ev *exectrace.Event) {
	ts := s.taskRef(ev.Task, nil, ev.Time)
	if ts == nil {
		return
	}
	if ts.t.Type == "" {
		ts.t.Type = ev.Name
	}
	s.closeTask(ts, ev.Time, true)
}

// closeTask ends a task at now and hands it over once its root has ended.
func (s *state) closeTask(ts *taskState, now trace.Time, ended bool) {
	ts.flush(now, s.stw)
	ts.open = false
	delete(s.open, ts.t.ID)
	t := ts.t
	if t.Continued {
		s.endedEarlier[t.ID] = true
	}
	t.End, t.Ended = now, ended
	for i := range t.Regions {
		if r := &t.Regions[i]; !r.Ended && r.End == 0 {
			r.End = now
		}
	}
	if g := ts.creator; g != nil {
		ts.creator = nil
		if i := slices.IndexFunc(g.scopes, func(sc scope) bool { return sc.task == ts && !sc.isRegion && !sc.linger }); i >= 0 {
			g.scopes = slices.Delete(g.scopes, i, i+1)
			s.setCurrent(g, now)
		}
	}
	for _, g := range ts.lingering {
		if i := slices.IndexFunc(g.scopes, func(sc scope) bool { return sc.task == ts && sc.linger }); i >= 0 {
			g.scopes = slices.Delete(g.scopes, i, i+1)
			s.setCurrent(g, now)
		}
	}
	ts.lingering = nil
	t.Time = ts.breakdown(s.reasons)
	t.Idle = t.Continued && !ended && !ts.named && !ts.activeBelow
	if !t.Idle {
		for p := ts.parent; p != nil && !p.activeBelow; p = p.parent {
			p.activeBelow = true
		}
	}
	for p := ts.parent; p != nil; p = p.parent {
		if p.open {
			p.pending = append(p.pending, ts)
			return
		}
	}
	s.emitTree(ts)
}

// emitTree hands over a task whose ancestors have all ended, then the ended tasks below it that
// waited for it, each before its descendants.
func (s *state) emitTree(ts *taskState) {
	s.emit(ts)
	for _, p := range ts.pending {
		s.emitTree(p)
	}
	ts.pending = nil
}

// breakdown converts the accumulated times.
func (ts *taskState) breakdown(reasons []string) Breakdown {
	b := Breakdown{
		Running:   ts.acc[classRunning],
		GCAssist:  ts.acc[classAssist],
		Syscall:   ts.acc[classSyscall],
		Runnable:  ts.acc[classRunnable],
		STW:       ts.acc[bucketSTW],
		Untracked: ts.acc[bucketUntracked],
	}
	n := 0
	for r := range len(ts.blockedFew) + len(ts.blockedMore) {
		if *ts.blockedTime(r) > 0 {
			n++
		}
	}
	if n > 0 {
		b.Blocked = make([]BlockedTime, 0, n)
	}
	for r := range len(ts.blockedFew) + len(ts.blockedMore) {
		if d := *ts.blockedTime(r); d > 0 {
			b.Blocked = append(b.Blocked, BlockedTime{Reason: reasons[r], Time: d})
		}
	}
	return b
}

func (s *state) emit(ts *taskState) {
	ts.emitted = true
	s.tl.Tasks++
	s.tl.Regions += len(ts.t.Regions)
	s.tl.Logs += len(ts.t.Logs)
	s.h.Task(ts.t)
}

// openTasksDescending lists the open tasks, children (higher ids) first.
func (s *state) openTasksDescending() []*taskState {
	tasks := make([]*taskState, 0, len(s.open))
	for _, ts := range s.open {
		tasks = append(tasks, ts)
	}
	slices.SortFunc(tasks, func(a, b *taskState) int { return cmp.Compare(b.t.ID, a.t.ID) })
	return tasks
}

// restoreEarlier opens the tasks of the previous trace that were still open at its end.
func (s *state) restoreEarlier() {
	start := s.tl.Start
	for _, e := range s.opts.Earlier {
		if s.open[e.ID] != nil {
			continue
		}
		ts := s.newTask(e.ID, e.Type, nil, start)
		ts.t.Began, ts.t.Continued, ts.t.Goroutine = e.Began, true, e.Goroutine
		if e.Goroutine != 0 {
			if s.creators == nil {
				s.creators = make(map[trace.GoID][]*taskState)
			}
			s.creators[e.Goroutine] = append(s.creators[e.Goroutine], ts)
		}
	}
	for _, e := range s.opts.Earlier {
		if p := s.open[e.Parent]; p != nil && e.Parent != e.ID && !p.descendsFrom(s.open[e.ID]) {
			s.setParent(s.open[e.ID], p)
		}
	}
	for _, ts := range s.open { // roots are known once every parent is linked
		r := ts
		for r.parent != nil {
			r = r.parent
		}
		ts.root, ts.t.Root = r, r.t
	}
}

// descendsFrom reports whether ts is anc or below it.
func (ts *taskState) descendsFrom(anc *taskState) bool {
	for x := ts; x != nil; x = x.parent {
		if x == anc {
			return true
		}
	}
	return false
}
