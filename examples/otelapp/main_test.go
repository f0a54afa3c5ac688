package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.uber.org/goleak"
	"golang.org/x/exp/trace"

	"github.com/gostitch/gostitch/internal/otlpsink"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestOtelappUnderLoad runs the built program with its load client against an OTLP gRPC
// receiver in the test, scrapes an execution trace from its net/http/pprof while the load runs,
// and checks what it exported against its -truth file and the trace.
func TestOtelappUnderLoad(t *testing.T) {
	sink := startSink(t)
	truthPath := filepath.Join(t.TempDir(), "truth.jsonl")
	app := startApp(t, "-otlp", sink.addr, "-truth", truthPath,
		"-load-rate", "200", "-load-duration", "3s", "-load-concurrency", "4", "-exit-after-load",
		"-slow-backend", "1ms", "-lock", "-gc-pressure")

	tr := readTasks(t, app.get(t, "/debug/pprof/trace?seconds=1"))
	out := app.wait(t)
	assert.Regexp(t, `load: [1-9]\d* HTTP and [1-9]\d* gRPC requests in \S+ \(0 and 0 failed\)`, out)

	spans := sink.received()
	truth := readTruth(t, truthPath)
	require.NotEmpty(t, truth)

	// Every span the process made arrived, all of service otelapp; its server spans are the
	// truth file's records one for one, with the same trace, parent, name and times.
	server := map[string]receivedSpan{}
	names := map[string]int{}
	for _, s := range spans {
		assert.Equal(t, "otelapp", s.service, "service.name of span %s", s.name)
		names[s.name]++
		if s.kind == ptrace.SpanKindServer {
			server[s.spanID] = s
		}
	}
	t.Logf("received %d spans: %v; truth: %d server spans", len(spans), names, len(truth))
	assert.Len(t, server, len(truth), "one received server span per truth record")
	startNames := map[string]bool{}
	for _, rec := range truth {
		startNames[rec.StartName] = true
		s, ok := server[rec.SpanID]
		if !assert.True(t, ok, "truth span %s (%s) was exported", rec.SpanID, rec.Name) {
			continue
		}
		assert.Equal(t, rec.TraceID, s.traceID)
		assert.Equal(t, rec.ParentSpanID, s.parentID, "the load client's span is the parent")
		assert.NotEmpty(t, rec.ParentSpanID)
		assert.Equal(t, rec.Name, s.name)
		assert.Equal(t, rec.StartUnixNano, s.start)
		assert.Equal(t, rec.EndUnixNano, s.end)
		assert.Less(t, rec.StartMonoNS, rec.EndMonoNS)
	}
	// otelhttp names its span GET until the request is routed, GET /work after.
	assert.True(t, startNames["GET"], "HTTP server spans start as GET: %v", startNames)
	assert.True(t, startNames["otelapp.Work/Do"], "gRPC server spans: %v", startNames)
	assert.Positive(t, names["GET /work"])
	assert.Positive(t, names["backend fetch"])

	// The SDK began a runtime/trace task for each span while the tracer ran, named as the span
	// was when it started: the server spans' start names and the client spans' names.
	t.Logf("execution trace tasks: %v", tr.begun)
	for _, name := range []string{"GET", "otelapp.Work/Do", "backend fetch"} {
		assert.Positive(t, tr.begun[name], "tasks named %q", name)
	}
	for name := range tr.begun {
		assert.True(t, startNames[name] || names[name] > 0, "task %q is named after a span", name)
	}

	// Each server span the trace covers has its task within its truth interval: the SDK begins
	// the task after OnStart took the start and ends it before OnEnd took the end.
	covered := 0
	for _, rec := range truth {
		if rec.StartMonoNS < tr.first || rec.EndMonoNS > tr.last {
			continue
		}
		covered++
		assert.True(t, slices.ContainsFunc(tr.ended, func(ti taskInterval) bool {
			return ti.name == rec.StartName && ti.begin >= rec.StartMonoNS-clockSlack && ti.end <= rec.EndMonoNS+clockSlack
		}), "span %s (%s) has a task within [start_mono_ns, end_mono_ns]", rec.SpanID, rec.Name)
	}
	t.Logf("%d server spans within the execution trace", covered)
	assert.Positive(t, covered)
}

// receivedSpan is what the test keeps of an exported span.
type receivedSpan struct {
	service, traceID, spanID, parentID, name string
	kind                                     ptrace.SpanKind
	start, end                               int64
}

// sink keeps every span an OTLP gRPC trace receiver (otlpsink) is sent.
type sink struct {
	addr string

	mu    sync.Mutex
	spans []receivedSpan
}

// TestOtelappClosedLoadReport runs the closed-loop load with -load-report and checks the
// report against the load's summary line: the same request count, none failed, the load's
// duration, and ordered, positive quantiles.
func TestOtelappClosedLoadReport(t *testing.T) {
	sink := startSink(t)
	reportPath := filepath.Join(t.TempDir(), "report.json")
	app := startApp(t, "-otlp", sink.addr, "-load-closed", "-load-concurrency", "2", "-load-duration", "2s",
		"-exit-after-load", "-load-report", reportPath)
	out := app.wait(t)
	m := regexp.MustCompile(`load: (\d+) HTTP and (\d+) gRPC requests in \S+ \(0 and 0 failed\), 0 skipped`).FindStringSubmatch(out)
	require.NotNil(t, m, "the load's summary line; otelapp said:\n%s", out)
	httpN, _ := strconv.Atoi(m[1])
	grpcN, _ := strconv.Atoi(m[2])

	data, err := os.ReadFile(reportPath)
	require.NoError(t, err)
	var r loadReport
	require.NoError(t, json.Unmarshal(data, &r), "%s", data)
	assert.Equal(t, int64(httpN+grpcN), r.Requests, "requests in the report and the summary line")
	assert.Positive(t, httpN, "HTTP requests")
	assert.Positive(t, grpcN, "gRPC requests")
	assert.Zero(t, r.Failed)
	assert.InDelta(t, 2.0, r.Seconds, 0.5, "the load's wall time")
	assert.Positive(t, r.P50Ms)
	assert.LessOrEqual(t, r.P50Ms, r.P99Ms)
}

// TestOtelappLoadWarmupLeftOut: with -load-warmup the load runs the warm-up and then
// -load-duration, and the report covers only the latter.
func TestOtelappLoadWarmupLeftOut(t *testing.T) {
	sink := startSink(t)
	reportPath := filepath.Join(t.TempDir(), "report.json")
	began := time.Now()
	app := startApp(t, "-otlp", sink.addr, "-load-closed", "-load-concurrency", "2", "-load-warmup", "1500ms",
		"-load-duration", "1s", "-exit-after-load", "-load-report", reportPath)
	app.wait(t)
	assert.GreaterOrEqual(t, time.Since(began), 2500*time.Millisecond, "the warm-up and the measured load both ran")
	data, err := os.ReadFile(reportPath)
	require.NoError(t, err)
	var r loadReport
	require.NoError(t, json.Unmarshal(data, &r), "%s", data)
	assert.InDelta(t, 1.0, r.Seconds, 0.4, "the report's wall time leaves the warm-up out")
	assert.Positive(t, r.Requests)
	assert.Zero(t, r.Failed)
}

// TestOtelappLoadFlags checks that the load flags refuse what they cannot do together.
func TestOtelappLoadFlags(t *testing.T) {
	for _, args := range [][]string{
		{"-load-closed", "-load-rate", "10"},
		{"-load-report", "r.json"},
		{"-exit-after-load"},
	} {
		_, err := parseFlags(args, io.Discard)
		assert.Error(t, err, "%q", args)
	}
	c, err := parseFlags([]string{"-load-closed", "-exit-after-load", "-load-report", "r.json"}, io.Discard)
	require.NoError(t, err)
	assert.True(t, c.load())
}

func startSink(t *testing.T) *sink {
	s := &sink{}
	s.addr = otlpsink.Start(t, s.export)
	return s
}

func (s *sink) export(_ context.Context, td ptrace.Traces) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	rss := td.ResourceSpans()
	for i := range rss.Len() {
		service, _ := rss.At(i).Resource().Attributes().Get("service.name")
		for _, ss := range rss.At(i).ScopeSpans().All() {
			for _, sp := range ss.Spans().All() {
				r := receivedSpan{service: service.Str(), traceID: sp.TraceID().String(), spanID: sp.SpanID().String(),
					name: sp.Name(), kind: sp.Kind(), start: int64(sp.StartTimestamp()), end: int64(sp.EndTimestamp())}
				if !sp.ParentSpanID().IsEmpty() {
					r.parentID = sp.ParentSpanID().String()
				}
				s.spans = append(s.spans, r)
			}
		}
	}
	return nil
}

func (s *sink) received() []receivedSpan {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]receivedSpan(nil), s.spans...)
}

// runningApp is the otelapp process under test.
type runningApp struct {
	pprof  string // host:port
	out    bytes.Buffer
	outEnd chan struct{} // closed once stdout is read to its end
	cmd    *exec.Cmd
}

// startApp builds otelapp and runs it on free loopback ports with args, until it says where
// net/http/pprof listens.
func startApp(t *testing.T, args ...string) *runningApp {
	bin := filepath.Join(t.TempDir(), "otelapp")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	require.NoError(t, err, "go build: %s", out)
	a := &runningApp{outEnd: make(chan struct{})}
	a.cmd = exec.Command(bin, append([]string{"-http", "127.0.0.1:0", "-grpc", "127.0.0.1:0", "-pprof", "127.0.0.1:0"}, args...)...)
	a.cmd.Stderr = os.Stderr
	stdout, err := a.cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, a.cmd.Start())
	t.Cleanup(func() {
		if a.cmd.ProcessState == nil {
			_ = a.cmd.Process.Kill()
			<-a.outEnd
			_ = a.cmd.Wait()
		}
	})
	sc := bufio.NewScanner(stdout)
	for a.pprof == "" && sc.Scan() {
		a.out.WriteString(sc.Text() + "\n")
		a.pprof, _ = strings.CutPrefix(sc.Text(), "pprof listening on http://")
	}
	go func() {
		defer close(a.outEnd)
		for sc.Scan() {
			a.out.WriteString(sc.Text() + "\n")
		}
	}()
	require.NotEmpty(t, a.pprof, "otelapp says where pprof listens; it said:\n%s", a.out.String())
	return a
}

// get fetches path from the app's net/http/pprof server.
func (a *runningApp) get(t *testing.T, path string) []byte {
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := client.Get("http://" + a.pprof + path)
	require.NoError(t, err)
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode, "GET %s: %s", path, data)
	return data
}

// wait waits for the app to exit by itself and returns its output.
func (a *runningApp) wait(t *testing.T) string {
	exited := make(chan error, 1)
	go func() { <-a.outEnd; exited <- a.cmd.Wait() }()
	select {
	case err := <-exited:
		require.NoError(t, err, "otelapp exits cleanly after its load; it said:\n%s", a.out.String())
	case <-time.After(30 * time.Second):
		t.Fatalf("otelapp did not exit 30 s after its load began; it said:\n%s", a.out.String())
	}
	return a.out.String()
}

// clockSlack bounds the error of converting execution trace times to CLOCK_MONOTONIC with the
// trace's clock snapshots (measured: well under 1µs; the SDK's lags are 1.5µs and more).
const clockSlack = 10_000

// traceTasks is what the test reads of an execution trace, times in CLOCK_MONOTONIC ns.
type traceTasks struct {
	begun       map[string]int // tasks begun, by name
	ended       []taskInterval // tasks begun and ended
	first, last int64          // the first and last event
}

// taskInterval is a task that began and ended in the execution trace.
type taskInterval struct {
	name       string
	begin, end int64
}

// readTasks reads the tasks of an execution trace, converting times to CLOCK_MONOTONIC with
// its clock snapshots.
func readTasks(t *testing.T, data []byte) traceTasks {
	r, err := trace.NewReader(bytes.NewReader(data))
	require.NoError(t, err)
	tr := traceTasks{begun: map[string]int{}}
	var snap *trace.ClockSnapshot
	open := map[trace.TaskID]taskInterval{}
	mono := func(ts trace.Time) int64 { return int64(snap.Mono) + int64(ts-snap.Trace) }
	for {
		ev, err := r.ReadEvent()
		if errors.Is(err, io.EOF) {
			return tr
		}
		require.NoError(t, err)
		if ev.Kind() == trace.EventSync && ev.Sync().ClockSnapshot != nil {
			snap = ev.Sync().ClockSnapshot
		}
		require.NotNil(t, snap, "a go1.25+ trace begins with a clock snapshot")
		if tr.first == 0 {
			tr.first = mono(ev.Time())
		}
		tr.last = mono(ev.Time())
		switch ev.Kind() {
		case trace.EventTaskBegin:
			tr.begun[ev.Task().Type]++
			open[ev.Task().ID] = taskInterval{name: ev.Task().Type, begin: mono(ev.Time())}
		case trace.EventTaskEnd:
			if ti, ok := open[ev.Task().ID]; ok {
				ti.end = mono(ev.Time())
				tr.ended = append(tr.ended, ti)
				delete(open, ev.Task().ID)
			}
		}
	}
}

func readTruth(t *testing.T, path string) []TruthRecord {
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	var recs []TruthRecord
	dec := json.NewDecoder(bytes.NewReader(data))
	for dec.More() {
		var rec TruthRecord
		require.NoError(t, dec.Decode(&rec))
		recs = append(recs, rec)
	}
	return recs
}
