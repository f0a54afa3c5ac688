// Package tracesrc reads a Go execution trace as a stream (through exectrace, for Go 1.22 to
// 1.26 traces) and turns it into a timeline model: tasks with their regions, logs, blocking and
// syscall episodes and time breakdown, stop-the-world phases, scheduling and blocking waits, CPU
// samples, the clock snapshot and per-thread goroutine intervals; and, for a GoroutineHandler,
// the regions, logs, waits and CPU samples of goroutines working for no task (outside.go).
//
// Memory grows with the open tasks and live goroutines, never with the trace's size: every
// task is handed to a Handler once it and its ancestors have ended, waits are handed over as
// they end, and nothing else is kept per event. (Thread intervals and netpoller wakeups, when
// asked for, are the exception; see ThreadIntervals and NetWake.)
//
// # Which goroutines work for a task
//
// The trace does not say which goroutine works for which task; tracesrc decides it from the
// annotations. A goroutine works for task T while
//   - it is inside a region of T, or
//   - it began T (trace.NewTask), until T ends,
//
// whichever it entered last: a region of another task, or a task it began later, takes over
// until it ends. A goroutine working for a task also works for the task's ancestors. For a task
// that began before the trace (Earlier, or a FlightRecorder snapshot), the goroutine that began
// it is known from Earlier, or else taken to be the first goroutine that acts for it (region,
// log) while working for no task.
//
// Task.Time splits the task's wall time by the most active state among the goroutines working
// for it at each instant (see Breakdown), so its parts add up to the wall time exactly.
//
// Its place among the layers: docs/design.md, "Layers" and "One window".
package tracesrc

import (
	"time"

	"golang.org/x/exp/trace"
)

// Task is one runtime/trace task as seen in one trace.
type Task struct {
	ID trace.TaskID
	// Type is the task type given to trace.NewTask; empty when the trace does not say.
	Type string
	// Parent is the parent task, nil for a root task or a parent the trace does not show.
	Parent *Task
	// ParentRegion indexes the region of Parent the task began in, -1 when none.
	ParentRegion int
	// Root is the root of the task tree, the task itself for a root.
	Root *Task
	// Children holds the child tasks seen in this trace, in the order they began.
	Children []*Task
	// Start and End bound the task within this trace.
	Start, End trace.Time
	// Began is when the task began: Start, an earlier time from Options.Earlier, or 0 when the
	// task began before the trace at an unknown time.
	Began trace.Time
	// Continued is set when the task began before this trace.
	Continued bool
	// Ended is set when the trace shows the task's end; otherwise End is the end of the trace.
	Ended bool
	// Idle is set for a task that began before the trace and outlasted it while no event of the
	// trace named it or a descendant (no region, log, end or child task): its end may well have
	// fallen between two traces, and whatever its goroutine did meanwhile may not be its work.
	Idle bool
	// Mark belongs to the Handler: tracesrc neither sets nor reads it (next to the flags, it
	// takes no room of its own).
	Mark uint8
	// Goroutine began the task (or, for a continued task, first acted for it); 0 when unknown.
	Goroutine trace.GoID
	// Regions holds the task's regions in the order they began.
	Regions []Region
	// Logs holds the task's trace.Log calls in time order.
	Logs []Log
	// Episodes holds the blocking and syscall episodes of the task's goroutines that lasted at
	// least Options.MinSpanDuration.
	Episodes []Episode
	// Handshakes holds the TLS handshakes of the task's goroutines (tls.go), in the order they ended.
	Handshakes []Handshake
	// STWs holds the stop-the-world phases that overlapped the task.
	STWs []STW
	// Time breaks the task's wall time [Start, End] down by what its goroutines did.
	Time Breakdown
	// Samples holds the CPU profile samples taken while a goroutine worked for the task, in
	// time order.
	Samples []CPUSample
	// Handoffs holds the stretches with no goroutine working for the task that one goroutine
	// handed over to another (handoff.go), in time order.
	Handoffs []Handoff
}

// CPUSample is one CPU profile sample (an EventStackSample) taken on a goroutine working for a task.
type CPUSample struct {
	Time      trace.Time
	Goroutine trace.GoID
	// Region indexes the goroutine's innermost region of the task at the sample, -1 for none.
	Region int
	// Stack holds the sampled stack, innermost frame first, up to SampleStackDepth frames;
	// samples of one stack in one generation share the slice.
	Stack []trace.StackFrame
}

// SampleStackDepth is the number of frames a CPU sample keeps (runtime/pprof records up to 64
// for the CPU profile too).
const SampleStackDepth = 64

// Region is one runtime/trace region of a task.
type Region struct {
	Type      string
	Goroutine trace.GoID
	// Start and End bound the region within this trace (and within its task).
	Start, End trace.Time
	// Parent indexes the enclosing region of the same task, -1 for the task itself.
	Parent int
	// Continued is set when the region began before the trace.
	Continued bool
	// Ended is set when the trace shows the region's end (not the task's or the trace's end).
	Ended bool
}

// Log is one trace.Log call in a task.
type Log struct {
	Time      trace.Time
	Goroutine trace.GoID
	Category  string
	Message   string
}

// EpisodeKind says what a goroutine waited on.
type EpisodeKind uint8

// Episode kinds.
const (
	// Blocked: the goroutine waited for an event (channel, lock, network, sleep, ...).
	Blocked EpisodeKind = iota
	// Syscall: the goroutine was in a system call.
	Syscall
)

// Episode is one interval a goroutine of a task spent blocked or in a system call.
type Episode struct {
	Kind EpisodeKind
	// Reason is the block reason: the runtime's, e.g. "chan receive", or FlowControl
	// (flowcontrol.go). For a syscall it names the system call, e.g. "fsync" (syscalls.go),
	// empty when the stack names none.
	Reason    string
	Goroutine trace.GoID
	// Thread is the OS thread the goroutine ran on when the episode began.
	Thread     trace.ThreadID
	Start, End trace.Time
	// Region indexes the task's innermost region of the goroutine at the start, -1 for none.
	Region int
	// Stack holds the top frames of the goroutine's stack at the start, innermost first.
	Stack []trace.StackFrame
	// Partial is set when the episode began before the trace or outlasted it.
	Partial bool
	// Resumed is the goroutine's run right after a network block (netrun.go); zero for other
	// episodes, or when the trace shows no run of it while the task was open.
	Resumed Run
	// Release says who ended a blocking episode (unblock.go); Goroutine 0 when none did.
	Release Release
}

// STW is one stop-the-world phase.
type STW struct {
	// Reason is the runtime's reason, e.g. "GC mark termination".
	Reason     string
	Start, End trace.Time
	// GC numbers the GC cycle of a GC stop-the-world within the trace (from 1); 0 otherwise.
	GC int
}

// Breakdown splits a task's wall time by the state of the goroutines working for it. At each
// instant the most active state among them counts: running, then GC assist, syscall,
// runnable, blocked (the reason of the goroutine that blocked last), and Untracked when no
// goroutine is known to work for the task. Running, GC assist and runnable time inside a
// stop-the-world phase counts as STW. The parts add up to the wall time exactly.
type Breakdown struct {
	Running, GCAssist, Syscall, Runnable, STW, Untracked time.Duration
	// Blocked holds the blocked time per reason, in the order the reasons first occur in the trace.
	Blocked []BlockedTime
}

// BlockedTime is the time blocked for one reason.
type BlockedTime struct {
	Reason string
	Time   time.Duration
}

// Total is the sum of all parts.
func (b Breakdown) Total() time.Duration {
	sum := b.Running + b.GCAssist + b.Syscall + b.Runnable + b.STW + b.Untracked
	for _, bt := range b.Blocked {
		sum += bt.Time
	}
	return sum
}

// WaitKind says which wait a Wait measures.
type WaitKind uint8

// Wait kinds.
const (
	// Scheduling: runnable until running (scheduler latency).
	Scheduling WaitKind = iota
	// Blocking: blocked until runnable.
	Blocking
	// InSyscall: in a system call until it returned.
	InSyscall
)

// Wait is one complete wait of a goroutine, for the duration metrics.
type Wait struct {
	Kind WaitKind
	// Reason is the block reason of a Blocking wait, the system call's name of an InSyscall
	// one (as Episode.Reason).
	Reason     string
	Goroutine  trace.GoID
	Start, End trace.Time
	// Task is the task the goroutine worked for when the wait began, nil for none.
	Task *Task
	// Episode indexes the wait in Task.Episodes, -1 when it is not one.
	Episode int
}

// Handler receives the model as it is read. It must not keep the Task values it is given past
// the end of the read unless it means to keep them alive.
type Handler interface {
	// Begin is called once, at the trace's first event, with the timeline being filled.
	Begin(tl *Timeline)
	// Task is called once per task, when the task and all its ancestors have ended, or at the
	// end of the trace. A task is handed over before its descendants.
	Task(t *Task)
	// STW is called when a stop-the-world phase ends, after it was added to the tasks it overlapped.
	STW(s STW)
	// Wait is called when a goroutine's scheduling or blocking wait or its system call ends.
	Wait(w Wait)
}

// Earlier describes a task that was open at the end of an earlier trace of the same process.
type Earlier struct {
	ID     trace.TaskID
	Parent trace.TaskID
	Type   string
	// Began is when the task began, 0 when unknown.
	Began trace.Time
	// Goroutine began the task, 0 when unknown.
	Goroutine trace.GoID
}

// Options control what Read keeps.
type Options struct {
	// MinSpanDuration is the shortest blocking or syscall episode kept in Task.Episodes.
	MinSpanDuration time.Duration
	// StackDepth is how many top frames an episode keeps; 0 means DefaultStackDepth.
	StackDepth int
	// Threads selects the goroutine intervals kept per OS thread in Timeline.Threads.
	Threads ThreadIntervals
	// Earlier lists the tasks open at the end of the previous trace of the same process, so
	// tasks that span traces keep their type, parent, start and goroutine.
	Earlier []Earlier
	// MaxGoroutineSpans bounds the work outside tasks handed to a Handler that implements
	// GoroutineHandler (see outside.go); 0 hands none, nor the CPU samples outside tasks.
	MaxGoroutineSpans int
}

// DefaultStackDepth is the number of frames an episode keeps by default.
const DefaultStackDepth = 16
