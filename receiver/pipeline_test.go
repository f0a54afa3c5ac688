package gostitchreceiver

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// copyFixture copies a real fixture of another package into dir under name.
func copyFixture(t *testing.T, src, dir, name string) {
	t.Helper()
	data, err := os.ReadFile(src)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, name), data, 0o644))
}

func fileConfig(dir string) *Config {
	cfg := createDefaultConfig()
	cfg.CollectionInterval = time.Hour
	cfg.EBPF.Mode = EBPFModeOff
	cfg.Pprof.LabelAttributes = []string{"msg_type"}
	cfg.Targets = []TargetConfig{{Name: "offline",
		PprofFiles: []string{filepath.Join(dir, "*.pb.gz")}, TraceFiles: []string{filepath.Join(dir, "*.trace")}}}
	return cfg
}

func spanNames(traces []ptrace.Traces) map[string]int {
	names := map[string]int{}
	for _, td := range traces {
		for i := 0; i < td.ResourceSpans().Len(); i++ {
			ss := td.ResourceSpans().At(i).ScopeSpans()
			for j := 0; j < ss.Len(); j++ {
				for k := 0; k < ss.At(j).Spans().Len(); k++ {
					names[ss.At(j).Spans().At(k).Name()]++
				}
			}
		}
	}
	return names
}

func TestFilesBecomeSpansMetricsAndProfiles(t *testing.T) {
	dir := t.TempDir()
	copyFixture(t, "internal/pprofsrc/testdata/cpu.pb.gz", dir, "cpu.pb.gz")
	copyFixture(t, "internal/pprofsrc/testdata/goroutine.pb.gz", dir, "goroutine.pb.gz")
	copyFixture(t, "internal/tracesrc/testdata/syncnode.trace", dir, "syncnode.trace")
	s, _ := startReceiver(t, fileConfig(dir))

	require.Eventually(t, func() bool {
		return s.traces.SpanCount() > 0 && s.profiles.SampleCount() > 0 && s.metrics.DataPointCount() > 0
	}, 20*time.Second, 50*time.Millisecond)
	names := spanNames(s.traces.AllTraces())
	assert.Positive(t, names["importBlock"], "a span per importBlock task")
	for _, region := range []string{"fetch", "deserialize", "verify", "store", "broadcast"} {
		assert.Positive(t, names[region], "region %s", region)
	}
	res := s.traces.AllTraces()[0].ResourceSpans().At(0).Resource().Attributes()
	name, _ := res.Get("service.name")
	assert.Equal(t, "offline", name.Str())
	metricNames := emittedMetricNames(s.metrics.AllMetrics())
	assert.Contains(t, metricNames, "go.goroutine.count")
	assert.Contains(t, metricNames, "gostitch.cpu.time")
	assert.Contains(t, metricNames, "gostitch.task.duration")
}

// emittedMetricNames lists the name of every metric in mds, once per occurrence.
func emittedMetricNames(mds []pmetric.Metrics) []string {
	var names []string
	for _, md := range mds {
		rm := md.ResourceMetrics()
		for i := 0; i < rm.Len(); i++ {
			for j := 0; j < rm.At(i).ScopeMetrics().Len(); j++ {
				ms := rm.At(i).ScopeMetrics().At(j).Metrics()
				for k := 0; k < ms.Len(); k++ {
					names = append(names, ms.At(k).Name())
				}
			}
		}
	}
	return names
}

// TestTurnedOffMetricsAreNotEmitted: metrics: {<name>: {enabled: false}} removes a pprof metric
// and an execution-trace metric; the others, the spans and the profiles still flow.
func TestTurnedOffMetricsAreNotEmitted(t *testing.T) {
	dir := t.TempDir()
	copyFixture(t, "internal/pprofsrc/testdata/cpu.pb.gz", dir, "cpu.pb.gz")
	copyFixture(t, "internal/pprofsrc/testdata/goroutine.pb.gz", dir, "goroutine.pb.gz")
	copyFixture(t, "internal/tracesrc/testdata/syncnode.trace", dir, "syncnode.trace")
	cfg := fileConfig(dir)
	cfg.Metrics.GoGoroutineCount.Enabled = false
	cfg.Metrics.GostitchTaskDuration.Enabled = false
	s, _ := startReceiver(t, cfg)

	require.Eventually(t, func() bool {
		return s.traces.SpanCount() > 0 && s.profiles.SampleCount() > 0 && s.metrics.DataPointCount() > 0
	}, 20*time.Second, 50*time.Millisecond)
	require.Eventually(t, func() bool {
		return slices.Contains(emittedMetricNames(s.metrics.AllMetrics()), "go.schedule.duration")
	}, 20*time.Second, 50*time.Millisecond, "the trace's metrics arrive")
	names := emittedMetricNames(s.metrics.AllMetrics())
	assert.Contains(t, names, "gostitch.cpu.time")
	assert.NotContains(t, names, "go.goroutine.count")
	assert.NotContains(t, names, "gostitch.task.duration")
}

func TestBadFilesAreNamedAndTheRestStillFlows(t *testing.T) {
	dir := t.TempDir()
	copyFixture(t, "internal/pprofsrc/testdata/heap.pb.gz", dir, "heap.pb.gz")
	require.NoError(t, os.WriteFile(filepath.Join(dir, "garbage.pb.gz"), []byte("<html>404</html>"), 0o644))
	trace, err := os.ReadFile("internal/tracesrc/testdata/syncnode.trace")
	require.NoError(t, err)
	// Cut inside the last generation: the generations before it are complete and convert.
	require.NoError(t, os.WriteFile(filepath.Join(dir, "cut.trace"), trace[:len(trace)*95/100], 0o644))
	s, logs := startReceiver(t, fileConfig(dir))

	require.Eventually(t, func() bool { return logs.FilterMessage("Execution trace not fully converted").Len() == 1 }, 20*time.Second, 50*time.Millisecond)
	profErr := logs.FilterMessage("Profile not converted").All()
	require.Len(t, profErr, 1)
	assert.Contains(t, profErr[0].ContextMap()["error"], `target "offline": pprof from `+filepath.Join(dir, "garbage.pb.gz"))
	assert.Contains(t, profErr[0].ContextMap()["error"], "not a pprof profile")
	traceErr := logs.FilterMessage("Execution trace not fully converted").All()[0].ContextMap()["error"].(string)
	assert.Contains(t, traceErr, "cut.trace")
	assert.Contains(t, traceErr, "cut short")
	assert.Positive(t, s.profiles.SampleCount(), "the good profile went out")
	assert.Positive(t, s.traces.SpanCount(), "what was read of the truncated trace went out")
}

func TestDownstreamErrorsDoNotStopCollection(t *testing.T) {
	dir := t.TempDir()
	copyFixture(t, "internal/tracesrc/testdata/syncnode.trace", dir, "a.trace")
	cfg := fileConfig(dir)
	cfg.CollectionInterval = 100 * time.Millisecond
	failing := consumertest.NewErr(errors.New("exporter queue is full"))
	logs := startObserved(t, cfg, componenttest.NewTelemetry(), next{traces: failing})
	require.Eventually(t, func() bool { return logs.FilterMessage("Window not fully converted").Len() > 0 }, 20*time.Second, 50*time.Millisecond)
	assert.Contains(t, logs.FilterMessage("Window not fully converted").All()[0].ContextMap()["error"], "exporter queue is full")

	copyFixture(t, "internal/tracesrc/testdata/annotations.trace", dir, "b.trace")
	require.Eventually(t, func() bool { return logs.FilterMessage("Window not fully converted").Len() > 1 }, 20*time.Second, 50*time.Millisecond,
		"the next window is collected after a refused one")
}

func TestPushEndpointConvertsUploadsAndCutsOffStalledClients(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	endpoint := l.Addr().String()
	l.Close()
	cfg := createDefaultConfig()
	cfg.EBPF.Mode = EBPFModeOff
	cfg.Push.NetAddr.Endpoint = endpoint
	cfg.Push.ReadTimeout = 500 * time.Millisecond
	cfg.Targets = []TargetConfig{{Name: "app"}}
	s, _ := startReceiver(t, cfg)

	trace, err := os.ReadFile("internal/tracesrc/testdata/flight.trace")
	require.NoError(t, err)
	resp, err := http.Post(fmt.Sprintf("http://%s/v1/trace?target=app", endpoint), "application/octet-stream", strings.NewReader(string(trace)))
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusAccepted, resp.StatusCode)
	assert.Positive(t, s.traces.SpanCount())

	resp, err = http.Post(fmt.Sprintf("http://%s/v1/pprof?target=app", endpoint), "application/octet-stream", strings.NewReader("garbage"))
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Equal(t, http.StatusBadRequest, resp.StatusCode)
	assert.Contains(t, string(body), "bad input")

	// A client that announces a body and stalls is cut off by read_timeout.
	conn, err := net.Dial("tcp", endpoint)
	require.NoError(t, err)
	defer conn.Close()
	fmt.Fprintf(conn, "POST /v1/trace?target=app HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\ngo 1.26 trace")
	require.NoError(t, conn.SetReadDeadline(time.Now().Add(10*time.Second)))
	start := time.Now()
	_, err = io.ReadAll(conn)
	assert.NoError(t, err, "the server closes the connection")
	assert.Less(t, time.Since(start), 9*time.Second)
}

// TestObsreportTransportPerOrigin: the collector's obsreport counts say how the data came:
// file for trace files, http for uploads (and scrapes); ebpf is checked with the kernel's view
// in TestScrapeJoinsSocketEventsIntoTaskTraces.
func TestObsreportTransportPerOrigin(t *testing.T) {
	dir := t.TempDir()
	copyFixture(t, "internal/tracesrc/testdata/syncnode.trace", dir, "syncnode.trace")
	cfg := fileConfig(dir)
	cfg.Push.NetAddr.Endpoint = unusedAddr(t)
	tel := componenttest.NewTelemetry()
	startObserved(t, cfg, tel, next{traces: new(consumertest.TracesSink)})

	trace, err := os.ReadFile("internal/tracesrc/testdata/flight.trace")
	require.NoError(t, err)
	resp, err := http.Post(fmt.Sprintf("http://%s/v1/trace?target=offline", cfg.Push.NetAddr.Endpoint), "application/octet-stream", strings.NewReader(string(trace)))
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusAccepted, resp.StatusCode)

	accepted := func(transport string) int64 {
		return counted(t, tel, "otelcol_receiver_accepted_spans", "transport", transport)
	}
	require.Eventually(t, func() bool { return accepted("file") > 0 }, 20*time.Second, 50*time.Millisecond)
	assert.Positive(t, accepted("http"))
	assert.Zero(t, accepted("ebpf"))
}
