package gostitchreceiver

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/pprof"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/consumer/xconsumer"
	"go.opentelemetry.io/collector/pdata/pprofile"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.uber.org/zap/zaptest/observer"

	"github.com/gostitch/gostitch/internal/gziptest"
	"github.com/gostitch/gostitch/receiver/internal/metadata"
)

// counted sums the int64 counter name over its data points whose attributes have the values
// of attrs (key, value, key, value…); 0 while the counter has no data point.
func counted(t *testing.T, tel *componenttest.Telemetry, name string, attrs ...string) int64 {
	t.Helper()
	m, err := tel.GetMetric(name)
	if err != nil {
		return 0
	}
	var n int64
points:
	for _, dp := range m.Data.(metricdata.Sum[int64]).DataPoints {
		for i := 0; i+1 < len(attrs); i += 2 {
			if v, ok := dp.Attributes.Value(attribute.Key(attrs[i])); !ok || v.Emit() != attrs[i+1] {
				continue points
			}
		}
		n += dp.Value
	}
	return n
}

// collections counts the collection steps of a target with the given outcome.
func collections(t *testing.T, tel *componenttest.Telemetry, target, outcome string) int64 {
	return counted(t, tel, metadata.TelemetryGostitchReceiverCollections.Name,
		metadata.AttributeTarget, target, metadata.AttributeOutcome, outcome)
}

// collectionError returns the first "Collection failed" error logged for target and kind, "" if none.
func collectionError(logs *observer.ObservedLogs, target, kind string) string {
	for _, e := range logs.FilterMessage("Collection failed").All() {
		if m := e.ContextMap(); m["target"] == target && m["kind"] == kind {
			return m["error"].(string)
		}
	}
	return ""
}

// unusedAddr returns a loopback address nothing listens on. Its port is below the kernel's
// usual ephemeral range (32768–60999), so no outgoing connection takes it in the meantime.
func unusedAddr(t *testing.T) string {
	t.Helper()
	for range 100 {
		ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", 20000+rand.IntN(12000)))
		if err == nil {
			addr := ln.Addr().String()
			require.NoError(t, ln.Close())
			return addr
		}
	}
	t.Fatal("no free loopback port between 20000 and 32000")
	return ""
}

// pprofHandler is net/http/pprof of this process: named profiles and the execution trace.
func pprofHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return mux
}

// servePprof serves this process's net/http/pprof on ln until the test ends.
func servePprof(t *testing.T, ln net.Listener) {
	srv := &http.Server{Handler: pprofHandler(), ReadHeaderTimeout: 5 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(ln)
	}()
	t.Cleanup(func() {
		srv.Close()
		<-done
	})
}

// scrapeConfig scrapes the goroutine profile of each target every second (and a one-second
// execution trace with trace on), eBPF off.
func scrapeConfig(trace bool, targets ...TargetConfig) *Config {
	cfg := createDefaultConfig()
	cfg.CollectionInterval = time.Second
	cfg.Pprof.Profiles = []string{"goroutine"}
	cfg.Pprof.CPUDuration = time.Second
	cfg.Trace.Duration = 0
	if trace {
		cfg.Trace.Duration = time.Second
	}
	cfg.EBPF.Mode = EBPFModeOff
	cfg.Targets = targets
	return cfg
}

func endpointTarget(name, endpoint string, timeout time.Duration) TargetConfig {
	t := TargetConfig{Name: name}
	t.Endpoint = endpoint
	t.Timeout = timeout
	return t
}

// TestTargetDownAtStartThenUp: a target with nothing listening fails with its name, its URL
// and the cause in the log and in gostitch.receiver.collections{outcome=failure}; once it
// listens, its pid is resolved and its profiles flow.
func TestTargetDownAtStartThenUp(t *testing.T) {
	addr := unusedAddr(t)
	tel := componenttest.NewTelemetry()
	profiles := new(consumertest.ProfilesSink)
	logs := startObserved(t, scrapeConfig(false, endpointTarget("late", "http://"+addr, 2*time.Second)), tel, next{profiles: profiles})

	require.Eventually(t, func() bool {
		return collections(t, tel, "late", metadata.AttributeOutcomeFailure) >= 1 && collectionError(logs, "late", "goroutine") != ""
	}, 10*time.Second, 20*time.Millisecond)
	assert.Contains(t, collectionError(logs, "late", "goroutine"), "GET http://"+addr+"/debug/pprof/goroutine: ")
	assert.Contains(t, collectionError(logs, "late", "goroutine"), "connection refused")
	assert.Zero(t, profiles.SampleCount())

	ln, err := net.Listen("tcp", addr)
	require.NoError(t, err)
	servePprof(t, ln)
	require.Eventually(t, func() bool { return profiles.SampleCount() > 0 }, 10*time.Second, 20*time.Millisecond, "collection resumed")
	assert.Positive(t, collections(t, tel, "late", metadata.AttributeOutcomeSuccess))
	resolved := logs.FilterMessage("Resolved target pid").All()
	require.Len(t, resolved, 1)
	assert.Equal(t, "late", resolved[0].ContextMap()["target"])
	assert.Equal(t, int64(os.Getpid()), resolved[0].ContextMap()["pid"])
}

// TestTargetKilledMidScrape: the target process dies while its execution trace streams; the
// failure names the target and the trace URL, the target is retried, and another target's
// windows keep coming.
func TestTargetKilledMidScrape(t *testing.T) {
	child := exec.Command(os.Args[0], "-test.run=^TestHelperPprofProcess$", "-test.count=1")
	child.Env = append(os.Environ(), "GOSTITCH_HELPER_PPROF=1")
	child.Stderr = os.Stderr
	stdout, err := child.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, child.Start())
	t.Cleanup(func() {
		_ = child.Process.Kill()
		_ = child.Wait()
	})
	lines := make(chan string, 2) // the helper prints two lines
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	nextLine := func() string {
		select {
		case l := <-lines:
			return l
		case <-time.After(15 * time.Second):
			t.Fatal("the helper process said nothing for 15s")
			return ""
		}
	}
	victim := nextLine()

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	servePprof(t, ln)
	tel := componenttest.NewTelemetry()
	profiles := new(consumertest.ProfilesSink)
	logs := startObserved(t, scrapeConfig(true,
		endpointTarget("victim", "http://"+victim, 5*time.Second),
		endpointTarget("good", "http://"+ln.Addr().String(), 5*time.Second)), tel, next{profiles: profiles})

	require.Equal(t, "trace streaming", nextLine())
	require.NoError(t, child.Process.Kill())
	_ = child.Wait() // "signal: killed"
	for range lines {
	}
	require.Eventually(t, func() bool { return collectionError(logs, "victim", "trace") != "" }, 10*time.Second, 20*time.Millisecond)
	assert.Contains(t, collectionError(logs, "victim", "trace"), "read http://"+victim+"/debug/pprof/trace?seconds=1: unexpected EOF")

	good := collections(t, tel, "good", metadata.AttributeOutcomeSuccess)
	failed := collections(t, tel, "victim", metadata.AttributeOutcomeFailure)
	require.Eventually(t, func() bool {
		return collections(t, tel, "good", metadata.AttributeOutcomeSuccess) >= good+4 &&
			collections(t, tel, "victim", metadata.AttributeOutcomeFailure) >= failed+2
	}, 20*time.Second, 50*time.Millisecond, "the good target keeps flowing and the dead one is retried")
	assert.Positive(t, profiles.SampleCount(), "the good target's profiles went out (the victim died in its first window)")
}

// TestHelperPprofProcess is the target of TestTargetKilledMidScrape: it serves its own
// net/http/pprof, prints the address, and prints "trace streaming" once the first bytes of an
// execution trace are on the wire.
func TestHelperPprofProcess(t *testing.T) {
	if os.Getenv("GOSTITCH_HELPER_PPROF") == "" {
		t.Skip("helper process of TestTargetKilledMidScrape")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	fmt.Println(ln.Addr())
	var once sync.Once
	handler := pprofHandler()
	_ = http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/debug/pprof/trace" {
			w = &announcingWriter{ResponseWriter: w, announce: func() { once.Do(func() { fmt.Println("trace streaming") }) }}
		}
		handler.ServeHTTP(w, r)
	}))
}

// announcingWriter sends every write to the client at once and then calls announce.
type announcingWriter struct {
	http.ResponseWriter
	announce func()
}

func (w *announcingWriter) Write(p []byte) (int, error) {
	n, err := w.ResponseWriter.Write(p)
	w.ResponseWriter.(http.Flusher).Flush()
	w.announce()
	return n, err
}

// TestScrapeTimeoutLeavesOthersAlone: a target that never answers fails each scrape with its
// name and the time it was given, counted as failures; another target's windows keep coming.
func TestScrapeTimeoutLeavesOthersAlone(t *testing.T) {
	stuck := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) { <-r.Context().Done() }))
	t.Cleanup(stuck.Close)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	servePprof(t, ln)
	tel := componenttest.NewTelemetry()
	profiles := new(consumertest.ProfilesSink)
	logs := startObserved(t, scrapeConfig(false,
		endpointTarget("stuck", stuck.URL, 300*time.Millisecond),
		endpointTarget("good", "http://"+ln.Addr().String(), 5*time.Second)), tel, next{profiles: profiles})

	require.Eventually(t, func() bool {
		return collections(t, tel, "stuck", metadata.AttributeOutcomeFailure) >= 2 &&
			collections(t, tel, "good", metadata.AttributeOutcomeSuccess) >= 2
	}, 20*time.Second, 20*time.Millisecond)
	assert.Contains(t, collectionError(logs, "stuck", "goroutine"), "GET "+stuck.URL+"/debug/pprof/goroutine: no complete answer within 300ms")
	assert.Zero(t, collections(t, tel, "good", metadata.AttributeOutcomeFailure))
	assert.Zero(t, collections(t, tel, "stuck", metadata.AttributeOutcomeSuccess))
	assert.Positive(t, profiles.SampleCount())
}

// TestDownstreamRejectionsAreCountedNotRetried: whether the next consumer's error is
// retryable or permanent, the receiver does not retry; the items it handed over are counted as
// refused by obsreport, the other signals still flow, and the upload's client learns whether
// to send again (503) or not (400).
func TestDownstreamRejectionsAreCountedNotRetried(t *testing.T) {
	heap, err := os.ReadFile("internal/pprofsrc/testdata/heap.pb.gz")
	require.NoError(t, err)
	for _, tc := range []struct {
		name   string
		err    error
		status int
	}{
		{"retryable", errors.New("exporter queue is full"), http.StatusServiceUnavailable},
		{"permanent", consumererror.NewPermanent(errors.New("exporter rejects the data")), http.StatusBadRequest},
	} {
		t.Run(tc.name, func(t *testing.T) {
			endpoint := unusedAddr(t)
			cfg := createDefaultConfig()
			cfg.EBPF.Mode = EBPFModeOff
			cfg.Push.NetAddr.Endpoint = endpoint
			cfg.Targets = []TargetConfig{{Name: "app"}}
			var mu sync.Mutex
			var calls, handed int
			failing, err := xconsumer.NewProfiles(func(_ context.Context, pd pprofile.Profiles) error {
				mu.Lock()
				defer mu.Unlock()
				calls++
				handed += pd.SampleCount()
				return tc.err
			})
			require.NoError(t, err)
			metrics := new(consumertest.MetricsSink)
			tel := componenttest.NewTelemetry()
			logs := startObserved(t, cfg, tel, next{metrics: metrics, profiles: failing})

			upload := func() {
				resp, err := http.Post("http://"+endpoint+"/v1/pprof?target=app", "application/octet-stream", bytes.NewReader(heap))
				require.NoError(t, err)
				body, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				require.NoError(t, err)
				assert.Equal(t, tc.status, resp.StatusCode)
				assert.Contains(t, string(body), tc.err.Error())
			}
			upload()
			mu.Lock()
			first, firstSamples := calls, handed
			mu.Unlock()
			require.Positive(t, firstSamples)
			upload()
			mu.Lock()
			defer mu.Unlock()
			assert.Equal(t, 2*first, calls, "the second upload is handed over as often as the first: nothing was retried")
			assert.Equal(t, 2*firstSamples, handed)

			assert.Equal(t, int64(handed), counted(t, tel, "otelcol_receiver_refused_profile_samples"), "every sample handed over is counted as refused")
			assert.Zero(t, counted(t, tel, "otelcol_receiver_accepted_profile_samples"))
			assert.Positive(t, metrics.DataPointCount(), "the other signal still flows")
			assert.Equal(t, int64(metrics.DataPointCount()), counted(t, tel, "otelcol_receiver_accepted_metric_points"))
			assert.Equal(t, int64(2), collections(t, tel, "app", metadata.AttributeOutcomeFailure))
			logged := logs.FilterMessageSnippet("Push upload").All()
			require.Len(t, logged, 2)
			assert.Equal(t, "app", logged[0].ContextMap()["target"])
		})
	}
}

// TestTraceUploadRefusedDownstreamIsRetryable: when the next consumer refuses an execution
// trace's spans for now, the upload gets 503 (retry later), not 400: the bytes were fine. The
// refused spans are counted as refused, nothing is counted as bad input, and the trace's
// metrics still flow.
func TestTraceUploadRefusedDownstreamIsRetryable(t *testing.T) {
	data, err := os.ReadFile("internal/tracesrc/testdata/blocksync.trace")
	require.NoError(t, err)
	endpoint := unusedAddr(t)
	cfg := createDefaultConfig()
	cfg.EBPF.Mode = EBPFModeOff
	cfg.Push.NetAddr.Endpoint = endpoint
	cfg.Targets = []TargetConfig{{Name: "app"}}
	var handed atomic.Int64
	failing, err := consumer.NewTraces(func(_ context.Context, td ptrace.Traces) error {
		handed.Add(int64(td.SpanCount()))
		return errors.New("exporter queue is full")
	})
	require.NoError(t, err)
	metrics := new(consumertest.MetricsSink)
	tel := componenttest.NewTelemetry()
	logs := startObserved(t, cfg, tel, next{traces: failing, metrics: metrics})

	resp, err := http.Post("http://"+endpoint+"/v1/trace?target=app", "application/octet-stream", bytes.NewReader(data))
	require.NoError(t, err)
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.NoError(t, err)
	assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode, "%s", body)
	require.Positive(t, handed.Load())
	assert.Equal(t, handed.Load(), counted(t, tel, "otelcol_receiver_refused_spans"), "every span handed over is counted as refused")
	assert.Positive(t, metrics.DataPointCount(), "the trace's metrics still flow")
	assert.Empty(t, logs.FilterMessageSnippet("not fully converted").All(), "a refusal downstream is not bad input")
}

// TestInputsOverLimitsAreRejected: files over limits.max_profile_bytes or max_trace_bytes, a
// profile that decompresses beyond the limit and an upload that does are rejected with the
// limit named; an input within the limits still flows.
func TestInputsOverLimitsAreRejected(t *testing.T) {
	dir := t.TempDir()
	copyFixture(t, "internal/pprofsrc/testdata/mutex.pb.gz", dir, "ok.pb.gz") // 518 bytes
	require.NoError(t, os.WriteFile(filepath.Join(dir, "big.pb.gz"), make([]byte, 4097), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "bomb.pb.gz"), gziptest.Compress(t, make([]byte, 1<<20)), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "big.trace"), make([]byte, 4097), 0o644))
	endpoint := unusedAddr(t)
	cfg := fileConfig(dir)
	cfg.Limits = LimitsConfig{MaxProfileBytes: 4096, MaxTraceBytes: 4096, MaxConcurrentConversionBytes: 4096}
	cfg.Push.NetAddr.Endpoint = endpoint
	tel := componenttest.NewTelemetry()
	profiles := new(consumertest.ProfilesSink)
	logs := startObserved(t, cfg, tel, next{profiles: profiles})

	require.Eventually(t, func() bool {
		return logs.FilterMessage("Profile not converted").Len() == 1 && profiles.SampleCount() > 0
	}, 10*time.Second, 20*time.Millisecond, "the profile within the limits went out")
	assert.Contains(t, collectionError(logs, "offline", "pprof_file"), filepath.Join(dir, "big.pb.gz")+": larger than limits.max_profile_bytes (4096)")
	assert.Contains(t, collectionError(logs, "offline", "trace_file"), filepath.Join(dir, "big.trace")+": larger than limits.max_trace_bytes (4096)")
	bomb := logs.FilterMessage("Profile not converted").All()[0].ContextMap()["error"]
	assert.Contains(t, bomb, filepath.Join(dir, "bomb.pb.gz"))
	assert.Contains(t, bomb, "profile too large: decompresses to more than 4096 bytes")
	assert.Equal(t, int64(1), counted(t, tel, metadata.TelemetryGostitchReceiverDropped.Name,
		metadata.AttributeSource, metadata.AttributeSourcePprof, metadata.AttributeDropReason, "bad_input"))

	// Uploads are bounded after decompression: a small gzip body that inflates past the limit.
	req, err := http.NewRequest(http.MethodPost, "http://"+endpoint+"/v1/trace?target=offline", bytes.NewReader(gziptest.Compress(t, make([]byte, 1<<20))))
	require.NoError(t, err)
	req.Header.Set("Content-Encoding", "gzip")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.NoError(t, err)
	assert.Equal(t, http.StatusRequestEntityTooLarge, resp.StatusCode)
	assert.Contains(t, string(body), "upload larger than the limit of 4096 bytes")
	refused := logs.FilterMessage("Push upload failed").All()
	require.Len(t, refused, 1)
	assert.Equal(t, "offline", refused[0].ContextMap()["target"])
	assert.Equal(t, int64(1), traceDrops(t, tel))
}
