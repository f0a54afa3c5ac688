package e2e

import (
	"encoding/json"
	"os"
	"os/exec"
	"regexp"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/gostitch/gostitch/internal/syncnodetest"
)

// TestGatewayPassesTracesAndProfilesIntact: agent (gostitch on syncnode and the app's own OTLP
// spans) → gateway (examples/gateway.yaml) → Jaeger. The app's importBlock span, gostitch's
// task span under it and a kernel span under that arrive in one trace with every parent
// present; metrics pass; and the profiles the gateway receives keep their link tables, whose
// links name spans that are in Jaeger.
func TestGatewayPassesTracesAndProfilesIntact(t *testing.T) {
	bin := distBinary(t)
	query, jaegerOTLP := startJaeger(t)
	ports := freePorts(t, 4) // gateway OTLP, health and telemetry; agent OTLP
	gw := exec.Command(bin, "--config", "../examples/gateway.yaml", "--feature-gates=service.profilesSupport")
	gw.Env = append(os.Environ(),
		"GATEWAY_OTLP_GRPC=127.0.0.1:"+ports[0],
		"GATEWAY_HEALTH=127.0.0.1:"+ports[1],
		"GATEWAY_TELEMETRY_PORT="+ports[2],
		"GATEWAY_BACKEND_OTLP=127.0.0.1:"+jaegerOTLP,
		"GATEWAY_VERBOSITY=detailed",
	)
	gateway := startLogged(t, "gateway", gw)
	require.Eventually(t, func() bool { return httpOK("http://127.0.0.1:" + ports[1] + "/") }, 30*time.Second, 200*time.Millisecond,
		"the gateway's health_check reports ready")

	node := syncnodetest.Start(t, "-peers", "3", "-slow-peer", "1", "-otlp-endpoint", "127.0.0.1:"+ports[3])
	startProcess(t, "agent", []string{"SYNCNODE_PPROF=http://" + node.Addr, "AGENT_OTLP_PORT=" + ports[3], "GATEWAY_OTLP_PORT=" + ports[0]},
		bin, "--config", "testdata/collector-agent.yaml", "--feature-gates=service.profilesSupport")

	var found jaegerTrace
	require.Eventually(t, func() bool {
		for _, tr := range jaegerTraces(query, "syncnode", "importBlock") {
			if appTaskKernel(tr) {
				found = tr
				return true
			}
		}
		return false
	}, 60*time.Second, time.Second, "a Jaeger trace holds the app's importBlock span, gostitch's task span under it and a kernel span under that")
	for i, sp := range found.Spans {
		require.NotEqual(t, -2, found.parent(i), "span %s %q has its parent in trace %s", sp.SpanID, sp.OperationName, found.TraceID)
	}

	gateway.waitFor(t, 20*time.Second, "-> Name: go.schedule.duration", "Sample #")
	require.Eventually(t, func() bool {
		links := profileLinks(gateway.log.String())
		for _, l := range links[max(0, len(links)-10):] {
			if tr, ok := jaegerTraceByID(query, l[0]); ok {
				for i, sp := range tr.Spans {
					if sp.SpanID == l[1] && sp.OperationName == "importBlock" && tr.tag(i, "gostitch.source") == "" {
						return true
					}
				}
			}
		}
		return false
	}, 30*time.Second, time.Second, "a profile link at the gateway names the app's importBlock span, which is in Jaeger")
}

// appTaskKernel reports whether tr holds the app's importBlock span (no gostitch.source),
// gostitch's importBlock task span as its child and an eBPF span below the task span.
func appTaskKernel(tr jaegerTrace) bool {
	for task, sp := range tr.Spans {
		app := tr.parent(task)
		if sp.OperationName != "importBlock" || tr.tag(task, "gostitch.source") != "go.trace" ||
			app < 0 || tr.Spans[app].OperationName != "importBlock" || tr.tag(app, "gostitch.source") != "" {
			continue
		}
		for i := range tr.Spans {
			if tr.tag(i, "gostitch.source") == "ebpf" && tr.underTask(i, task) {
				return true
			}
		}
	}
	return false
}

// linkTable matches the debug exporter's (detailed) print of a profile link table; it prints
// the last link of each table.
var linkTable = regexp.MustCompile(`Link table:\n\s+-> Trace ID: Str\(([0-9a-f]{32})\)\n\s+-> Span ID: Str\(([0-9a-f]{16})\)`)

// profileLinks returns the non-zero (trace id, span id) links the debug exporter printed, in order.
func profileLinks(log string) [][2]string {
	var links [][2]string
	for _, m := range linkTable.FindAllStringSubmatch(log, -1) {
		if m[1] != "00000000000000000000000000000000" {
			links = append(links, [2]string{m[1], m[2]})
		}
	}
	return links
}

// jaegerTraceByID fetches one trace from Jaeger's query API.
func jaegerTraceByID(query, traceID string) (jaegerTrace, bool) {
	var resp struct {
		Data []jaegerTrace `json:"data"`
	}
	if json.Unmarshal([]byte(httpBody(query+"/api/traces/"+traceID)), &resp) != nil || len(resp.Data) != 1 {
		return jaegerTrace{}, false
	}
	return resp.Data[0], true
}
