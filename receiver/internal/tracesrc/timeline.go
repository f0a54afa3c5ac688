package tracesrc

import (
	"sort"
	"time"

	"golang.org/x/exp/trace"
	"golang.org/x/sys/unix"
)

// Timeline is what a read yields besides the tasks handed to the Handler.
type Timeline struct {
	// Start and End are the times of the trace's first and last events.
	Start, End trace.Time
	// Clock relates trace time to CLOCK_MONOTONIC and wall time (Go 1.25+ traces); nil before.
	Clock *trace.ClockSnapshot
	// Events counts the events read; Generations counts the trace's generations.
	Events, Generations int
	// Tasks, Regions and Logs count what was handed over in tasks; CPUSamples counts all
	// CPU profile samples in the trace.
	Tasks, Regions, Logs, CPUSamples int
	// GoroutineCut counts the regions, logs and episodes outside tasks cut by
	// Options.MaxGoroutineSpans or MaxGoroutineLogs.
	GoroutineCut int
	// Threads holds, per OS thread (the trace's M), the intervals a goroutine executed on it,
	// sorted by start; filled as Options.Threads asks.
	Threads map[trace.ThreadID][]RunInterval
	// NetWakes holds, per goroutine, its wakeups by the netpoller in time order, filled with
	// Threads: with TaskThreadIntervals only those of goroutines working for a task when woken,
	// and of goroutines that began one before (carriers.go).
	NetWakes map[trace.GoID][]NetWake
	// Creators maps each goroutine that began a task to the goroutine that created it, when the
	// trace saw the creation; filled with Threads (carriers.go).
	Creators map[trace.GoID]trace.GoID
	// Leads holds, per task a goroutine began while working for no task, what the goroutine did
	// just before; filled with Threads (carriers.go).
	Leads map[trace.TaskID]Lead

	// wallOffset converts trace time to Unix nanoseconds, monoOffset to CLOCK_MONOTONIC.
	wallOffset, monoOffset int64
}

// ThreadIntervals selects which goroutine intervals Timeline.Threads keeps.
type ThreadIntervals uint8

// Thread interval selections. Each interval costs 32 bytes, and a busy process switches
// goroutines some 10⁴–10⁵ times a second, so AllThreadIntervals costs roughly as much memory as
// the trace's own size; TaskThreadIntervals keeps only intervals of goroutines working for a task,
// and of carriers between their tasks (carriers.go).
const (
	NoThreadIntervals ThreadIntervals = iota
	TaskThreadIntervals
	AllThreadIntervals
)

// RunInterval is a span of time one goroutine executed (ran or was in a syscall) on a thread.
type RunInterval struct {
	Start, End trace.Time
	Goroutine  trace.GoID
	// Task is the task the goroutine worked for, trace.NoTask when none.
	Task trace.TaskID
}

// Wall converts a trace timestamp to wall-clock time, by the trace's clock snapshot or, for
// traces without one, by this host's CLOCK_MONOTONIC (trace time is CLOCK_MONOTONIC on Linux).
func (tl *Timeline) Wall(t trace.Time) time.Time {
	return time.Unix(0, tl.UnixNano(t))
}

// UnixNano is Wall in nanoseconds since the Unix epoch.
func (tl *Timeline) UnixNano(t trace.Time) int64 {
	return int64(t) + tl.wallOffset
}

// Mono converts a trace timestamp to CLOCK_MONOTONIC nanoseconds (the clock of eBPF's
// bpf_ktime_get_ns), by the trace's clock snapshot; without one the two are taken as equal.
func (tl *Timeline) Mono(t trace.Time) int64 {
	return int64(t) + tl.monoOffset
}

// FromMono converts CLOCK_MONOTONIC nanoseconds to trace time, the inverse of Mono.
func (tl *Timeline) FromMono(ns int64) trace.Time {
	return trace.Time(ns - tl.monoOffset)
}

// MonoWallOffset converts CLOCK_MONOTONIC nanoseconds to Unix nanoseconds (Unix = mono +
// offset) by the clock this trace's spans are placed by, so other sources of the same window
// (eBPF events) land where the trace's spans are.
func (tl *Timeline) MonoWallOffset() int64 {
	return tl.wallOffset - tl.monoOffset
}

// RunningOn returns the interval in which a goroutine executed on thread m at time t.
func (tl *Timeline) RunningOn(m trace.ThreadID, t trace.Time) (RunInterval, bool) {
	ivs := tl.Threads[m]
	lo := sort.Search(len(ivs), func(i int) bool { return ivs[i].End > t })
	if lo < len(ivs) && ivs[lo].Start <= t {
		return ivs[lo], true
	}
	return RunInterval{}, false
}

// setClock records the clock snapshot of the trace's first generation that has one.
func (tl *Timeline) setClock(c *trace.ClockSnapshot) {
	if c == nil || tl.Clock != nil {
		return
	}
	tl.Clock = c
	tl.wallOffset = c.Wall.UnixNano() - int64(c.Trace)
	tl.monoOffset = int64(c.Mono) - int64(c.Trace)
}

// hostWallOffset is wall minus CLOCK_MONOTONIC on this host, the fallback for old traces.
func hostWallOffset() int64 {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		return 0
	}
	return time.Now().UnixNano() - ts.Nano()
}
