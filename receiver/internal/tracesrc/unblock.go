package tracesrc

import (
	"strings"

	"golang.org/x/exp/trace"

	"github.com/gostitch/gostitch/receiver/internal/exectrace"
)

// Release says who ended a blocking wait: the goroutine that made the waiting one runnable
// (the trace's unblock event), where it did, and what it was working for then.
type Release struct {
	// Goroutine released the wait; 0 when no goroutine did (the netpoller or a timer, run by the
	// scheduler) or the trace does not show the release (a wait cut by the trace's end).
	Goroutine trace.GoID
	// Frame is the innermost frame of the releaser's stack outside the runtime and the
	// synchronization primitives (see ProgramFrame): the program's line that released the
	// wait, e.g. a channel send or a mutex unlock. It points into the stack the model shares
	// (no copy per episode); nil when Goroutine is 0.
	Frame *trace.StackFrame
	// Task is the task the releaser worked for, nil for none; Region indexes the releaser's
	// innermost region of Task, -1 for none.
	Task   *Task
	Region int
}

// ProgramFrame is the innermost frame of stack outside the runtime (runtime, runtime/...),
// the runtime's internal packages (internal/...) and the synchronization primitives (sync,
// sync/...), whose frames say less than their caller: for a release, the program's send,
// close or unlock; for a region's begin, the code that began it. It is the zero frame when
// stack has none.
func ProgramFrame(stack []trace.StackFrame) trace.StackFrame {
	for _, f := range stack {
		if !isRuntimeFunc(f.Func) {
			return f
		}
	}
	return trace.StackFrame{}
}

// isRuntimeFunc reports whether fn belongs to the runtime, its internal packages or the
// synchronization primitives.
func isRuntimeFunc(fn string) bool {
	for _, p := range [...]string{"runtime.", "runtime/", "internal/", "sync.", "sync/"} {
		if strings.HasPrefix(fn, p) {
			return true
		}
	}
	return false
}

// unblock is what the model keeps of the event that made a blocked goroutine runnable, until
// its wait is recorded: the unblocking goroutine and its stack id (of the current generation).
type unblock struct {
	g     trace.GoID
	stack exectrace.StackID
}

// noteUnblock keeps the releasing goroutine and stack of transition ev of g, when it is an
// unblock; any other transition out of a block leaves no releaser.
func noteUnblock(g *gState, ev *exectrace.Event) {
	g.unblock = unblock{}
	if ev.From == trace.GoWaiting && ev.To == trace.GoRunnable && ev.Goroutine != trace.NoGoroutine {
		g.unblock = unblock{g: ev.Goroutine, stack: ev.Stack}
	}
}

// release resolves an unblock: the releaser's task and region now, and the frame of its stack.
// It reads the stack, so it is called only for waits that are kept (episodes, hand-offs).
func (s *state) release(u unblock) Release {
	r := Release{Region: -1}
	if u.g == 0 {
		return r
	}
	f, ok := releaseFrame(s.stacks.frames(s.tr, u.stack))
	if !ok {
		return r
	}
	r.Goroutine, r.Frame = u.g, f
	if rg := s.gs.Get(u.g); rg != nil && rg.cur != nil {
		r.Task, r.Region = rg.cur.t, rg.innermostRegion(rg.cur)
	}
	return r
}

// releaseFrame is the program's frame of an unblock stack, and false when the program did not
// release the wait: the stack has no frame outside the runtime, or the runtime made the
// goroutine runnable on its own business while it ran on the releasing goroutine (netpoller
// results taken when the world restarts, GC, the tracer: their frames sit above the
// program's, from runtime.systemstack_switch, runtime.gc*, runtime.*trace*, ...).
func releaseFrame(stack []trace.StackFrame) (*trace.StackFrame, bool) {
	for i := range stack {
		f := &stack[i]
		if !isRuntimeFunc(f.Func) {
			return f, f.Func != ""
		}
		for _, own := range [...]string{"runtime.systemstack_switch", "runtime.gc", "runtime.trace", "runtime.(*trace",
			"runtime.startTheWorld", "runtime.stopTheWorld", "runtime.netpoll", "runtime.findRunnable", "runtime.schedule"} {
			if strings.HasPrefix(f.Func, own) {
				return nil, false
			}
		}
	}
	return nil, false
}
