package gostitchjoinprocessor

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/processor"
	"go.opentelemetry.io/collector/processor/processortest"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.uber.org/goleak"

	"github.com/gostitch/gostitch/internal/appspans"
	"github.com/gostitch/gostitch/processor/gostitchjoinprocessor/internal/metadata"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// appTraces is one request of service shop with a child span, and a span of a resource
// without service.name.
func appTraces(start time.Time) ptrace.Traces {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", "shop")
	spans := rs.ScopeSpans().AppendEmpty().Spans()
	root := spans.AppendEmpty()
	root.SetName("GET /cart")
	root.SetTraceID(pcommon.TraceID{1})
	root.SetSpanID(pcommon.SpanID{1})
	root.SetParentSpanID(pcommon.SpanID{9})
	root.SetStartTimestamp(pcommon.NewTimestampFromTime(start))
	root.SetEndTimestamp(pcommon.NewTimestampFromTime(start.Add(3 * time.Millisecond)))
	root.Attributes().PutStr("http.route", "/cart")
	child := spans.AppendEmpty()
	child.SetName("query")
	child.SetTraceID(pcommon.TraceID{1})
	child.SetSpanID(pcommon.SpanID{2})
	child.SetParentSpanID(pcommon.SpanID{1})
	child.SetStartTimestamp(pcommon.NewTimestampFromTime(start.Add(time.Millisecond)))
	child.SetEndTimestamp(pcommon.NewTimestampFromTime(start.Add(2 * time.Millisecond)))
	anon := td.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty().Spans().AppendEmpty()
	anon.SetName("GET /cart")
	anon.SetSpanID(pcommon.SpanID{3})
	return td
}

// startJoin starts a gostitchjoin processor with cfg before next, its telemetry in the
// returned one; both are shut down when the test ends.
func startJoin(t *testing.T, cfg *Config, next consumer.Traces) (processor.Traces, *componenttest.Telemetry) {
	ctx := context.Background()
	tel := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tel.Shutdown(ctx)) })
	set := processortest.NewNopSettings(metadata.Type)
	set.TelemetrySettings = tel.NewTelemetrySettings()
	p, err := NewFactory().CreateTraces(ctx, set, cfg, next)
	require.NoError(t, err)
	require.NoError(t, p.Start(ctx, componenttest.NewNopHost()))
	t.Cleanup(func() { require.NoError(t, p.Shutdown(ctx)) })
	return p, tel
}

func TestPassesSpansOnUnchangedAndIndexesThem(t *testing.T) {
	ctx := context.Background()
	sink := new(consumertest.TracesSink)
	p, tel := startJoin(t, createDefaultConfig().(*Config), sink)
	assert.False(t, p.Capabilities().MutatesData)
	defer appspans.Want("shop")()

	start := time.Now()
	in := appTraces(start)
	want := ptrace.NewTraces()
	in.CopyTo(want)
	require.NoError(t, p.ConsumeTraces(ctx, in))
	require.Len(t, sink.AllTraces(), 1)
	assert.Equal(t, want, sink.AllTraces()[0])

	// The receiver finds the spans: the child's task, under the request's match, fits the child.
	got, res := appspans.Registered().Match("shop", appspans.Task{Name: "query",
		Start: start.Add(time.Millisecond + time.Microsecond).UnixNano(), End: start.Add(2*time.Millisecond + time.Microsecond).UnixNano(),
		Parent: pcommon.SpanID{1}})
	assert.Equal(t, appspans.Matched, res)
	assert.Equal(t, pcommon.SpanID{2}, got.SpanID)
	wm, ok := appspans.Registered().Watermark("shop")
	assert.True(t, ok)
	assert.Equal(t, start.Add(3*time.Millisecond).UnixNano(), wm)

	m, err := tel.GetMetric(metadata.TelemetryGostitchProcessorIndexed.Name)
	require.NoError(t, err)
	assert.Equal(t, int64(2), m.Data.(metricdata.Sum[int64]).DataPoints[0].Value)

	require.NoError(t, p.Shutdown(ctx))
	assert.Empty(t, appspans.Registered(), "the index is still registered after Shutdown")
}

func TestCountsEvictions(t *testing.T) {
	ctx := context.Background()
	p, tel := startJoin(t, &Config{MaxSpans: 1, Retention: time.Minute}, consumertest.NewNop())
	defer appspans.Want("shop")()
	old := appTraces(time.Now().Add(-time.Hour)) // past the retention: both not kept
	require.NoError(t, p.ConsumeTraces(ctx, old))
	require.NoError(t, p.ConsumeTraces(ctx, appTraces(time.Now()))) // two spans, room for one
	m, err := tel.GetMetric(metadata.TelemetryGostitchProcessorEvicted.Name)
	require.NoError(t, err)
	assert.Equal(t, int64(3), m.Data.(metricdata.Sum[int64]).DataPoints[0].Value)
}

// TestUnwantedServiceOnlyMovesItsWatermark: while no receiver wants a service's spans (no
// execution trace of it is being taken or converted) they pass unindexed, yet the receiver
// still sees how far the service's spans have arrived; once wanted, they are indexed.
func TestUnwantedServiceOnlyMovesItsWatermark(t *testing.T) {
	ctx := context.Background()
	sink := new(consumertest.TracesSink)
	p, tel := startJoin(t, createDefaultConfig().(*Config), sink)

	start := time.Now()
	require.NoError(t, p.ConsumeTraces(ctx, appTraces(start)))
	assert.Len(t, sink.AllTraces(), 1, "spans pass on either way")
	task := appspans.Task{Name: "query", Start: start.Add(time.Millisecond + time.Microsecond).UnixNano(),
		End: start.Add(2*time.Millisecond + time.Microsecond).UnixNano(), Parent: pcommon.SpanID{1}}
	_, res := appspans.Registered().Match("shop", task)
	assert.Equal(t, appspans.Unmatched, res, "not indexed while unwanted")
	wm, seen := appspans.Registered().Watermark("shop")
	assert.True(t, seen)
	assert.Equal(t, start.Add(3*time.Millisecond).UnixNano(), wm)
	_, err := tel.GetMetric(metadata.TelemetryGostitchProcessorIndexed.Name)
	assert.Error(t, err, "nothing counted as indexed")

	release := appspans.Want("shop")
	defer release()
	require.NoError(t, p.ConsumeTraces(ctx, appTraces(start)))
	got, res := appspans.Registered().Match("shop", task)
	assert.Equal(t, appspans.Matched, res)
	assert.Equal(t, pcommon.SpanID{2}, got.SpanID)
}
