package e2e

import (
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gostitch/gostitch/internal/roottest"
)

// TestJaegerShowsOtelappRequestsWithTheRuntimeAndKernelInside: examples/otelapp, an OTel
// service with no gostitch code, next to the distribution on examples/otel-app.yaml (merged
// with testdata/otel-app-jaeger.yaml) exporting to Jaeger. In Jaeger, an HTTP server span of
// the app (GET /work) holds in its own trace: the go.trace span of the task the OTel SDK began
// for it, as its child, with the task's time breakdown; a block span with its stack; and a
// kernel tcp span from eBPF joined to the request; every span's parent is in the trace.
func TestJaegerShowsOtelappRequestsWithTheRuntimeAndKernelInside(t *testing.T) {
	roottest.Need(t, "loading eBPF programs")
	query, jaegerOTLP := startJaeger(t)
	dist := distBinary(t)
	app := buildExample(t, "otelapp")

	ports := freePorts(t, 4) // the collector's OTLP receiver, the app's pprof, health_check, self-telemetry
	// 20 requests/s, HTTP and gRPC alternating (Jaeger answers the latest 200 traces: 20 s of them,
	// more than a window takes to reach it); each waits 3ms for the backend's reply (a block
	// span and a kernel read wait) and updates a table under a shared lock.
	startProcess(t, "otelapp", nil, app, "-http", "127.0.0.1:0", "-grpc", "127.0.0.1:0", "-pprof", "127.0.0.1:"+ports[1],
		"-otlp", "127.0.0.1:"+ports[0], "-service", "otelapp",
		"-load-rate", "20", "-load-duration", "5m", "-slow-backend", "3ms", "-lock")
	require.Eventually(t, func() bool { return httpOK("http://127.0.0.1:" + ports[1] + "/debug/pprof/") },
		30*time.Second, 100*time.Millisecond, "otelapp serves pprof")
	// The app's exporter retries until the collector listens.
	startProcess(t, "collector", []string{
		"GOSTITCH_APP_OTLP=127.0.0.1:" + ports[0], "GOSTITCH_TARGET=http://127.0.0.1:" + ports[1],
		"GOSTITCH_EXPORT_OTLP=127.0.0.1:" + jaegerOTLP, "GOSTITCH_HEALTH=127.0.0.1:" + ports[2], "GOSTITCH_TELEMETRY_PORT=" + ports[3],
	}, dist, "--config", "../examples/otel-app.yaml", "--config", "testdata/otel-app-jaeger.yaml", "--feature-gates=service.profilesSupport")

	var views []requestView
	found := assert.Eventually(t, func() bool {
		if traces := jaegerTraces(query, "otelapp", "GET /work"); len(traces) > 0 { // none when a query timed out
			views = requestViews(traces)
		}
		return slices.ContainsFunc(views, requestView.complete)
	}, 50*time.Second, time.Second,
		"a GET /work span of the app holds in its Jaeger trace its go.trace task span (with gostitch.time.*), a block span with a stack and a joined ebpf tcp span")
	var task, breakdown, block, kernel, complete int
	for _, v := range views {
		task, breakdown, block, kernel = task+b2i(v.task), breakdown+b2i(v.breakdown), block+b2i(v.block), kernel+b2i(v.kernel)
		complete += b2i(v.complete())
	}
	// Requests outside the traced windows (4 s of every 5 s), or in a window not converted yet, have no task span.
	t.Logf("of %d GET /work spans in Jaeger: %d with their task span as a child (%d with its breakdown), %d with a block span, %d with a joined kernel span; %d (%.0f %% of those with a task span) with all of it",
		len(views), task, breakdown, block, kernel, complete, 100*float64(complete)/float64(max(task, 1)))
	if !found {
		t.FailNow()
	}
	for _, v := range views {
		require.False(t, v.complete() && v.orphan, "a request's trace holding all of it holds every span's parent")
	}

	// The receiver's self-telemetry counts the tasks hung under app spans and those left out.
	metrics := "http://127.0.0.1:" + ports[3] + "/metrics"
	require.Eventually(t, func() bool {
		return sumLabeled(httpBody(metrics), "gostitch_receiver_joined", `gostitch_join_method="app_span"`) > 0
	}, 10*time.Second, 500*time.Millisecond, "gostitch.receiver.joined counts app_span joins")
	body := httpBody(metrics)
	t.Logf("self-telemetry: tasks joined to app spans %v, unmatched %v, ambiguous %v",
		sumLabeled(body, "gostitch_receiver_joined", `gostitch_join_method="app_span"`),
		sumLabeled(body, "gostitch_receiver_app_span_misses", `gostitch_join_miss="unmatched"`),
		sumLabeled(body, "gostitch_receiver_app_span_misses", `gostitch_join_miss="ambiguous"`))
}

// requestView is what Jaeger shows under one app HTTP server span.
type requestView struct {
	task      bool // a go.trace span is its child: the SDK's task was joined
	breakdown bool // such a task span carries gostitch.time.running, .runnable and a .blocked.<reason>
	block     bool // a go.trace "block <reason>" span with code.stacktrace descends from it
	kernel    bool // an ebpf "tcp ..." span descends from it through a go.trace span
	orphan    bool // a span of its trace names a parent the trace does not hold
}

func (v requestView) complete() bool { return v.task && v.breakdown && v.block && v.kernel }

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// requestViews returns the view of each GET /work span of the app (no gostitch.source) in traces.
func requestViews(traces []jaegerTrace) []requestView {
	var views []requestView
	for _, tr := range traces {
		for app, sp := range tr.Spans {
			if sp.OperationName != "GET /work" || tr.tag(app, "gostitch.source") != "" {
				continue
			}
			var v requestView
			for i, sp := range tr.Spans {
				v.orphan = v.orphan || tr.parent(i) == -2
				switch src := tr.tag(i, "gostitch.source"); {
				case src == "go.trace" && tr.parent(i) == app:
					v.task = true
					v.breakdown = v.breakdown || tr.hasBreakdown(i)
				case src == "go.trace" && strings.HasPrefix(sp.OperationName, "block ") && tr.underTask(i, app):
					v.block = v.block || tr.tag(i, "code.stacktrace") != ""
				case src == "ebpf" && strings.HasPrefix(sp.OperationName, "tcp ") && tr.underTask(i, app):
					v.kernel = v.kernel || tr.underSource(i, "go.trace")
				}
			}
			views = append(views, v)
		}
	}
	return views
}

// hasBreakdown reports whether span i carries the task time breakdown, blocked time included.
func (t jaegerTrace) hasBreakdown(i int) bool {
	blocked := false
	for _, tg := range t.Spans[i].Tags {
		blocked = blocked || strings.HasPrefix(tg.Key, "gostitch.time.blocked.")
	}
	return blocked && t.tag(i, "gostitch.time.running") != "" && t.tag(i, "gostitch.time.runnable") != ""
}

// underSource reports whether an ancestor of span i has the given gostitch.source.
func (t jaegerTrace) underSource(i int, source string) bool {
	for p := t.parent(i); p >= 0; p = t.parent(p) {
		if t.tag(p, "gostitch.source") == source {
			return true
		}
	}
	return false
}

// sumLabeled adds up the samples of a metric in Prometheus text whose labels hold every part
// (label="value").
func sumLabeled(metrics, name string, parts ...string) float64 {
	var sum float64
	for _, m := range promSample.FindAllStringSubmatch(metrics, -1) {
		if v, err := strconv.ParseFloat(m[3], 64); m[1] == name && err == nil && containsLine(m[2], parts...) {
			sum += v
		}
	}
	return sum
}

// buildExample builds examples/<name> into the test's temporary directory and returns its path.
func buildExample(t testing.TB, name string) string {
	t.Helper()
	return buildProgram(t, "../examples/"+name)
}

// buildProgram builds the main package pkg into the test's temporary directory and returns its
// path.
func buildProgram(t testing.TB, pkg string) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), path.Base(pkg))
	out, err := exec.Command("go", "build", "-o", bin, pkg).CombinedOutput()
	require.NoError(t, err, "go build %s: %s", pkg, out)
	return bin
}
