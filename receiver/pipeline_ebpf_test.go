package gostitchreceiver

import (
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/gostitch/gostitch/internal/roottest"
	"github.com/gostitch/gostitch/internal/syncnodetest"
	"github.com/gostitch/gostitch/receiver/internal/metadata"
)

// TestScrapeJoinsSocketEventsIntoTaskTraces scrapes a real syncnode with eBPF on: the kernel's
// read waits of a window land in the block import's trace, under its fetch region. The config
// turns gostitch.tcp.rtt off: the socket metrics come without it.
func TestScrapeJoinsSocketEventsIntoTaskTraces(t *testing.T) {
	roottest.Need(t, "loading eBPF programs")
	if testing.Short() {
		t.Skip("skipped in -short: scrapes syncnode for a few seconds")
	}
	node := syncnodetest.Start(t, "-fsync-every", "0", "-duration", "60s")
	cfg := createDefaultConfig()
	cfg.CollectionInterval = 2 * time.Second
	cfg.Pprof.Profiles = []string{"goroutine"}
	cfg.Pprof.CPUDuration = time.Second
	cfg.Trace.Duration = 2 * time.Second
	cfg.EBPF.Mode = EBPFModeOn
	cfg.EBPF.ReadWaitThreshold = time.Microsecond
	target := TargetConfig{Name: "syncnode", PID: node.PID}
	target.Endpoint = "http://" + node.Addr
	cfg.Targets = []TargetConfig{target}
	cfg.Metrics.GostitchTCPRTT.Enabled = false
	traces, metrics := new(consumertest.TracesSink), new(consumertest.MetricsSink)
	tel := componenttest.NewTelemetry()
	startObserved(t, cfg, tel, next{traces: traces, metrics: metrics})
	require.Eventually(t, func() bool { return readWaitInFetch(traces.AllTraces()) }, 20*time.Second, 250*time.Millisecond,
		"no tcp read wait span under an importBlock's fetch region")
	require.Eventually(t, func() bool {
		return slices.Contains(emittedMetricNames(metrics.AllMetrics()), metadata.MetricGostitchTCPBytes.Name)
	}, 10*time.Second, 250*time.Millisecond, "no socket metrics")
	require.NotContains(t, emittedMetricNames(metrics.AllMetrics()), metadata.MetricGostitchTCPRTT.Name, "turned off in the config")
	for _, transport := range []string{"http", "ebpf"} {
		require.Positive(t, counted(t, tel, "otelcol_receiver_accepted_spans", "transport", transport), "spans of transport %s", transport)
	}
}

// readWaitInFetch says whether a "tcp read wait" span hangs from a "fetch" region span, in the
// trace of an "importBlock" task span.
func readWaitInFetch(traces []ptrace.Traces) bool {
	spans := map[pcommon.SpanID]ptrace.Span{}
	imports := map[pcommon.TraceID]bool{}
	var waits []ptrace.Span
	for _, td := range traces {
		for i := range td.ResourceSpans().Len() {
			sss := td.ResourceSpans().At(i).ScopeSpans()
			for j := range sss.Len() {
				ss := sss.At(j).Spans()
				for k := range ss.Len() {
					sp := ss.At(k)
					spans[sp.SpanID()] = sp
					switch sp.Name() {
					case "importBlock":
						imports[sp.TraceID()] = true
					case "tcp read wait":
						waits = append(waits, sp)
					}
				}
			}
		}
	}
	for _, w := range waits {
		if p, ok := spans[w.ParentSpanID()]; ok && p.Name() == "fetch" && p.TraceID() == w.TraceID() && imports[w.TraceID()] {
			return true
		}
	}
	return false
}
