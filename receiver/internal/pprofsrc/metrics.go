package pprofsrc

import (
	"encoding/binary"
	"fmt"
	"slices"

	"github.com/google/pprof/profile"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/gostitch/gostitch/receiver/internal/metadata"
	"github.com/gostitch/gostitch/receiver/internal/target"
)

// secondsPer converts the time units pprof writes to seconds.
var secondsPer = map[string]float64{
	"nanoseconds":  1e-9,
	"microseconds": 1e-6,
	"milliseconds": 1e-3,
	"seconds":      1,
}

// metricInput is one metric to build: its spec and where its values are.
type metricInput struct {
	spec  metricSpec
	index int     // of the sample type
	scale float64 // to seconds, for durations
}

// group is the sum, per metric, of the samples that share the allowlisted labels' values.
type group struct {
	attrs []labelValue
	sums  []int64
}

// labelValue is the first value of an allowlisted label of a sample.
type labelValue struct {
	key   string
	str   string
	num   int64
	isNum bool
}

// buildMetrics sums the samples of the sample types kind feeds, broken down by the allowlisted
// labels. An unknown kind feeds no metric.
func buildMetrics(p *profile.Profile, kind string, id target.Identity, opts Options) (pmetric.Metrics, error) {
	out := pmetric.NewMetrics()
	inputs, err := metricInputs(p, kind)
	if err != nil || len(inputs) == 0 {
		return out, err
	}
	groups := groupSamples(p, inputs, opts.LabelAttributes)

	rm := out.ResourceMetrics().AppendEmpty()
	id.FillResource(rm.Resource())
	sm := rm.ScopeMetrics().AppendEmpty()
	target.FillScope(sm.Scope(), metadata.AttributeSourcePprof)
	end := pcommon.Timestamp(max(p.TimeNanos, 0) + max(p.DurationNanos, 0))
	for mi, in := range inputs {
		points := newMetric(sm.Metrics(), in.spec)
		points.EnsureCapacity(len(groups))
		for _, g := range groups {
			dp := points.AppendEmpty()
			dp.SetTimestamp(end)
			switch {
			case in.spec.delta:
				dp.SetStartTimestamp(pcommon.Timestamp(max(p.TimeNanos, 0)))
			case !in.spec.gauge:
				dp.SetStartTimestamp(opts.StartTime)
			}
			if in.spec.seconds {
				dp.SetDoubleValue(float64(g.sums[mi]) * in.scale)
			} else {
				dp.SetIntValue(g.sums[mi])
			}
			attrs := dp.Attributes()
			if in.spec.typed {
				attrs.PutStr(metadata.AttributeProfileType, kind)
			}
			for _, lv := range g.attrs {
				if lv.isNum {
					attrs.PutInt(lv.key, lv.num)
				} else {
					attrs.PutStr(lv.key, lv.str)
				}
			}
		}
	}
	return out, nil
}

// newMetric adds the gauge or sum spec says to ms; it returns its data points.
func newMetric(ms pmetric.MetricSlice, spec metricSpec) pmetric.NumberDataPointSlice {
	m := spec.info.AppendTo(ms)
	if spec.gauge {
		return m.SetEmptyGauge().DataPoints()
	}
	sum := m.SetEmptySum()
	if spec.delta {
		sum.SetAggregationTemporality(pmetric.AggregationTemporalityDelta)
	} else {
		sum.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
		sum.SetIsMonotonic(true)
	}
	return sum.DataPoints()
}

// metricInputs finds the sample types the metrics of kind read.
func metricInputs(p *profile.Profile, kind string) ([]metricInput, error) {
	specs := kindMetrics[kind]
	inputs := make([]metricInput, 0, len(specs))
	for _, spec := range specs {
		i := slices.IndexFunc(p.SampleType, func(st *profile.ValueType) bool { return st.Type == spec.sampleType })
		if i < 0 {
			return nil, fmt.Errorf("%s profile without a %q sample type (it has %s)", kind, spec.sampleType, sampleTypes(p))
		}
		in := metricInput{spec: spec, index: i}
		if spec.seconds {
			unit := p.SampleType[i].Unit
			if in.scale = secondsPer[unit]; in.scale == 0 {
				return nil, fmt.Errorf("%s profile: sample type %q has unit %q, not a time unit", kind, spec.sampleType, unit)
			}
		}
		inputs = append(inputs, in)
	}
	return inputs, nil
}

// groupSamples sums the inputs' values per combination of the allowlisted labels' values, in
// the order the combinations first appear. A profile without samples gives one zero group.
func groupSamples(p *profile.Profile, inputs []metricInput, allow []string) []*group {
	if len(allow) == 0 || len(p.Sample) == 0 {
		g := &group{sums: make([]int64, len(inputs))}
		for _, s := range p.Sample {
			for mi, in := range inputs {
				g.sums[mi] += s.Value[in.index]
			}
		}
		return []*group{g}
	}
	var groups []*group
	index := make(map[string]*group)
	var key []byte
	for _, s := range p.Sample {
		key = key[:0]
		for _, k := range allow {
			if v := s.Label[k]; len(v) > 0 {
				key = append(key, 's')
				key = binary.AppendUvarint(key, uint64(len(v[0])))
				key = append(key, v[0]...)
			} else if v := s.NumLabel[k]; len(v) > 0 {
				key = append(key, 'n')
				key = binary.AppendVarint(key, v[0])
			} else {
				key = append(key, '-')
			}
		}
		g := index[string(key)]
		if g == nil {
			g = &group{attrs: labelValues(s, allow), sums: make([]int64, len(inputs))}
			index[string(key)] = g
			groups = append(groups, g)
		}
		for mi, in := range inputs {
			g.sums[mi] += s.Value[in.index]
		}
	}
	return groups
}

// labelValues lists the first value of each allowlisted label s has.
func labelValues(s *profile.Sample, allow []string) []labelValue {
	var lvs []labelValue
	for _, k := range allow {
		if v := s.Label[k]; len(v) > 0 {
			lvs = append(lvs, labelValue{key: k, str: v[0]})
		} else if v := s.NumLabel[k]; len(v) > 0 {
			lvs = append(lvs, labelValue{key: k, num: v[0], isNum: true})
		}
	}
	return lvs
}

// sampleTypes lists a profile's sample types for error messages.
func sampleTypes(p *profile.Profile) string {
	types := make([]string, len(p.SampleType))
	for i, st := range p.SampleType {
		types[i] = st.Type + "/" + st.Unit
	}
	return fmt.Sprint(types)
}
