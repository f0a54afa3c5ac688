package metadata

import (
	"testing"

	"go.opentelemetry.io/collector/pdata/pmetric"
)

// TestBuilderShapesAndTurnsOff builds every metric of metadata.yaml with the defaults, then
// with one turned off.
func TestBuilderShapesAndTurnsOff(t *testing.T) {
	all := []MetricInfo{MetricGoGoroutineCount, MetricGostitchCPUTime, MetricGostitchMemoryAllocated,
		MetricGostitchTCPRTT, MetricGostitchTaskDuration}
	ms := pmetric.NewMetricSlice()
	for _, info := range all {
		var ok bool
		if info.Kind == Histogram {
			_, ok = Builder{}.Histograms(ms, info)
		} else {
			_, ok = Builder{}.Numbers(ms, info)
		}
		if !ok {
			t.Fatalf("%s is off in the zero Builder; metadata.yaml enables it", info.Name)
		}
	}
	want := map[string]pmetric.MetricType{
		"go.goroutine.count": pmetric.MetricTypeGauge, "gostitch.cpu.time": pmetric.MetricTypeSum,
		"gostitch.memory.allocated": pmetric.MetricTypeSum, "gostitch.tcp.rtt": pmetric.MetricTypeHistogram,
		"gostitch.task.duration": pmetric.MetricTypeHistogram,
	}
	for i := range ms.Len() {
		m := ms.At(i)
		if m.Type() != want[m.Name()] {
			t.Errorf("%s: type %v, want %v", m.Name(), m.Type(), want[m.Name()])
		}
		if m.Unit() == "" || m.Description() == "" {
			t.Errorf("%s: unit %q, description %q", m.Name(), m.Unit(), m.Description())
		}
	}
	if s := ms.At(1).Sum(); s.IsMonotonic() || s.AggregationTemporality() != pmetric.AggregationTemporalityDelta {
		t.Errorf("gostitch.cpu.time: monotonic %v, temporality %v; metadata.yaml says a delta, not monotonic", s.IsMonotonic(), s.AggregationTemporality())
	}
	if s := ms.At(2).Sum(); !s.IsMonotonic() || s.AggregationTemporality() != pmetric.AggregationTemporalityCumulative {
		t.Errorf("gostitch.memory.allocated: monotonic %v, temporality %v", s.IsMonotonic(), s.AggregationTemporality())
	}

	cfg := DefaultMetricsConfig()
	cfg.GostitchTCPRTT.Enabled = false
	b := NewBuilder(cfg)
	out := pmetric.NewMetricSlice()
	if _, ok := b.Histograms(out, MetricGostitchTCPRTT); ok || out.Len() != 0 {
		t.Errorf("turned off: ok %v, %d metrics added", ok, out.Len())
	}
	if _, ok := b.Histograms(out, MetricGostitchTaskDuration); !ok || out.Len() != 1 {
		t.Errorf("another metric: ok %v, %d metrics added", ok, out.Len())
	}
}
