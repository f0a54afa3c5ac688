package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"sync"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"golang.org/x/sys/unix"
)

// TruthRecord is one line of the -truth file: one server span (HTTP or gRPC) as the process saw
// it, for tests to check what gostitch reconstructs from the outside. Nothing else reads it.
type TruthRecord struct {
	TraceID      string `json:"trace_id"`       // 32 hex digits
	SpanID       string `json:"span_id"`        // 16 hex digits
	ParentSpanID string `json:"parent_span_id"` // 16 hex digits; empty for a root span
	// Name is the span's name as exported; StartName its name when it started, which is the
	// name of its runtime/trace task (otelhttp renames its span once the route is known:
	// "GET" → "GET /work").
	Name      string `json:"name"`
	StartName string `json:"start_name"`
	Kind      string `json:"kind"` // "server"
	// CLOCK_MONOTONIC (the clock of execution trace timestamps) in span processor callbacks:
	// the SDK calls OnStart after taking the span's start time and before beginning its task,
	// and OnEnd after ending the task, so [StartMonoNS, EndMonoNS] holds the task.
	StartMonoNS int64 `json:"start_mono_ns"`
	EndMonoNS   int64 `json:"end_mono_ns"`
	// The span's own start and end time as exported, in ns since the Unix epoch.
	StartUnixNano int64 `json:"start_unix_nano"`
	EndUnixNano   int64 `json:"end_unix_nano"`
	PID           int   `json:"pid"`
}

// truthWriter is a span processor writing a TruthRecord per server span, through a buffer that
// Shutdown flushes.
type truthWriter struct {
	f   *os.File
	pid int

	mu      sync.Mutex
	w       *bufio.Writer
	enc     *json.Encoder
	started map[trace.SpanID]started // server spans begun and not ended
	err     error                    // the first write error
}

// started is what OnStart records of a server span.
type started struct {
	mono int64
	name string
}

var _ sdktrace.SpanProcessor = (*truthWriter)(nil)

// createTruth creates (or truncates) the truth file at path.
func createTruth(path string) (*truthWriter, error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("creating truth file: %w", err)
	}
	w := bufio.NewWriterSize(f, 64<<10)
	return &truthWriter{f: f, pid: os.Getpid(), w: w, enc: json.NewEncoder(w), started: map[trace.SpanID]started{}}, nil
}

// OnStart implements sdktrace.SpanProcessor.
func (t *truthWriter) OnStart(_ context.Context, s sdktrace.ReadWriteSpan) {
	if s.SpanKind() != trace.SpanKindServer {
		return
	}
	mono := monoNow()
	t.mu.Lock()
	t.started[s.SpanContext().SpanID()] = started{mono: mono, name: s.Name()}
	t.mu.Unlock()
}

// OnEnd implements sdktrace.SpanProcessor.
func (t *truthWriter) OnEnd(s sdktrace.ReadOnlySpan) {
	if s.SpanKind() != trace.SpanKindServer {
		return
	}
	mono := monoNow()
	sc := s.SpanContext()
	rec := TruthRecord{
		TraceID:       sc.TraceID().String(),
		SpanID:        sc.SpanID().String(),
		Name:          s.Name(),
		Kind:          "server",
		EndMonoNS:     mono,
		StartUnixNano: s.StartTime().UnixNano(),
		EndUnixNano:   s.EndTime().UnixNano(),
		PID:           t.pid,
	}
	if p := s.Parent(); p.SpanID().IsValid() {
		rec.ParentSpanID = p.SpanID().String()
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	st, ok := t.started[sc.SpanID()]
	if !ok {
		return // began before the processor was registered: cannot happen, it is registered first
	}
	delete(t.started, sc.SpanID())
	rec.StartMonoNS, rec.StartName = st.mono, st.name
	if err := t.enc.Encode(&rec); err != nil && t.err == nil {
		t.err = fmt.Errorf("writing truth record of span %s: %w", rec.SpanID, err)
	}
}

// ForceFlush implements sdktrace.SpanProcessor: it writes the buffer out.
func (t *truthWriter) ForceFlush(context.Context) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if err := t.w.Flush(); err != nil {
		return fmt.Errorf("flushing truth file: %w", err)
	}
	return t.err
}

// Shutdown implements sdktrace.SpanProcessor: it flushes and closes the file.
func (t *truthWriter) Shutdown(ctx context.Context) error {
	err := t.ForceFlush(ctx)
	if cerr := t.f.Close(); cerr != nil && err == nil {
		err = fmt.Errorf("closing truth file: %w", cerr)
	}
	return err
}

// monoNow returns CLOCK_MONOTONIC in nanoseconds: the clock of execution trace timestamps and
// of bpf_ktime_get_ns.
func monoNow() int64 {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		panic(fmt.Sprintf("clock_gettime(CLOCK_MONOTONIC): %v", err)) // cannot fail on Linux
	}
	return ts.Nano()
}
