package e2e

import (
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/gostitch/gostitch/internal/syncnodetest"
)

// jaegerTrace is the part of Jaeger's query API answer the tests read.
type jaegerTrace struct {
	TraceID string `json:"traceID"`
	Spans   []struct {
		SpanID        string `json:"spanID"`
		OperationName string `json:"operationName"`
		References    []struct {
			RefType string `json:"refType"`
			SpanID  string `json:"spanID"`
		} `json:"references"`
		Tags []struct {
			Key   string `json:"key"`
			Value any    `json:"value"`
		} `json:"tags"`
	} `json:"spans"`
}

// tag returns the value of a span tag as text, "" when absent.
func (t jaegerTrace) tag(span int, key string) string {
	for _, tg := range t.Spans[span].Tags {
		if tg.Key == key {
			return fmt.Sprint(tg.Value)
		}
	}
	return ""
}

// parent returns the index of a span's parent in the trace, -1 for a root, -2 when the parent is missing.
func (t jaegerTrace) parent(span int) int {
	for _, ref := range t.Spans[span].References {
		if ref.RefType != "CHILD_OF" {
			continue
		}
		for i := range t.Spans {
			if t.Spans[i].SpanID == ref.SpanID {
				return i
			}
		}
		return -2
	}
	return -1
}

// startJaeger runs the cached Jaeger v1.75.0 binary on loopback and returns its query base URL
// and its OTLP gRPC port.
func startJaeger(t *testing.T) (query, otlpPort string) {
	t.Helper()
	bin := os.Getenv("GOSTITCH_JAEGER")
	if bin == "" {
		t.Skip("GOSTITCH_JAEGER is not set: run `make test`, which builds Jaeger v1.75.0 once into ~/.cache/gostitch")
	}
	ports := freePorts(t, 3)
	startProcess(t, "jaeger", []string{"JAEGER_QUERY_PORT=" + ports[0], "JAEGER_QUERY_GRPC_PORT=" + ports[1], "JAEGER_OTLP_PORT=" + ports[2]},
		bin, "--config", "../examples/jaeger.yaml")
	query = "http://127.0.0.1:" + ports[0]
	require.Eventually(t, func() bool { return httpOK(query + "/api/services") }, 30*time.Second, 200*time.Millisecond, "jaeger query API up")
	return query, ports[2]
}

func jaegerTraces(query, service, operation string) []jaegerTrace {
	q := url.Values{"service": {service}, "operation": {operation}, "limit": {"200"}, "lookback": {"1h"}}
	var resp struct {
		Data []jaegerTrace `json:"data"`
	}
	if json.Unmarshal([]byte(httpBody(query+"/api/traces?"+q.Encode())), &resp) != nil {
		return nil
	}
	return resp.Data
}

// TestJaegerShowsTheAppSpanWithTheRuntimeInside: the app's own importBlock span (OTel SDK),
// gostitch's execution-trace spans and the kernel's socket spans of the same block land in one
// Jaeger trace, parent links intact.
func TestJaegerShowsTheAppSpanWithTheRuntimeInside(t *testing.T) {
	query, jaegerOTLP := startJaeger(t)
	agentPort := freePorts(t, 1)[0]
	node := "http://" + syncnodetest.Start(t, "-peers", "3", "-slow-peer", "1", "-otlp-endpoint", "127.0.0.1:"+agentPort).Addr
	// The agent starts after the node so the node's pprof address is known; the node's exporter retries.
	startAgent(t, node, jaegerOTLP, agentPort)

	var found jaegerTrace
	var taskSpan int
	require.Eventually(t, func() bool {
		for _, tr := range jaegerTraces(query, "syncnode", "importBlock") {
			app, task := -1, -1
			for i, sp := range tr.Spans {
				if sp.OperationName != "importBlock" {
					continue
				}
				switch tr.tag(i, "gostitch.source") {
				case "":
					app = i
				case "go.trace":
					if tr.parent(i) >= 0 && tr.tag(tr.parent(i), "gostitch.source") == "" {
						task = i
					}
				}
			}
			if app < 0 || task < 0 || tr.parent(task) != app {
				continue
			}
			for i, sp := range tr.Spans {
				if sp.OperationName == "tcp read wait" && tr.tag(i, "gostitch.source") == "ebpf" && tr.underTask(i, task) {
					found, taskSpan = tr, task
					return true
				}
			}
		}
		return false
	}, 60*time.Second, time.Second, "a Jaeger trace holds the app's importBlock span, gostitch's task span under it and a kernel tcp read wait span under that")

	regions := map[string]bool{}
	for i, sp := range found.Spans {
		if found.parent(i) == taskSpan && found.tag(i, "gostitch.source") == "go.trace" {
			regions[sp.OperationName] = true
		}
		require.NotEqual(t, -2, found.parent(i), "span %s %q has its parent in the trace", sp.SpanID, sp.OperationName)
	}
	for _, r := range []string{"fetch", "deserialize", "verify", "store", "broadcast"} {
		require.True(t, regions[r], "region span %s under the task span; have %v", r, regions)
	}
	require.NotEmpty(t, found.tag(taskSpan, "gostitch.time.running"), "the task span carries its time breakdown")

	// CPU attribution: the CPU samples the execution trace took while a goroutine worked for a
	// block's task put CPU time on that task's span.
	require.Eventually(t, func() bool {
		for _, tr := range jaegerTraces(query, "syncnode", "importBlock") {
			for i := range tr.Spans {
				if tr.tag(i, "gostitch.source") == "go.trace" && tr.tag(i, "gostitch.cpu.time") != "" {
					return true
				}
			}
		}
		return false
	}, 30*time.Second, time.Second, "a go.trace span of a block's trace carries gostitch.cpu.time")

	// The demo's report finds the slowest import in the same Jaeger.
	out, err := exec.Command("go", "run", "../examples/demoreport", "-jaeger", query).CombinedOutput()
	require.NoError(t, err, "%s", out)
	require.Contains(t, string(out), "slowest block import: ")
	require.Contains(t, string(out), query+"/trace/")
	require.Regexp(t, `spans by source: map\[app:\d+ ebpf:\d+ go.trace:\d+\]`, string(out))
}

// underTask reports whether span i descends from span task.
func (t jaegerTrace) underTask(i, task int) bool {
	for p := t.parent(i); p >= 0; p = t.parent(p) {
		if p == task {
			return true
		}
	}
	return false
}

// TestJaegerZeroCodeTracePerBlock: without any instrumentation in the app, each block import is
// one trace holding the execution-trace spans and the kernel's socket spans of that import.
func TestJaegerZeroCodeTracePerBlock(t *testing.T) {
	query, jaegerOTLP := startJaeger(t)
	node := "http://" + syncnodetest.Start(t, "-peers", "3", "-slow-peer", "1").Addr
	startAgent(t, node, jaegerOTLP, freePorts(t, 1)[0])

	require.Eventually(t, func() bool {
		for _, tr := range jaegerTraces(query, "syncnode", "importBlock") {
			task := -1
			for i, sp := range tr.Spans {
				if sp.OperationName == "importBlock" && tr.tag(i, "gostitch.source") == "go.trace" && tr.parent(i) == -1 {
					task = i
				}
			}
			if task < 0 {
				continue
			}
			for i, sp := range tr.Spans {
				if sp.OperationName == "tcp read wait" && tr.tag(i, "gostitch.source") == "ebpf" && tr.underTask(i, task) &&
					tr.tag(i, "gostitch.socket.cookie") != "" {
					return true
				}
			}
		}
		return false
	}, 60*time.Second, time.Second, "a block's trace holds its task span and, under it, a tcp read wait span from eBPF")
}

// startAgent runs the distribution on testdata/collector-jaeger.yaml, receiving the app's OTLP
// spans on otlpPort and exporting everything to Jaeger.
func startAgent(t *testing.T, node, jaegerOTLP, otlpPort string) {
	t.Helper()
	startProcess(t, "collector", []string{"SYNCNODE_PPROF=" + node, "AGENT_OTLP_PORT=" + otlpPort, "JAEGER_OTLP_PORT=" + jaegerOTLP},
		distBinary(t), "--config", "testdata/collector-jaeger.yaml")
}

// startProcess runs a server for the test's duration, stops it with SIGTERM at the end and
// shows the tail of its output when the test failed.
func startProcess(t *testing.T, name string, env []string, bin string, args ...string) {
	t.Helper()
	var log syncBuffer
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = &log, &log
	require.NoError(t, cmd.Start(), "start %s", name)
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
		if t.Failed() {
			t.Logf("%s log (tail):\n%s", name, tail(log.String(), 3000))
		}
	})
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}
