// Package exectrace reads Go execution traces (the format of Go 1.22 to 1.26) into the events
// gostitch's model needs, in the order the runtime's scheduler implies: goroutine state
// transitions, tasks, regions, logs, GC and stop-the-world ranges, CPU samples and the clock
// snapshot of each generation.
//
// It decodes the wire format itself instead of going through golang.org/x/exp/trace, whose
// per-event validation and event construction cost more than gostitch's whole model; it keeps
// x/exp/trace's vocabulary (ids, states, frames, times) and its ordering rules, and its tests
// compare every event with x/exp/trace's reading of the same real traces. Events the model has
// no use for (P transitions, heap metrics, labels, sweeps, experimental data) are decoded for
// ordering and timing but not handed out.
//
// Its place among the layers: docs/design.md, "Layers".
package exectrace

import "golang.org/x/exp/trace"

// Kind says what an Event is.
type Kind uint8

// Kinds of events handed out.
const (
	// Sync starts a generation (Clock set when the trace has a snapshot) and ends the trace.
	Sync Kind = iota + 1
	// Transition is a goroutine state transition of Subject.
	Transition
	// RangeBegin, RangeActive and RangeEnd bound a Range; RangeActive says one was already
	// going when the generation began.
	RangeBegin
	RangeActive
	RangeEnd
	// TaskBegin and TaskEnd bound Task (type Name, parent Parent).
	TaskBegin
	TaskEnd
	// RegionBegin and RegionEnd bound a region of type Name in Task on Goroutine.
	RegionBegin
	RegionEnd
	// Log is a trace.Log call in Task: category Name, message Message.
	Log
	// Sample is a CPU profile sample of Goroutine on Thread, with its Stack.
	Sample
)

// Range is a kind of time range.
type Range uint8

// Ranges handed out.
const (
	// GCMark is a GC cycle's concurrent mark phase.
	GCMark Range = iota + 1
	// GCAssist is a goroutine (Subject) assisting the GC.
	GCAssist
	// STW is a stop-the-world phase, Name its kind (e.g. "GC mark termination").
	STW
)

// StackID names a stack in the current generation's table; NoStack is none.
type StackID uint64

// NoStack is the absent stack.
const NoStack StackID = 0

// Event is one event of the trace. Fields that do not apply to its Kind are zero.
type Event struct {
	Kind Kind
	Time trace.Time
	// Thread is the OS thread the event happened on, trace.NoThread when none; Goroutine is
	// the goroutine running there, trace.NoGoroutine when none.
	Thread    trace.ThreadID
	Goroutine trace.GoID

	// Subject, From and To describe a Transition (Subject is also the assisting goroutine
	// of a GCAssist range); Reason is why a goroutine blocked or stopped.
	Subject  trace.GoID
	From, To trace.GoState
	Reason   string
	// Stack is the goroutine's stack at a Transition (blocking, syscall, status or, for a
	// created goroutine, where it starts; for an unblock, the stack of Goroutine where it
	// released the wait), the sampled stack of a Sample, else the stack of the event.
	Stack StackID

	// Task, Parent, Name and Message describe tasks, regions and logs; Name is also an STW
	// range's kind.
	Task, Parent trace.TaskID
	Name         string
	Message      string
	Range        Range

	// Clock is a Sync's snapshot of the trace, monotonic and wall clocks.
	Clock *trace.ClockSnapshot
}

// reset makes a reused event a new one at t on thread m with goroutine g. Most events carry no
// string and no clock, so those fields are written only when set: a pointer write costs a write
// barrier while the GC runs, and a trace is read at some 10⁷ events a second.
func (ev *Event) reset(t trace.Time, m trace.ThreadID, g trace.GoID) {
	ev.Kind, ev.Time, ev.Thread, ev.Goroutine = 0, t, m, g
	ev.Subject, ev.From, ev.To, ev.Stack = 0, 0, 0, NoStack
	ev.Task, ev.Parent, ev.Range = 0, 0, 0
	if ev.Reason != "" {
		ev.Reason = ""
	}
	if ev.Name != "" {
		ev.Name = ""
	}
	if ev.Message != "" {
		ev.Message = ""
	}
	if ev.Clock != nil {
		ev.Clock = nil
	}
}
