package e2e

import (
	"bufio"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/gostitch/gostitch/internal/otlpsink"
	"github.com/gostitch/gostitch/internal/syncnodetest"
)

// joinConfig runs the distribution next to examples/otelapp as README's "Your own OTel service"
// does: the app's spans through the gostitchjoin processor, gostitch on its pprof endpoint,
// both exported to the test's OTLP sink; selfTelemetry is appended. Placeholders: app OTLP
// port, service name, pprof port, sink address.
const joinConfig = `receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:%s
  gostitch:
    collection_interval: 4s
    targets:
      - name: %s
        endpoint: http://127.0.0.1:%s
    pprof:
      profiles: []
      cpu_duration: 3s
    trace:
      duration: 3s
      task_spans: all
    ebpf:
      mode: off
    join:
      max_wait: 10s
processors:
  gostitchjoin:
exporters:
  otlp_grpc:
    endpoint: %s
    compression: none
    tls:
      insecure: true
service:
  pipelines:
    traces/app: {receivers: [otlp], processors: [gostitchjoin], exporters: [otlp_grpc]}
    traces/gostitch: {receivers: [gostitch], exporters: [otlp_grpc]}
`

// TestOtelappTasksJoinTheirServerSpans measures the join of the OTel SDK's tasks onto the app's
// own spans against examples/otelapp's -truth file: of the app's HTTP and gRPC server spans that
// lie inside a traced window, at least 99 % carry their go.trace task span as a child, and at
// most 0.1 % of the task spans hung under a server span belong to another (binomial bounds).
func TestOtelappTasksJoinTheirServerSpans(t *testing.T) {
	bin := distBinary(t)
	app := buildExample(t, "otelapp")
	sink := startSpanSink(t)
	ports := freePorts(t, 3)
	const service = "otelapp-e2e"
	config := filepath.Join(t.TempDir(), "collector.yaml")
	require.NoError(t, os.WriteFile(config, fmt.Appendf(nil, joinConfig+selfTelemetry(ports[2]), ports[0], service, ports[1], sink.addr), 0o600))
	startProcess(t, "collector", nil, bin, "--config", config)
	require.Eventually(t, func() bool {
		c, err := net.Dial("tcp", "127.0.0.1:"+ports[0])
		if err == nil {
			c.Close()
		}
		return err == nil
	}, time.Minute, 100*time.Millisecond, "the collector's OTLP receiver listens")

	truthPath := filepath.Join(t.TempDir(), "truth.jsonl")
	cmd := exec.Command(app, "-http", "127.0.0.1:0", "-grpc", "127.0.0.1:0", "-pprof", "127.0.0.1:"+ports[1],
		"-otlp", "127.0.0.1:"+ports[0], "-service", service, "-truth", truthPath,
		"-load-rate", "200", "-load-duration", "25s", "-exit-after-load", "-slow-backend", "1ms")
	var appLog syncBuffer
	cmd.Stdout, cmd.Stderr = &appLog, &appLog
	require.NoError(t, cmd.Run(), "otelapp: %s", appLog.String())

	// The last windows are converted once their spans arrived (at most join.max_wait later).
	var last int
	require.Eventually(t, func() bool {
		n := len(sink.tasks())
		stable := n > 0 && n == last
		last = n
		return stable
	}, time.Minute, 12*time.Second, "the collector's task spans stop coming")

	for _, line := range strings.Split(httpBody("http://127.0.0.1:"+ports[2]+"/metrics"), "\n") {
		if strings.Contains(line, "app_span") && !strings.HasPrefix(line, "#") {
			t.Log(line)
		}
	}
	truth := readJoinTruth(t, truthPath)
	tasks := sink.tasks()
	windows := tracedWindows(tasks)
	require.NotEmpty(t, windows)
	offset := monoToWall(truth)
	for _, proto := range []struct{ name, prefix string }{{"HTTP", "GET "}, {"gRPC", "otelapp.Work/"}} {
		a := joinAccuracy(truth, tasks, windows, offset, proto.prefix)
		t.Logf("%s: %d server spans in %d traced windows, %d (%.2f %%) with their task span as a child; %d of %d task spans under a server span under a wrong one (%.3f %%)",
			proto.name, a.spans, len(windows), a.joined, 100*float64(a.joined)/float64(max(a.spans, 1)),
			a.wrong, a.under, 100*float64(a.wrong)/float64(max(a.under, 1)))
		assert.GreaterOrEqual(t, a.spans, 300, "%s server spans measured", proto.name)
		assert.False(t, syncnodetest.RefutesRate(a.spans-a.joined, a.spans, 0.01), "%s: ≥ 99 %% joined", proto.name)
		assert.False(t, syncnodetest.RefutesRate(a.wrong, a.under, 0.001), "%s: ≤ 0.1 %% under a wrong span", proto.name)
	}
}

// joinTruth is what the test reads of examples/otelapp's -truth lines.
type joinTruth struct {
	TraceID     string `json:"trace_id"`
	SpanID      string `json:"span_id"`
	Name        string `json:"name"`
	StartMonoNS int64  `json:"start_mono_ns"`
	EndMonoNS   int64  `json:"end_mono_ns"`
	StartUnix   int64  `json:"start_unix_nano"`
	EndUnix     int64  `json:"end_unix_nano"`
}

func readJoinTruth(t *testing.T, path string) map[string]joinTruth {
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	recs := map[string]joinTruth{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var r joinTruth
		require.NoError(t, json.Unmarshal(sc.Bytes(), &r))
		recs[r.SpanID] = r
	}
	require.NoError(t, sc.Err())
	return recs
}

// monoToWall is Unix minus CLOCK_MONOTONIC nanoseconds: each truth record takes its wall start
// just before its monotonic one, so the largest difference is the closest.
func monoToWall(truth map[string]joinTruth) int64 {
	first := true
	var off int64
	for _, r := range truth {
		if d := r.StartUnix - r.StartMonoNS; first || d > off {
			off, first = d, false
		}
	}
	return off
}

// taskSpan is a go.trace task span the sink received.
type taskSpan struct {
	traceID, parentID string
	start, end        int64
}

// window is the wall-clock range of one execution trace, as its task spans cover it.
type window struct{ start, end int64 }

// tracedWindows groups the task spans into traces: the collector traces 3 s of every 4 s.
func tracedWindows(tasks []taskSpan) []window {
	starts := make([]taskSpan, len(tasks))
	copy(starts, tasks)
	slices.SortFunc(starts, func(a, b taskSpan) int { return int(a.start - b.start) })
	var ws []window
	for _, s := range starts {
		if n := len(ws); n > 0 && s.start-ws[n-1].end < int64(300*time.Millisecond) {
			ws[n-1].end = max(ws[n-1].end, s.end)
			continue
		}
		ws = append(ws, window{s.start, s.end})
	}
	return ws
}

type accuracy struct{ spans, joined, under, wrong int }

// edge keeps measured spans away from a trace's ends, where their tasks are cut.
const edge = int64(20 * time.Millisecond)

// joinSlack bounds the error of placing a task span's times on CLOCK_MONOTONIC through the wall clock.
const joinSlack = int64(50 * time.Microsecond)

func joinAccuracy(truth map[string]joinTruth, tasks []taskSpan, windows []window, offset int64, prefix string) accuracy {
	var a accuracy
	children := map[string][]taskSpan{}
	for _, tk := range tasks {
		children[tk.parentID] = append(children[tk.parentID], tk)
	}
	inside := func(r joinTruth, tk taskSpan) bool {
		return tk.traceID == r.TraceID && tk.start-offset >= r.StartMonoNS-joinSlack && tk.end-offset <= r.EndMonoNS+joinSlack
	}
	for id, r := range truth {
		if !strings.HasPrefix(r.Name, prefix) {
			continue
		}
		for _, tk := range children[id] {
			a.under++
			if !inside(r, tk) {
				a.wrong++
			}
		}
		if !slices.ContainsFunc(windows, func(w window) bool { return r.StartUnix >= w.start+edge && r.EndUnix <= w.end-edge }) {
			continue
		}
		a.spans++
		if slices.ContainsFunc(children[id], func(tk taskSpan) bool { return inside(r, tk) }) {
			a.joined++
		}
	}
	return a
}

// spanSink keeps the task spans an OTLP gRPC trace receiver (otlpsink) is sent.
type spanSink struct {
	addr string

	mu   sync.Mutex
	task []taskSpan
}

func startSpanSink(t *testing.T) *spanSink {
	s := &spanSink{}
	s.addr = otlpsink.Start(t, s.export)
	return s
}

func (s *spanSink) export(_ context.Context, td ptrace.Traces) error {
	rss := td.ResourceSpans()
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := 0; i < rss.Len(); i++ {
		sss := rss.At(i).ScopeSpans()
		for j := 0; j < sss.Len(); j++ {
			spans := sss.At(j).Spans()
			for k := 0; k < spans.Len(); k++ {
				if sp := spans.At(k); isTaskSpan(sp) {
					tid, pid := sp.TraceID(), sp.ParentSpanID()
					s.task = append(s.task, taskSpan{traceID: hex.EncodeToString(tid[:]), parentID: hex.EncodeToString(pid[:]),
						start: int64(sp.StartTimestamp()), end: int64(sp.EndTimestamp())})
				}
			}
		}
	}
	return nil
}

func isTaskSpan(sp ptrace.Span) bool {
	_, ok := sp.Attributes().Get("gostitch.task.id")
	return ok
}

func (s *spanSink) tasks() []taskSpan {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.task)
}
