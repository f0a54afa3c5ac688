// Package instrument is the optional app-side helper of gostitch. It writes into the Go
// execution trace and the pprof labels what lets gostitch join the three views without
// guessing: the socket cookie of a connection, and the OTel trace and span of the current work.
// gostitch works without it (by thread and time); with it, the join is exact.
//
// It depends on nothing beyond the OTel trace API and the standard library.
package instrument

import (
	"context"
	"fmt"
	"runtime/pprof"
	"runtime/trace"
	"strconv"
	"syscall"
	"unsafe"

	oteltrace "go.opentelemetry.io/otel/trace"

	"github.com/gostitch/gostitch/internal/linkkeys"
)

// Keys gostitch reads from runtime/trace logs and pprof labels.
const (
	KeyTraceID      = linkkeys.TraceID
	KeySpanID       = linkkeys.SpanID
	KeySocketCookie = linkkeys.SocketCookie
)

// soCookie is SO_COOKIE from <asm-generic/socket.h>; the syscall package does not define it.
const soCookie = 57

// SocketCookie returns the kernel's cookie of a socket: the id gostitch's eBPF programs see.
func SocketCookie(conn syscall.Conn) (uint64, error) {
	raw, err := conn.SyscallConn()
	if err != nil {
		return 0, fmt.Errorf("socket cookie: %w", err)
	}
	var cookie uint64
	var sockErr error
	err = raw.Control(func(fd uintptr) {
		size := uint32(8)
		_, _, errno := syscall.Syscall6(syscall.SYS_GETSOCKOPT, fd, syscall.SOL_SOCKET, soCookie,
			uintptr(unsafe.Pointer(&cookie)), uintptr(unsafe.Pointer(&size)), 0)
		if errno != 0 {
			sockErr = errno
		}
	})
	if err == nil {
		err = sockErr
	}
	if err != nil {
		return 0, fmt.Errorf("socket cookie: getsockopt SO_COOKIE: %w", err)
	}
	return cookie, nil
}

// LogConn logs conn's socket cookie in the task of ctx, so gostitch attributes the socket's
// kernel events to that task. It does nothing when tracing is off.
func LogConn(ctx context.Context, conn syscall.Conn) error {
	if !trace.IsEnabled() {
		return nil
	}
	cookie, err := SocketCookie(conn)
	if err != nil {
		return err
	}
	trace.Log(ctx, KeySocketCookie, strconv.FormatUint(cookie, 10))
	return nil
}

// LogSpan logs the trace and span id of ctx's OTel span in the task of ctx, so gostitch puts
// the task's spans under that span. It does nothing without a valid span or when tracing is off.
func LogSpan(ctx context.Context) {
	sc := oteltrace.SpanContextFromContext(ctx)
	if !sc.IsValid() || !trace.IsEnabled() {
		return
	}
	trace.Log(ctx, KeyTraceID, sc.TraceID().String())
	trace.Log(ctx, KeySpanID, sc.SpanID().String())
}

// Do calls f with pprof labels naming ctx's OTel trace and span added, so profile samples link to it.
func Do(ctx context.Context, f func(context.Context)) {
	sc := oteltrace.SpanContextFromContext(ctx)
	if !sc.IsValid() {
		f(ctx)
		return
	}
	pprof.Do(ctx, pprof.Labels(KeyTraceID, sc.TraceID().String(), KeySpanID, sc.SpanID().String()), f)
}
