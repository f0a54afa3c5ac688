package metadata

import "go.opentelemetry.io/collector/pdata/pmetric"

// AppendTo adds a metric named and described by info to ms and returns it.
func (info MetricInfo) AppendTo(ms pmetric.MetricSlice) pmetric.Metric {
	m := ms.AppendEmpty()
	m.SetName(info.Name)
	m.SetDescription(info.Description)
	m.SetUnit(info.Unit)
	return m
}
