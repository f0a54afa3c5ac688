package gostitchreceiver

import (
	"bytes"
	"compress/gzip"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/consumer/xconsumer"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/pprofile"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/receiver/receivertest"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/gostitch/gostitch/internal/gziptest"
	"github.com/gostitch/gostitch/receiver/internal/collect"
	"github.com/gostitch/gostitch/receiver/internal/metadata"
	"github.com/gostitch/gostitch/receiver/internal/push"
	"github.com/gostitch/gostitch/receiver/internal/target"
)

// fuzzTarget names the one target of FuzzWindow's receiver.
const fuzzTarget = "app"

// scrapeKinds are the profile kinds a fuzzed scrape claims ("" infers it, as for files).
var scrapeKinds = []string{"", "cpu", "heap", "allocs", "goroutine", "block", "mutex"}

// FuzzWindow hands arbitrary bytes to the receiver as one window's pprof profile or execution
// trace (trace), gzip-compressed or not (gz), from a file, a scrape or an upload (how % 3; a
// scrape's profile kind is scrapeKinds[how/3]), under small limits. No input may panic; every
// input the receiver cannot convert is warned about with the target's name and counted as
// dropped, and the real inputs among the seeds convert, plain and gzip'd.
func FuzzWindow(f *testing.F) {
	h := newWindowHarness(f)
	trace := readFixture(f, "internal/tracesrc/testdata/annotations.trace")
	big := readFixture(f, "internal/tracesrc/testdata/window2.trace") // over the trace limit
	mutex := gunzipped(f, readFixture(f, "internal/pprofsrc/testdata/mutex.pb.gz"))
	goroutine := gunzipped(f, readFixture(f, "internal/pprofsrc/testdata/goroutine.pb.gz"))
	h.good = map[string]goodInput{string(trace): {trace: true}, string(mutex): {kind: "mutex"}, string(goroutine): {kind: "goroutine"}}
	bomb := gziptest.Compress(f, make([]byte, 8<<20))
	for _, s := range []struct {
		data      []byte
		trace, gz bool
	}{
		{trace, true, false}, {trace, true, true}, {mutex, false, false}, {goroutine, false, true},
		{[]byte("hello\n"), true, false}, {[]byte("hello\n"), false, false},
		{[]byte(htmlPage), true, false}, {[]byte(htmlPage), false, true},
		{bomb, true, false}, {bomb, false, false}, {big, true, true},
		{trace[:len(trace)/2], true, false}, {mutex[:len(mutex)/2], false, true}, {nil, true, false}, {nil, false, true},
	} {
		for how := range uint8(3) {
			f.Add(s.data, s.trace, s.gz, how)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte, trace, gz bool, how uint8) {
		h.run(t, data, trace, gz, how)
	})
}

// goodInput is a real input FuzzWindow's seeds hold: an execution trace or a profile of kind.
type goodInput struct {
	trace bool
	kind  string
}

// windowHarness is one receiver, not started, whose ConsumeWindow and push handler the fuzzer
// drives; its consumers only count what they are handed.
type windowHarness struct {
	r       *gostitchReceiver
	push    *push.Handler
	tel     *componenttest.Telemetry
	logs    *observer.ObservedLogs
	dir     string
	emitted atomic.Int64 // spans, metric points and profile samples handed on
	good    map[string]goodInput
}

func newWindowHarness(tb testing.TB) *windowHarness {
	cfg := createDefaultConfig()
	cfg.EBPF.Mode = EBPFModeOff
	cfg.Limits = LimitsConfig{MaxProfileBytes: 32 << 10, MaxTraceBytes: 32 << 10}
	cfg.Targets = []TargetConfig{{Name: fuzzTarget}}
	core, logs := observer.New(zapcore.WarnLevel)
	tel := componenttest.NewTelemetry()
	tb.Cleanup(func() { require.NoError(tb, tel.Shutdown(context.Background())) })
	set := receivertest.NewNopSettings(metadata.Type)
	set.TelemetrySettings = tel.NewTelemetrySettings()
	set.Logger = zap.New(core)
	r, err := newReceiver(cfg, set)
	require.NoError(tb, err)
	h := &windowHarness{r: r, tel: tel, logs: logs, dir: tb.TempDir()}
	r.consumers.traces, err = consumer.NewTraces(func(_ context.Context, td ptrace.Traces) error { return h.count(td.SpanCount()) })
	require.NoError(tb, err)
	r.consumers.metrics, err = consumer.NewMetrics(func(_ context.Context, md pmetric.Metrics) error { return h.count(md.DataPointCount()) })
	require.NoError(tb, err)
	r.consumers.profiles, err = xconsumer.NewProfiles(func(_ context.Context, pd pprofile.Profiles) error { return h.count(pd.SampleCount()) })
	require.NoError(tb, err)
	h.push = &push.Handler{
		Targets:  map[string]target.Identity{fuzzTarget: {Name: fuzzTarget}},
		Sink:     r,
		Limits:   cfg.Limits,
		SpoolDir: h.dir,
		Logger:   set.Logger,
		Tel:      r.tel,
	}
	return h
}

func (h *windowHarness) count(n int) error {
	h.emitted.Add(int64(n))
	return nil
}

// run hands data to the receiver as FuzzWindow describes and checks the outcome.
func (h *windowHarness) run(t *testing.T, data []byte, trace, gz bool, how uint8) {
	in := data
	if gz {
		in = gziptest.Compress(t, data)
	}
	drops := h.dropped(t)
	emitted := h.emitted.Load()
	kind := "" // pprof's kind, inferred from its sample types but for scrapes
	var failed bool
	switch how % 3 {
	case 0:
		failed = h.consume(t, collect.OriginFile, kind, in, trace)
	case 1:
		kind = scrapeKinds[int(how/3)%len(scrapeKinds)]
		failed = h.consume(t, collect.OriginScrape, kind, in, trace)
	default:
		failed = h.upload(t, in, trace)
	}
	warnings := h.logs.TakeAll()
	if !failed {
		require.Empty(t, warnings, "a converted input is not warned about")
		require.Equal(t, drops, h.dropped(t), "a converted input is not dropped")
	} else {
		require.NotEmpty(t, warnings, "a bad input is warned about")
		for _, w := range warnings {
			m := w.ContextMap()
			require.True(t, m["target"] == fuzzTarget || strings.Contains(m["error"].(string), `target "`+fuzzTarget+`"`),
				"the warning names the target: %v", m)
		}
		require.Greater(t, h.dropped(t), drops, "a bad input is counted as dropped")
	}
	if g, ok := h.good[string(data)]; ok && g.trace == trace && (trace || kind == "" || kind == g.kind) {
		require.False(t, failed, "a real input converts: %v", warnings)
		require.Greater(t, h.emitted.Load(), emitted, "a real input yields data")
	}
}

// consume hands in to ConsumeWindow as the one input of a window of origin, as collect does:
// a profile in memory, a trace as a file (spooled for scrapes). It says whether it failed.
func (h *windowHarness) consume(t *testing.T, origin collect.Origin, kind string, in []byte, trace bool) bool {
	now := time.Now()
	w := &collect.Window{Target: target.Identity{Name: fuzzTarget}, Origin: origin, Start: now, End: now}
	path := filepath.Join(h.dir, "window.trace")
	switch {
	case !trace:
		w.Profiles = []collect.Profile{{Kind: kind, From: path, Data: in}}
	case origin == collect.OriginFile:
		require.NoError(t, os.WriteFile(path, in, 0o644))
		w.Traces = []collect.Trace{collect.NewFileTrace(path, int64(len(in)))}
	default:
		require.NoError(t, os.WriteFile(path, in, 0o644))
		w.Traces = []collect.Trace{collect.NewSpooledTrace("http://app/debug/pprof/trace", path, int64(len(in)))}
	}
	defer w.Release(h.r.settings.Logger)
	return h.r.ConsumeWindow(context.Background(), w) != nil
}

// upload posts in to the push handler; it says whether the upload was refused, which it must
// be with a documented status and a reason.
func (h *windowHarness) upload(t *testing.T, in []byte, trace bool) bool {
	path := push.PprofPath
	if trace {
		path = push.TracePath
	}
	req := httptest.NewRequest(http.MethodPost, path+"?target="+fuzzTarget, bytes.NewReader(in))
	rec := httptest.NewRecorder()
	h.push.ServeHTTP(rec, req)
	switch rec.Code {
	case http.StatusAccepted:
		return false
	case http.StatusBadRequest, http.StatusRequestEntityTooLarge:
		require.NotEmpty(t, rec.Body.String(), "a refusal says why")
		return true
	}
	t.Fatalf("status %d: %s", rec.Code, rec.Body)
	return true
}

// dropped counts everything the receiver dropped.
func (h *windowHarness) dropped(t *testing.T) int64 {
	return counted(t, h.tel, metadata.TelemetryGostitchReceiverDropped.Name)
}

func readFixture(tb testing.TB, path string) []byte {
	data, err := os.ReadFile(path)
	require.NoError(tb, err)
	return data
}

// gunzipped decompresses a gzip'd fixture.
func gunzipped(tb testing.TB, data []byte) []byte {
	zr, err := gzip.NewReader(bytes.NewReader(data))
	require.NoError(tb, err)
	out, err := io.ReadAll(zr)
	require.NoError(tb, err)
	return out
}
