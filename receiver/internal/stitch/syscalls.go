package stitch

import (
	"fmt"
	"path"
	"slices"
	"strings"
	"time"

	"golang.org/x/exp/trace"

	"github.com/gostitch/gostitch/receiver/internal/tracesrc"
)

// syscallSpanNames maps each name tracesrc gives a syscall (tracesrc.SyscallNames) to its
// span's name, e.g. "syscall fsync", built once so that no span pays for the concatenation; a
// syscall its stack does not name keeps the plain syscallSpanName.
var syscallSpanNames = func() map[string]string {
	m := make(map[string]string)
	for _, n := range tracesrc.SyscallNames() {
		m[n] = syscallSpanName + " " + n
	}
	return m
}()

// syscallMetricName is the gostitch.syscall.name of a syscall wait on the duration metric:
// its name, or unknown when its stack names none.
func syscallMetricName(name string) string {
	if name == "" {
		return unknownSyscall
	}
	return name
}

// unknownSyscall stands for the syscalls whose stacks name none, on the metric.
const unknownSyscall = "unknown"

// longestSyscall is what a task's diagnosis says of its longest syscall episode: its name,
// duration and the program's frame that made it. The frame points into the episode's stack,
// which tracesrc shares among the episodes of one stack: every held task keeps one, so it
// takes a pointer's room, not a frame's.
type longestSyscall struct {
	name  string
	d     time.Duration
	frame *trace.StackFrame
}

// note keeps episode e when it is the longest syscall so far with a stack.
func (l *longestSyscall) note(e *tracesrc.Episode) {
	if d := e.End.Sub(e.Start); e.Kind == tracesrc.Syscall && d > l.d && len(e.Stack) > 0 {
		*l = longestSyscall{name: e.Reason, d: d, frame: &e.Stack[slices.Index(e.Stack, appFrame(e.Stack))]}
	}
}

// String says which call and where, e.g. "fsync 12.4ms at store.go:44"; "" without one.
func (l longestSyscall) String() string {
	if l.d == 0 {
		return ""
	}
	name := l.name
	if name == "" {
		name = syscallSpanName
	}
	return fmt.Sprintf("%s %v at %s:%d", name, roundDuration(l.d), path.Base(l.frame.File), l.frame.Line)
}

// transportPackages are the packages a wait for flow-control window goes through on its way
// from the program's send or write (by their functions' name prefixes).
var transportPackages = [...]string{"google.golang.org/grpc.", "google.golang.org/grpc/", "golang.org/x/net/http2.", "net/http."}

// flowControlFrame is the frame a flow-control wait is shown at: the program's call into the
// transport (a gRPC SendMsg, an HTTP/2 request body's write) — the transport's own frames say
// less — or, when the stack's top frames hold none (a transport goroutine's wait), the waiting
// function's.
func flowControlFrame(stack []trace.StackFrame) trace.StackFrame {
	for _, f := range stack {
		if !strings.HasPrefix(f.Func, "runtime.") && !strings.HasPrefix(f.Func, "sync.") && !inTransport(f.Func) {
			return f
		}
	}
	for _, f := range stack {
		if !strings.HasPrefix(f.Func, "runtime.") && !strings.HasPrefix(f.Func, "sync.") {
			return f
		}
	}
	return relevantFrame(stack)
}

func inTransport(fn string) bool {
	for _, p := range transportPackages {
		if strings.HasPrefix(fn, p) {
			return true
		}
	}
	return false
}

// inSyscalls is the diagnosis's name of the time in syscalls, which it follows with the
// longest syscall.
const inSyscalls = "in syscalls"
