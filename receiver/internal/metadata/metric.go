package metadata

import "go.opentelemetry.io/collector/pdata/pmetric"

// defaults is metadata.yaml's setting of every metric: what a zero Builder emits.
var defaults = DefaultMetricsConfig()

// Builder appends the metrics a config turns on, each named, described and shaped (gauge or
// sum, temporality, monotonicity) as metadata.yaml says. The zero Builder follows metadata.yaml's
// defaults.
type Builder struct {
	cfg *MetricsConfig
}

// NewBuilder returns a Builder for the metrics setting of a receiver's config.
func NewBuilder(cfg MetricsConfig) Builder { return Builder{cfg: &cfg} }

// Enabled reports whether the metric info describes is turned on.
func (b Builder) Enabled(info MetricInfo) bool {
	if b.cfg == nil {
		return defaults.Enabled(info)
	}
	return b.cfg.Enabled(info)
}

// Numbers adds the gauge or sum info describes to ms and returns its data points; ok is false,
// and nothing is added, when the metric is turned off.
func (b Builder) Numbers(ms pmetric.MetricSlice, info MetricInfo) (_ pmetric.NumberDataPointSlice, ok bool) {
	if info.Kind == Histogram {
		panic("metadata: Numbers called for histogram " + info.Name)
	}
	if !b.Enabled(info) {
		return pmetric.NumberDataPointSlice{}, false
	}
	m := appendMetric(ms, info)
	if info.Kind == Gauge {
		return m.SetEmptyGauge().DataPoints(), true
	}
	sum := m.SetEmptySum()
	sum.SetIsMonotonic(info.Monotonic)
	sum.SetAggregationTemporality(info.Temporality)
	return sum.DataPoints(), true
}

// Histograms adds the histogram info describes to ms and returns its data points; ok is false,
// and nothing is added, when the metric is turned off.
func (b Builder) Histograms(ms pmetric.MetricSlice, info MetricInfo) (_ pmetric.HistogramDataPointSlice, ok bool) {
	if info.Kind != Histogram {
		panic("metadata: Histograms called for " + info.Name + ", which is no histogram")
	}
	if !b.Enabled(info) {
		return pmetric.HistogramDataPointSlice{}, false
	}
	h := appendMetric(ms, info).SetEmptyHistogram()
	h.SetAggregationTemporality(info.Temporality)
	return h.DataPoints(), true
}

func appendMetric(ms pmetric.MetricSlice, info MetricInfo) pmetric.Metric {
	m := ms.AppendEmpty()
	m.SetName(info.Name)
	m.SetDescription(info.Description)
	m.SetUnit(info.Unit)
	return m
}
