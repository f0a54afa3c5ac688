package tracesrc

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"runtime/trace"
	"slices"
	"strings"
	"testing"
	"time"

	xtrace "golang.org/x/exp/trace"

	"github.com/gostitch/gostitch/internal/flowstall"
)

// hasFrame reports whether stack holds a frame of function fn.
func hasFrame(stack []xtrace.StackFrame, fn string) bool {
	return slices.ContainsFunc(stack, func(f xtrace.StackFrame) bool { return f.Func == fn })
}

// checkFlowControl checks the blocking episodes of a trace whose program waits for window in
// function fn: every one with fn on its stack has the reason FlowControl, but for a wait for
// the mutex a sync.Cond takes back on waking ("sync": contention, not the window), and no
// other has; a blocking wait has it too. It returns the number of flow-control episodes.
func checkFlowControl(t *testing.T, episodes []Episode, waits []Wait, fn string) int {
	t.Helper()
	n := 0
	for _, e := range episodes {
		if e.Kind != Blocked {
			continue
		}
		relock := e.Reason == "sync" && hasFrame(e.Stack, "sync.(*Cond).Wait")
		if waits := hasFrame(e.Stack, fn); (waits && !relock) != (e.Reason == FlowControl) {
			t.Errorf("goroutine %d: episode %q with %s on its stack: %v\n%v", e.Goroutine, e.Reason, fn, waits, e.Stack)
		}
		if e.Reason == FlowControl {
			n++
		}
	}
	if !slices.ContainsFunc(waits, func(w Wait) bool { return w.Kind == Blocking && w.Reason == FlowControl }) {
		t.Errorf("no blocking wait for %s", FlowControl)
	}
	return n
}

// TestFlowControlGRPC: in the real trace of internal/flowstall (testdata/grpcflow.go), the gRPC
// server streams' sends that waited in grpc-go's (*writeQuota).get are flow control, and the
// stream read slowly spent most of its time there.
func TestFlowControlGRPC(t *testing.T) {
	c, _, err := readAll(t, readFixture(t, "grpcflow.trace"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	var episodes []Episode
	var slowest *Task
	for _, task := range c.tasks {
		if task.Type != flowstall.TaskType {
			continue
		}
		episodes = append(episodes, task.Episodes...)
		if slowest == nil || task.End.Sub(task.Start) > slowest.End.Sub(slowest.Start) {
			slowest = task
		}
	}
	if checkFlowControl(t, episodes, c.waits, "google.golang.org/grpc/internal/transport.(*writeQuota).get") == 0 {
		t.Fatal("no flow-control episode")
	}
	flow := blockedOn(slowest.Time, FlowControl)
	if wall := slowest.End.Sub(slowest.Start); flow < wall/2 {
		t.Errorf("the slowly read stream waited %v of %v for flow control: %+v", flow, wall, slowest.Time)
	}
}

// blockedOn is the time b gives to reason.
func blockedOn(b Breakdown, reason string) time.Duration {
	for _, bt := range b.Blocked {
		if bt.Reason == reason {
			return bt.Time
		}
	}
	return 0
}

// TestFlowControlNetHTTP drives net/http's own HTTP/2 client (its bundled copy of x/net/http2)
// into a stall, under the execution tracer: a request body of 1 MiB goes over unencrypted
// HTTP/2 to a handler that reads it slowly through a 64 KiB window, so the client's body writer
// waits in (*http2clientStream).awaitFlowControl, which must read as flow control. The writer is
// a goroutine of the transport's, working for no task: its waits come as work outside tasks.
func TestFlowControlNetHTTP(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var protos http.Protocols
	protos.SetUnencryptedHTTP2(true)
	srv := &http.Server{
		Protocols: &protos,
		HTTP2:     &http.HTTP2Config{MaxReceiveBufferPerStream: 64 << 10, MaxReceiveBufferPerConnection: 64 << 10},
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			buf := make([]byte, 16<<10)
			for {
				time.Sleep(time.Millisecond)
				if _, err := r.Body.Read(buf); err != nil {
					return
				}
			}
		}),
	}
	go func() { _ = srv.Serve(lis) }()
	defer srv.Close()
	tr := &http.Transport{Protocols: &protos}
	defer tr.CloseIdleConnections()

	var buf bytes.Buffer
	if err := trace.Start(&buf); err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequestWithContext(context.Background(), http.MethodPost, "http://"+lis.Addr().String()+"/", bytes.NewReader(make([]byte, 1<<20)))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err == nil {
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	trace.Stop()
	if err != nil {
		t.Fatal(err)
	}
	if resp.ProtoMajor != 2 {
		t.Fatalf("the request went over %s, not HTTP/2", resp.Proto)
	}
	c := &outsideCollector{collector: newCollector(t)}
	if _, err := Read(&buf, Options{MaxGoroutineSpans: 1 << 20}, c); err != nil {
		t.Fatal(err)
	}
	if checkFlowControl(t, c.episodes, c.waits, "net/http.(*http2clientStream).awaitFlowControl") == 0 {
		t.Error("no flow-control episode")
	}
}

// TestWaitsForWindow checks the frames that name a wait for window against stacks of the shape
// the runtime records (innermost first), and that the neighbours in the same transports do not.
func TestWaitsForWindow(t *testing.T) {
	stack := func(fns ...string) []xtrace.StackFrame {
		var s []xtrace.StackFrame
		for _, fn := range fns {
			s = append(s, xtrace.StackFrame{Func: fn})
		}
		return s
	}
	for _, tc := range []struct {
		stack []xtrace.StackFrame
		want  bool
	}{
		{stack("runtime.selectgo", "google.golang.org/grpc/internal/transport.(*writeQuota).get", "google.golang.org/grpc/internal/transport.(*http2Server).write"), true},
		{stack("sync.runtime_notifyListWait", "sync.(*Cond).Wait", "golang.org/x/net/http2.(*clientStream).awaitFlowControl"), true},
		{stack("sync.runtime_notifyListWait", "sync.(*Cond).Wait", "net/http.(*http2clientStream).awaitFlowControl"), true},
		{stack("runtime.selectgo", "google.golang.org/grpc/internal/transport.(*ClientStream).waitOnHeader"), false},
		{stack("runtime.selectgo", "google.golang.org/grpc/internal/transport.(*controlBuffer).get", "google.golang.org/grpc/internal/transport.(*loopyWriter).run"), false},
		// Only the frame that waits counts, not one further out.
		{stack("runtime.selectgo", "main.wait", "google.golang.org/grpc/internal/transport.(*writeQuota).get"), false},
		{nil, false},
	} {
		if got := waitsForWindow(tc.stack); got != tc.want {
			names := make([]string, len(tc.stack))
			for i, f := range tc.stack {
				names[i] = f.Func
			}
			t.Errorf("waitsForWindow(%s) = %v, want %v", strings.Join(names, " ← "), got, tc.want)
		}
	}
}
