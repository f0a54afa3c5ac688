package gostitchreceiver

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/gostitch/gostitch/receiver/internal/metadata"
	"github.com/gostitch/gostitch/receiver/internal/stitch"
	"github.com/gostitch/gostitch/receiver/internal/target"
)

// TestGoroutineSpanLimitCounted: a trace file of work outside tasks (tracesrc's outside.trace,
// a real program) makes goroutine spans under the default config; with trace.max_goroutine_spans
// below what it needs, the spans stay within the bound and what was cut is counted as dropped
// (goroutine_span_limit), as many as the conversion cut.
func TestGoroutineSpanLimitCounted(t *testing.T) {
	const fixture = "internal/tracesrc/testdata/outside.trace"
	for _, bound := range []int{createDefaultConfig().Trace.MaxGoroutineSpans, 2} {
		dir := t.TempDir()
		copyFixture(t, fixture, dir, "outside.trace")
		cfg := fileConfig(dir)
		cfg.Trace.MaxGoroutineSpans = bound
		tel := componenttest.NewTelemetry()
		traces := new(consumertest.TracesSink)
		f, err := os.Open(filepath.Clean(fixture))
		require.NoError(t, err)
		res, err := stitch.NewTraceConverter(target.Identity{Name: "offline"},
			stitch.TraceOptions{MinSpanDuration: cfg.Trace.MinSpanDuration, MaxGoroutineSpans: bound}).
			ConvertWindow(stitch.Window{Trace: f}, func(string, ptrace.Traces) error { return nil })
		require.NoError(t, err)
		require.NoError(t, f.Close())

		startObserved(t, cfg, tel, next{traces: traces})
		// The file's collection is counted when it is read, its events once its window has been
		// converted, the drops right after them.
		droppedNow := func() int64 {
			return counted(t, tel, metadata.TelemetryGostitchReceiverDropped.Name, metadata.AttributeSource,
				metadata.AttributeSourceGoTrace, metadata.AttributeDropReason, "goroutine_span_limit")
		}
		require.Eventually(t, func() bool {
			return counted(t, tel, metadata.TelemetryGostitchReceiverEvents.Name, metadata.AttributeTarget, "offline",
				metadata.AttributeSource, metadata.AttributeSourceGoTrace) > 0 && droppedNow() >= int64(res.Stats.GoroutineCut)
		}, 20*time.Second, 50*time.Millisecond, "bound %d: the window converted and counted", bound)

		goroutines := goroutineSpans(traces.AllTraces())
		dropped := droppedNow()
		assert.Positive(t, goroutines, "bound %d: goroutine spans", bound)
		assert.LessOrEqual(t, goroutines, bound, "bound %d", bound)
		assert.Equal(t, int64(res.Stats.GoroutineCut), dropped, "bound %d: cut counted as dropped", bound)
		if bound == 2 {
			assert.Positive(t, dropped, "bound 2 cuts some")
		} else {
			assert.Zero(t, dropped, "the default bound cuts none")
		}
	}
}

// goroutineSpans counts the spans in the goroutine traces of work outside tasks: the
// "goroutine" roots and the spans of their traces.
func goroutineSpans(traces []ptrace.Traces) int {
	var spans []ptrace.Span
	roots := map[[16]byte]bool{}
	for _, td := range traces {
		for i := range td.ResourceSpans().Len() {
			ss := td.ResourceSpans().At(i).ScopeSpans()
			for j := range ss.Len() {
				for k := range ss.At(j).Spans().Len() {
					sp := ss.At(j).Spans().At(k)
					spans = append(spans, sp)
					if sp.Name() == "goroutine" && sp.ParentSpanID().IsEmpty() {
						roots[sp.TraceID()] = true
					}
				}
			}
		}
	}
	n := 0
	for _, sp := range spans {
		if roots[sp.TraceID()] {
			n++
		}
	}
	return n
}
