package gostitchreceiver

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.uber.org/zap/zaptest/observer"

	"github.com/gostitch/gostitch/internal/gziptest"
	"github.com/gostitch/gostitch/receiver/internal/collect"
	"github.com/gostitch/gostitch/receiver/internal/metadata"
	"github.com/gostitch/gostitch/receiver/internal/target"
)

// htmlPage is what a proxy or a service that is not Go answers on a pprof URL.
const htmlPage = "<!DOCTYPE html>\n<html><head><title>502 Bad Gateway</title></head><body><h1>502 Bad Gateway</h1></body></html>\n"

// traceDrops counts the execution traces dropped as bad input.
func traceDrops(t *testing.T, tel *componenttest.Telemetry) int64 {
	return counted(t, tel, metadata.TelemetryGostitchReceiverDropped.Name,
		metadata.AttributeSource, metadata.AttributeSourceGoTrace, metadata.AttributeDropReason, "bad_input")
}

// traceWarning returns the error of the first "Execution trace not fully converted" warning
// about target, "" if none.
func traceWarning(logs *observer.ObservedLogs, target string) string {
	for _, e := range logs.FilterMessage("Execution trace not fully converted").All() {
		if err := e.ContextMap()["error"].(string); strings.Contains(err, `target "`+target+`"`) {
			return err
		}
	}
	return ""
}

// badAndGoodFileTargets runs the receiver on two file targets: "bad" reads bad.trace, holding
// data, and "good" a real trace; limit is limits.max_trace_bytes.
func badAndGoodFileTargets(t *testing.T, data []byte, limit int64) (*componenttest.Telemetry, *observer.ObservedLogs, *consumertest.TracesSink, string) {
	t.Helper()
	badDir, goodDir := t.TempDir(), t.TempDir()
	bad := filepath.Join(badDir, "bad.trace")
	require.NoError(t, os.WriteFile(bad, data, 0o644))
	copyFixture(t, "internal/tracesrc/testdata/annotations.trace", goodDir, "good.trace")
	cfg := createDefaultConfig()
	cfg.CollectionInterval = 2 * time.Second // the good target's first window starts 1s after the bad one's
	cfg.EBPF.Mode = EBPFModeOff
	cfg.Limits.MaxTraceBytes = limit
	cfg.Targets = []TargetConfig{
		{Name: "bad", TraceFiles: []string{filepath.Join(badDir, "*.trace")}},
		{Name: "good", TraceFiles: []string{filepath.Join(goodDir, "*.trace")}},
	}
	tel := componenttest.NewTelemetry()
	traces := new(consumertest.TracesSink)
	logs := startObserved(t, cfg, tel, next{traces: traces})
	return tel, logs, traces, bad
}

// TestTextFileAsTraceIsDropped: a trace_files target matching a text file warns with the
// target, the path and the cause and counts a drop; the collector and the other target go on.
func TestTextFileAsTraceIsDropped(t *testing.T) {
	tel, logs, traces, bad := badAndGoodFileTargets(t, []byte("hello\n"), 512<<20)

	require.Eventually(t, func() bool { return traceWarning(logs, "bad") != "" && traces.SpanCount() > 0 },
		10*time.Second, 20*time.Millisecond, "the good target's spans went out")
	assert.Contains(t, traceWarning(logs, "bad"), "execution trace from "+bad+": bad input: execution trace: not a Go execution trace")
	assert.Equal(t, int64(1), traceDrops(t, tel))
	assert.Empty(t, traceWarning(logs, "good"))
}

// TestGzipTraceFileIsRead: a gzip-compressed execution trace converts as the plain one does.
func TestGzipTraceFileIsRead(t *testing.T) {
	trace, err := os.ReadFile("internal/tracesrc/testdata/annotations.trace")
	require.NoError(t, err)
	tel, logs, traces, _ := badAndGoodFileTargets(t, gziptest.Compress(t, trace), 512<<20)

	require.Eventually(t, func() bool {
		return spanTargets(traces)["bad"] && spanTargets(traces)["good"]
	}, 10*time.Second, 20*time.Millisecond, "both targets' spans went out")
	assert.Zero(t, logs.FilterMessage("Execution trace not fully converted").Len())
	assert.Zero(t, traceDrops(t, tel))
}

// TestGzipBombTraceIsCutAtTheLimit: a small gzip file that inflates to megabytes is read up to
// limits.max_trace_bytes; the cut is named, counted as a drop, and the other target goes on.
func TestGzipBombTraceIsCutAtTheLimit(t *testing.T) {
	trace, err := os.ReadFile("internal/tracesrc/testdata/window2.trace")
	require.NoError(t, err)
	const limit = 24 << 10
	bomb := gziptest.Compress(t, append(trace, make([]byte, 8<<20)...))
	require.Less(t, len(bomb), limit, "the bomb passes the size check of the file itself")
	tel, logs, traces, bad := badAndGoodFileTargets(t, bomb, limit)

	require.Eventually(t, func() bool { return traceWarning(logs, "bad") != "" && spanTargets(traces)["good"] },
		10*time.Second, 20*time.Millisecond)
	warning := traceWarning(logs, "bad")
	assert.Contains(t, warning, "execution trace from "+bad+": bad input: ")
	assert.Contains(t, warning, "input too large: decompresses to more than 24576 bytes")
	assert.Equal(t, int64(1), traceDrops(t, tel))
}

// TestScrapedHTMLTraceIsDropped: a target whose /debug/pprof/trace answers an HTML page (sent
// as binary, as a misconfigured proxy does) warns and counts a drop each window; the target is
// scraped again and another target's windows keep coming.
func TestScrapedHTMLTraceIsDropped(t *testing.T) {
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/octet-stream")
		io.WriteString(w, htmlPage)
	}))
	t.Cleanup(proxy.Close)
	good := httptest.NewServer(pprofHandler())
	t.Cleanup(good.Close)
	tel := componenttest.NewTelemetry()
	profiles := new(consumertest.ProfilesSink)
	logs := startObserved(t, scrapeConfig(true,
		endpointTarget("proxy", proxy.URL, 5*time.Second),
		endpointTarget("good", good.URL, 5*time.Second)), tel, next{profiles: profiles})

	require.Eventually(t, func() bool { return traceDrops(t, tel) >= 2 && profiles.SampleCount() > 0 }, 20*time.Second, 20*time.Millisecond,
		"the proxied target is scraped again after its first bad window, and the good target's profiles go out")
	assert.Contains(t, traceWarning(logs, "proxy"),
		"execution trace from "+proxy.URL+`/debug/pprof/trace?seconds=1: bad input: execution trace: not a Go execution trace: header "<!DOCTYPE html>\n"`)
	assert.Empty(t, traceWarning(logs, "good"))
	assert.Positive(t, collections(t, tel, "good", metadata.AttributeOutcomeSuccess))
}

// TestPushedGarbageIsRefused: garbage uploaded as a trace or a profile is answered 400 with
// the cause, warned about and counted as a drop; the next good upload converts.
func TestPushedGarbageIsRefused(t *testing.T) {
	endpoint := unusedAddr(t)
	cfg := createDefaultConfig()
	cfg.EBPF.Mode = EBPFModeOff
	cfg.Push.NetAddr.Endpoint = endpoint
	cfg.Targets = []TargetConfig{{Name: "app"}}
	tel := componenttest.NewTelemetry()
	traces := new(consumertest.TracesSink)
	logs := startObserved(t, cfg, tel, next{traces: traces})
	post := func(path string, body []byte) (int, string) {
		resp, err := http.Post("http://"+endpoint+path+"?target=app", "application/octet-stream", bytes.NewReader(body))
		require.NoError(t, err)
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		return resp.StatusCode, string(b)
	}

	code, body := post("/v1/trace", []byte("hello\n"))
	assert.Equal(t, http.StatusBadRequest, code)
	assert.Contains(t, body, `target "app": execution trace from push app: bad input: execution trace: not a Go execution trace`)
	code, body = post("/v1/trace", []byte(htmlPage))
	assert.Equal(t, http.StatusBadRequest, code)
	assert.Contains(t, body, "not a Go execution trace")
	code, body = post("/v1/pprof", []byte(htmlPage))
	assert.Equal(t, http.StatusBadRequest, code)
	assert.Contains(t, body, "not a pprof profile: got an HTML page")
	assert.Equal(t, int64(2), traceDrops(t, tel))
	assert.Equal(t, 2, logs.FilterMessage("Execution trace not fully converted").Len())
	assert.Equal(t, 1, logs.FilterMessage("Profile not converted").Len())

	trace, err := os.ReadFile("internal/tracesrc/testdata/flight.trace")
	require.NoError(t, err)
	code, body = post("/v1/trace", gziptest.Compress(t, trace))
	assert.Equal(t, http.StatusAccepted, code, body)
	assert.Positive(t, traces.SpanCount())
}

// spanTargets says which targets (service.name) the spans came from.
func spanTargets(traces *consumertest.TracesSink) map[string]bool {
	names := map[string]bool{}
	for _, td := range traces.AllTraces() {
		for i := 0; i < td.ResourceSpans().Len(); i++ {
			if v, ok := td.ResourceSpans().At(i).Resource().Attributes().Get("service.name"); ok {
				names[v.Str()] = true
			}
		}
	}
	return names
}

// TestVanishedTraceIsDropped: a trace file gone between its collection and its conversion
// is warned about with the target and counted as dropped, as a read error.
func TestVanishedTraceIsDropped(t *testing.T) {
	h := newWindowHarness(t)
	gone := filepath.Join(t.TempDir(), "gone.trace")
	w := &collect.Window{Target: target.Identity{Name: fuzzTarget}, Origin: collect.OriginFile,
		Traces: []collect.Trace{collect.NewFileTrace(gone, 100)}}

	err := h.r.ConsumeWindow(context.Background(), w)
	require.ErrorContains(t, err, `target "app": open execution trace `+gone)
	warned := h.logs.FilterMessage("Execution trace not read").All()
	require.Len(t, warned, 1)
	assert.Contains(t, warned[0].ContextMap()["error"], "no such file or directory")
	assert.Equal(t, int64(1), counted(t, h.tel, metadata.TelemetryGostitchReceiverDropped.Name,
		metadata.AttributeSource, metadata.AttributeSourceGoTrace, metadata.AttributeDropReason, "read_error"))
}
