package tracesrc

import (
	"errors"
	"fmt"
	"io"
	"slices"

	"golang.org/x/exp/trace"

	"github.com/gostitch/gostitch/receiver/internal/exectrace"
	"github.com/gostitch/gostitch/receiver/internal/idmap"
)

// Read reads one execution trace from r and hands its tasks, stop-the-world phases and waits
// to h as they complete. It returns the timeline and, for a trace that is truncated or
// corrupt, an error after handing over everything read up to that point: tasks still open
// are handed over with Ended unset. An unsupported trace version is named in the error.
func Read(r io.Reader, opts Options, h Handler) (*Timeline, error) {
	tr, err := exectrace.NewReader(r)
	if err != nil {
		return nil, fmt.Errorf("execution trace: %w", err)
	}
	s := newState(opts, h, tr)
	for {
		ev, err := tr.Next()
		if err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			s.finish()
			return s.tl, fmt.Errorf("execution trace cut short after %d events (%v of trace time): %w",
				s.tl.Events, s.tl.End.Sub(s.tl.Start), err)
		}
		s.event(ev)
	}
	s.finish()
	return s.tl, nil
}

// state is the streaming model while a trace is read.
type state struct {
	opts   Options
	h      Handler
	tl     *Timeline
	tr     *exectrace.Reader
	stacks stackCache
	// names names syscall and flow-control stacks (syscalls.go).
	names stackNames
	// sampleStacks caches the deeper stacks of CPU samples.
	sampleStacks stackCache
	// tlsClasses caches what stacks say of TLS handshakes and dials (tls.go).
	tlsClasses stackClasses
	// gs holds the live goroutines.
	gs idmap.Map[trace.GoID, gState]
	// open holds the open tasks.
	open map[trace.TaskID]*taskState
	// minBegun is the lowest task id begun in this trace (task ids only grow), so a reference
	// to an unknown task below it is to a task that began before the trace.
	minBegun trace.TaskID
	// endedEarlier holds the tasks that began before the trace and ended in it.
	endedEarlier map[trace.TaskID]bool
	// creators maps goroutines not yet seen to the earlier tasks they began.
	creators map[trace.GoID][]*taskState
	// reasons interns block reasons; reason indexes are used in per-task accounting.
	reasons   []string
	stw       bool
	stwStart  trace.Time
	stwReason string
	gcs       int
	started   bool
	// lastOnThread holds each thread's latest event, while thread intervals are kept.
	lastOnThread idmap.Map[trace.ThreadID, trace.Time]
	// outside receives the work outside tasks, nil when not asked for; outsideLeft is how
	// many places for it are left (see reserve).
	outside     GoroutineHandler
	outsideLeft int
	// evStack is the stack of the event being applied (a StackID, not the event: no pointer
	// write, and no write barrier, per event).
	evStack exectrace.StackID
}

func newState(opts Options, h Handler, tr *exectrace.Reader) *state {
	if opts.StackDepth <= 0 {
		opts.StackDepth = DefaultStackDepth
	}
	tl := &Timeline{wallOffset: hostWallOffset()}
	if opts.Threads != NoThreadIntervals {
		tl.Threads = make(map[trace.ThreadID][]RunInterval)
		tl.NetWakes = make(map[trace.GoID][]NetWake)
		tl.Creators = make(map[trace.GoID]trace.GoID)
		tl.Leads = make(map[trace.TaskID]Lead)
	}
	s := &state{
		opts:         opts,
		h:            h,
		tl:           tl,
		tr:           tr,
		stacks:       stackCache{depth: opts.StackDepth},
		sampleStacks: stackCache{depth: SampleStackDepth},
		open:         make(map[trace.TaskID]*taskState),
		minBegun:     trace.NoTask,
		endedEarlier: make(map[trace.TaskID]bool),
	}
	if gh, ok := h.(GoroutineHandler); ok && opts.MaxGoroutineSpans > 0 {
		s.outside, s.outsideLeft = gh, opts.MaxGoroutineSpans
	}
	return s
}

// event updates the model with one event.
func (s *state) event(ev *exectrace.Event) {
	s.tl.End, s.evStack = ev.Time, ev.Stack
	s.noteThread(ev)
	switch ev.Kind {
	case exectrace.Sync:
		s.sync(ev)
	case exectrace.Transition:
		s.transition(ev)
	case exectrace.RangeBegin, exectrace.RangeActive, exectrace.RangeEnd:
		s.rangeEvent(ev)
	case exectrace.TaskBegin:
		s.taskBegin(ev)
	case exectrace.TaskEnd:
		s.taskEnd(ev)
	case exectrace.RegionBegin:
		s.regionBegin(ev)
	case exectrace.RegionEnd:
		s.regionEnd(ev)
	case exectrace.Log:
		s.log(ev)
	case exectrace.Sample:
		s.cpuSample(ev)
	}
}

// sync starts a generation: stacks of the previous one are dropped.
func (s *state) sync(ev *exectrace.Event) {
	s.tl.Generations++
	s.stacks.reset()
	s.names.reset()
	s.sampleStacks.reset()
	s.tlsClasses.reset()
	s.tl.setClock(ev.Clock)
	if !s.started {
		s.started = true
		s.tl.Start = ev.Time
		s.h.Begin(s.tl)
		s.restoreEarlier()
	}
}

// finish closes what is still open at the end of the trace and hands it over.
func (s *state) finish() {
	s.tl.Events = s.tr.Events()
	if !s.started {
		return
	}
	now := s.tl.End
	for _, id := range slices.Sorted(s.gs.Keys()) { // episode order makes span ids
		g := s.gs.Get(id)
		s.endOpenWait(g, now)
		s.tlsFinish(g, true)
		s.outsideFinish(g, now)
		if g.executing() {
			s.endRun(g, s.runEnd(g, now))
			g.runStart = now // closing its open tasks below keeps no second interval
		}
	}
	for _, ts := range s.openTasksDescending() {
		s.closeTask(ts, now, false)
	}
}
