package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// TruthRecord is one line of the -truth file: what the node knows about one block import, for
// tests and benchmarks to check what gostitch reconstructs from the outside.
type TruthRecord struct {
	Height  uint64 `json:"height"`
	TraceID string `json:"trace_id"` // 32 hex digits; empty without OTel
	SpanID  string `json:"span_id"`  // 16 hex digits; empty without OTel
	Peer    string `json:"peer"`     // address of the peer the block was fetched from
	// Cookies are the SO_COOKIEs of the sockets the import used: the connection to the fetch
	// peer first, then the other connections the broadcast wrote to.
	Cookies     []uint64 `json:"cookies"`
	TIDFirst    int      `json:"tid_first,omitempty"` // OS thread that began the fetch
	StartMonoNS int64    `json:"start_mono_ns"`       // CLOCK_MONOTONIC: task begin, before the fetch
	EndMonoNS   int64    `json:"end_mono_ns"`         // CLOCK_MONOTONIC: after the broadcast
	// The fetch goroutine works for the block from StartMonoNS to FetchEndMonoNS, the import
	// goroutine from ImportStartMonoNS to EndMonoNS: the truth for its CPU samples.
	FetchEndMonoNS    int64 `json:"fetch_end_mono_ns"`
	ImportStartMonoNS int64 `json:"import_start_mono_ns"`
	PID               int   `json:"pid"`
}

// TruthWriter writes TruthRecords as JSON lines through a buffer that Close flushes.
type TruthWriter struct {
	f   *os.File
	w   *bufio.Writer
	enc *json.Encoder
	pid int
}

// CreateTruth creates (or truncates) the truth file at path.
func CreateTruth(path string) (*TruthWriter, error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("creating truth file: %w", err)
	}
	w := bufio.NewWriterSize(f, 64<<10)
	return &TruthWriter{f: f, w: w, enc: json.NewEncoder(w), pid: os.Getpid()}, nil
}

// Write appends rec, with the process id filled in.
func (t *TruthWriter) Write(rec TruthRecord) error {
	rec.PID = t.pid
	if err := t.enc.Encode(&rec); err != nil {
		return fmt.Errorf("writing truth record for block %d: %w", rec.Height, err)
	}
	return nil
}

// Close flushes and closes the file.
func (t *TruthWriter) Close() error {
	if err := t.w.Flush(); err != nil {
		t.f.Close()
		return fmt.Errorf("flushing truth file: %w", err)
	}
	if err := t.f.Close(); err != nil {
		return fmt.Errorf("closing truth file: %w", err)
	}
	return nil
}

// socketCookie returns the kernel's SO_COOKIE of c's socket: the id eBPF programs see through
// bpf_get_socket_cookie.
func socketCookie(c syscall.Conn) (uint64, error) {
	rc, err := c.SyscallConn()
	if err != nil {
		return 0, fmt.Errorf("socket cookie: %w", err)
	}
	var (
		cookie uint64
		opErr  error
	)
	if err := rc.Control(func(fd uintptr) {
		cookie, opErr = unix.GetsockoptUint64(int(fd), unix.SOL_SOCKET, unix.SO_COOKIE)
	}); err != nil {
		return 0, fmt.Errorf("socket cookie: %w", err)
	}
	if opErr != nil {
		return 0, fmt.Errorf("getsockopt SO_COOKIE: %w", opErr)
	}
	return cookie, nil
}

// monoNow returns CLOCK_MONOTONIC in nanoseconds: the clock of execution trace timestamps
// and of bpf_ktime_get_ns.
func monoNow() int64 {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		panic(fmt.Sprintf("clock_gettime(CLOCK_MONOTONIC): %v", err)) // cannot fail on Linux
	}
	return ts.Nano()
}
