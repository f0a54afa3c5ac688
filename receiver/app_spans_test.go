package gostitchreceiver

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/processor/processortest"
	"go.opentelemetry.io/collector/receiver/receivertest"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/gostitch/gostitch/internal/appspans"
	"github.com/gostitch/gostitch/internal/otlpsink"
	"github.com/gostitch/gostitch/processor/gostitchjoinprocessor"
	"github.com/gostitch/gostitch/receiver/internal/collect"
	"github.com/gostitch/gostitch/receiver/internal/metadata"
	"github.com/gostitch/gostitch/receiver/internal/stitch"
	"github.com/gostitch/gostitch/receiver/internal/target"
)

// TestSDKTasksHangUnderTheAppsSpans runs examples/otelapp, an OTel service with no gostitch
// code, exporting its spans over OTLP to a gostitchjoin processor, and the receiver scraping
// its execution trace: the task the SDK began for a span becomes a span under that span, in its
// trace, and the tasks of its child spans under theirs.
func TestSDKTasksHangUnderTheAppsSpans(t *testing.T) {
	const service = "otelapp-join"
	ctx := context.Background()
	appSpans := new(consumertest.TracesSink)
	f := gostitchjoinprocessor.NewFactory()
	join, err := f.CreateTraces(ctx, processortest.NewNopSettings(f.Type()), f.CreateDefaultConfig(), appSpans)
	require.NoError(t, err)
	require.NoError(t, join.Start(ctx, componenttest.NewNopHost()))
	t.Cleanup(func() { require.NoError(t, join.Shutdown(ctx)) })
	otlp := otlpsink.Start(t, join.ConsumeTraces)

	pprofAddr := startOtelapp(t, "-otlp", otlp, "-service", service, "-load-rate", "100", "-load-duration", "10m",
		"-slow-backend", "1ms")

	cfg := createDefaultConfig()
	cfg.CollectionInterval = 3 * time.Second
	cfg.Pprof.Profiles = nil
	cfg.Pprof.CPUDuration = time.Second
	cfg.Trace.Duration = 2 * time.Second
	cfg.Trace.TaskSpans = stitch.TaskSpansAll
	cfg.Trace.MinSpanDuration = 200 * time.Microsecond
	cfg.EBPF.Mode = EBPFModeOff
	target := TargetConfig{Name: service}
	target.Endpoint = "http://" + pprofAddr
	cfg.Targets = []TargetConfig{target}
	tel := componenttest.NewTelemetry()
	traces := new(consumertest.TracesSink)
	startObserved(t, cfg, tel, next{traces: traces})

	// Wait for windows whose tasks went under app spans.
	var joined []ptrace.Span
	var app map[pcommon.SpanID]ptrace.Span
	require.Eventually(t, func() bool {
		app = spansByID(appSpans.AllTraces())
		joined = joined[:0]
		for _, sp := range taskSpans(traces.AllTraces()) {
			if _, ok := app[sp.ParentSpanID()]; ok {
				joined = append(joined, sp)
			}
		}
		return len(joined) >= 50
	}, time.Minute, 200*time.Millisecond, "task spans under app spans")

	names := map[string]int{}
	for _, sp := range joined {
		parent := app[sp.ParentSpanID()]
		assert.Equal(t, parent.TraceID(), sp.TraceID(), "task span %q is in its app span's trace", sp.Name())
		// The task is named as the span was when it started: otelhttp adds the route later.
		assert.True(t, parent.Name() == sp.Name() || strings.HasPrefix(parent.Name(), sp.Name()+" "),
			"task %q under app span %q", sp.Name(), parent.Name())
		assert.GreaterOrEqual(t, sp.StartTimestamp(), parent.StartTimestamp()-pcommon.Timestamp(time.Millisecond))
		names[parent.Name()]++
	}
	t.Logf("task spans under app spans, by app span name: %v", names)

	// What hangs from a joined task span (its blocks and syscalls, its regions) is in the app
	// span's trace too.
	joinedIDs := map[pcommon.SpanID]pcommon.TraceID{}
	for _, sp := range joined {
		joinedIDs[sp.SpanID()] = sp.TraceID()
	}
	under := 0
	for _, td := range traces.AllTraces() {
		forEachSpan(td, func(sp ptrace.Span) {
			if tid, ok := joinedIDs[sp.ParentSpanID()]; ok {
				under++
				assert.Equal(t, tid, sp.TraceID(), "span %q under a joined task span is in its trace", sp.Name())
			}
		})
	}
	t.Logf("%d spans under joined task spans", under)
	assert.Positive(t, under, "the backend's waits make block spans under the tasks")
	// HTTP and gRPC server spans and the client spans inside them (under the server's task
	// span's app span, found by the nesting).
	assert.Positive(t, names["GET /work"], "HTTP server spans")
	assert.Positive(t, names["otelapp.Work/Do"], "gRPC server spans")
	assert.Positive(t, names["backend fetch"], "client spans within requests")

	m, err := tel.GetMetric(metadata.TelemetryGostitchReceiverJoined.Name)
	require.NoError(t, err)
	var appSpanJoins int64
	for _, dp := range m.Data.(metricdata.Sum[int64]).DataPoints {
		if v, _ := dp.Attributes.Value(metadata.AttributeJoinMethod); v.AsString() == metadata.AttributeJoinMethodAppSpan {
			appSpanJoins += dp.Value
		}
	}
	assert.GreaterOrEqual(t, appSpanJoins, int64(len(joined)), "joined tasks counted with method app_span")
}

// TestAppSpansWait: a window waits for the app's spans only when a gostitchjoin processor saw
// the target's service, until one ends after the window, at most join.max_wait or until its
// context ends.
func TestAppSpansWait(t *testing.T) {
	cfg := createDefaultConfig()
	cfg.Join.MaxWait = time.Hour
	r, err := newReceiver(cfg, receivertest.NewNopSettings(metadata.Type))
	require.NoError(t, err)
	end := time.Now()
	w := &collect.Window{Target: target.Identity{Name: "shop"}, Origin: collect.OriginScrape, End: end}
	ctx := context.Background()
	assert.Nil(t, r.appSpans(ctx, w), "no processor runs")
	x := appspans.NewIndex(appspans.Limits{MaxSpans: 10, Retention: time.Hour})
	appspans.Register(x)
	defer appspans.Unregister(x)
	assert.Nil(t, r.appSpans(ctx, w), "the processor never saw the service")

	x.Add("shop", appspans.Span{Name: "GET", SpanID: pcommon.SpanID{1}, Start: end.Add(-2 * time.Second).UnixNano(), End: end.Add(-time.Second).UnixNano()})
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	assert.NotNil(t, r.appSpans(cancelled, w), "shutdown ends the wait; the window goes out with the spans there are")
	cfg.Join.MaxWait = 10 * time.Millisecond
	assert.NotNil(t, r.appSpans(ctx, w), "join.max_wait ends the wait")

	cfg.Join.MaxWait = time.Hour
	x.Add("shop", appspans.Span{Name: "GET", SpanID: pcommon.SpanID{2}, Start: end.UnixNano(), End: end.Add(time.Millisecond).UnixNano()})
	assert.NotNil(t, r.appSpans(ctx, w), "a span ending after the window: its spans have arrived")
	file := *w
	file.Origin = collect.OriginFile
	x.Add("shop", appspans.Span{Name: "GET", SpanID: pcommon.SpanID{3}, Start: end.Add(-time.Hour).UnixNano(), End: end.Add(-time.Hour).UnixNano()})
	file.End = end.Add(time.Hour)
	assert.NotNil(t, r.appSpans(ctx, &file), "files are joined without waiting: they were written before they are read")
}

// startOtelapp builds and runs examples/otelapp on loopback ports until the end of the test and
// returns its pprof address.
func startOtelapp(t *testing.T, args ...string) string {
	bin := filepath.Join(t.TempDir(), "otelapp")
	out, err := exec.Command("go", "build", "-o", bin, "../examples/otelapp").CombinedOutput()
	require.NoError(t, err, "go build: %s", out)
	cmd := exec.Command(bin, append([]string{"-http", "127.0.0.1:0", "-grpc", "127.0.0.1:0", "-pprof", "127.0.0.1:0"}, args...)...)
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	var wg sync.WaitGroup
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		wg.Wait()
		_ = cmd.Wait()
	})
	sc := bufio.NewScanner(stdout)
	var addr string
	for addr == "" && sc.Scan() {
		addr, _ = strings.CutPrefix(sc.Text(), "pprof listening on http://")
	}
	require.NotEmpty(t, addr, "otelapp says where pprof listens")
	wg.Go(func() {
		for sc.Scan() {
		}
	})
	return addr
}

// spansByID indexes the spans of traces by span id.
func spansByID(traces []ptrace.Traces) map[pcommon.SpanID]ptrace.Span {
	m := map[pcommon.SpanID]ptrace.Span{}
	for _, td := range traces {
		forEachSpan(td, func(sp ptrace.Span) { m[sp.SpanID()] = sp })
	}
	return m
}

// taskSpans returns the execution-trace task spans of traces.
func taskSpans(traces []ptrace.Traces) []ptrace.Span {
	var out []ptrace.Span
	for _, td := range traces {
		forEachSpan(td, func(sp ptrace.Span) {
			if _, ok := sp.Attributes().Get(metadata.AttributeTaskID); ok {
				out = append(out, sp)
			}
		})
	}
	return out
}

func forEachSpan(td ptrace.Traces, f func(ptrace.Span)) {
	for i := 0; i < td.ResourceSpans().Len(); i++ {
		sss := td.ResourceSpans().At(i).ScopeSpans()
		for j := 0; j < sss.Len(); j++ {
			spans := sss.At(j).Spans()
			for k := 0; k < spans.Len(); k++ {
				f(spans.At(k))
			}
		}
	}
}

// TestWantedAppSpans: the app spans of a target with trace files, and of every target when
// traces can be pushed, are wanted from Start to Shutdown, since those traces hold tasks of any
// time; a scraped target's only from each trace's start until its window was converted.
func TestWantedAppSpans(t *testing.T) {
	for _, push := range []bool{false, true} {
		cfg := createDefaultConfig()
		cfg.EBPF.Mode = EBPFModeOff
		cfg.Pprof.Profiles = nil
		cfg.Trace.Duration = 0
		files := TargetConfig{Name: "wanted-files", TraceFiles: []string{filepath.Join(t.TempDir(), "*.trace")}}
		scraped := TargetConfig{Name: "wanted-scraped"}
		scraped.Endpoint = "http://127.0.0.1:1"
		cfg.Targets = []TargetConfig{files, scraped}
		if push {
			cfg.Push.NetAddr.Endpoint = "127.0.0.1:0"
		}
		require.NoError(t, cfg.Validate())
		ctx := context.Background()
		r, err := NewFactory().CreateTraces(ctx, receivertest.NewNopSettings(metadata.Type), cfg, new(consumertest.TracesSink))
		require.NoError(t, err)
		require.NoError(t, r.Start(ctx, componenttest.NewNopHost()))
		assert.True(t, appspans.Wanted("wanted-files"), "push %v: a target with trace files", push)
		assert.Equal(t, push, appspans.Wanted("wanted-scraped"), "push %v: a scraped target", push)
		require.NoError(t, r.Shutdown(ctx))
		assert.False(t, appspans.Wanted("wanted-files"), "push %v: let go at Shutdown", push)
		assert.False(t, appspans.Wanted("wanted-scraped"), "push %v: let go at Shutdown", push)
	}
}
