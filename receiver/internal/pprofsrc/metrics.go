package pprofsrc

import (
	"encoding/binary"
	"fmt"
	"slices"

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
func buildMetrics(p *pprofData, kind string, id target.Identity, opts Options) (pmetric.Metrics, error) {
	out := pmetric.NewMetrics()
	inputs, err := metricInputs(p, kind, opts.Metrics)
	if err != nil || len(inputs) == 0 {
		return out, err
	}
	groups := groupSamples(p, inputs, opts.LabelAttributes)

	rm := out.ResourceMetrics().AppendEmpty()
	id.FillResource(rm.Resource())
	sm := rm.ScopeMetrics().AppendEmpty()
	target.FillScope(sm.Scope(), metadata.AttributeSourcePprof)
	end := pcommon.Timestamp(max(p.timeNanos, 0) + max(p.durationNanos, 0))
	for mi, in := range inputs {
		points, _ := opts.Metrics.Numbers(sm.Metrics(), in.spec.info) // metricInputs took only enabled ones
		points.EnsureCapacity(len(groups))
		for _, g := range groups {
			dp := points.AppendEmpty()
			dp.SetTimestamp(end)
			switch {
			case in.spec.info.Kind == metadata.Gauge:
			case in.spec.info.Temporality == pmetric.AggregationTemporalityDelta:
				dp.SetStartTimestamp(pcommon.Timestamp(max(p.timeNanos, 0)))
			default:
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

// metricInputs finds the sample types the enabled metrics of kind read.
func metricInputs(p *pprofData, kind string, mb metadata.Builder) ([]metricInput, error) {
	specs := kindMetrics[kind]
	inputs := make([]metricInput, 0, len(specs))
	for _, spec := range specs {
		if !mb.Enabled(spec.info) {
			continue
		}
		i := slices.IndexFunc(p.sampleTypes, func(st valueType) bool { return p.str(st.typ) == spec.sampleType })
		if i < 0 {
			return nil, fmt.Errorf("%s profile without a %q sample type (it has %s)", kind, spec.sampleType, sampleTypes(p))
		}
		in := metricInput{spec: spec, index: i}
		if spec.seconds {
			unit := p.str(p.sampleTypes[i].unit)
			if in.scale = secondsPer[unit]; in.scale == 0 {
				return nil, fmt.Errorf("%s profile: sample type %q has unit %q, not a time unit", kind, spec.sampleType, unit)
			}
		}
		inputs = append(inputs, in)
	}
	return inputs, nil
}

// groupSamples sums the inputs' values per combination of the allowlisted labels' values, in
// the order the combinations first appear. A profile without samples gives one zero group, one
// without labels a single group.
func groupSamples(p *pprofData, inputs []metricInput, allow []string) []*group {
	if len(allow) == 0 || len(p.samples) == 0 || len(p.labels) == 0 {
		g := &group{sums: make([]int64, len(inputs))}
		for i := range p.samples {
			g.add(p.sampleValues(i), inputs)
		}
		return []*group{g}
	}
	var groups []*group
	index := make(map[string]*group)
	var key []byte
	for i, s := range p.samples {
		labels := p.labels[s.labels.from:s.labels.to]
		key = key[:0]
		for _, k := range allow {
			lv, ok := firstValue(p, labels, k)
			switch {
			case !ok:
				key = append(key, '-')
			case lv.isNum:
				key = append(key, 'n')
				key = binary.AppendVarint(key, lv.num)
			default:
				key = append(key, 's')
				key = binary.AppendUvarint(key, uint64(len(lv.str)))
				key = append(key, lv.str...)
			}
		}
		g := index[string(key)]
		if g == nil {
			g = &group{attrs: labelValues(p, labels, allow), sums: make([]int64, len(inputs))}
			index[string(key)] = g
			groups = append(groups, g)
		}
		g.add(p.sampleValues(i), inputs)
	}
	return groups
}

// add adds a sample's values to the group's sums.
func (g *group) add(values []int64, inputs []metricInput) {
	for mi, in := range inputs {
		g.sums[mi] += values[in.index]
	}
}

// firstValue returns the first value of the label key among a sample's labels: its first string
// value, or else its first numeric value (labels as profile.Parse reads them).
func firstValue(p *pprofData, labels []label, key string) (labelValue, bool) {
	num := -1
	for i, e := range labels {
		switch {
		case p.str(e.key) != key:
		case e.str != 0:
			return labelValue{key: key, str: p.str(e.str)}, true
		case num < 0 && (e.num != 0 || e.unit != 0):
			num = i
		}
	}
	if num < 0 {
		return labelValue{}, false
	}
	return labelValue{key: key, num: int64(labels[num].num), isNum: true}, true
}

// labelValues lists the first value of each allowlisted label a sample has.
func labelValues(p *pprofData, labels []label, allow []string) []labelValue {
	var lvs []labelValue
	for _, k := range allow {
		if lv, ok := firstValue(p, labels, k); ok {
			lvs = append(lvs, lv)
		}
	}
	return lvs
}

// sampleTypes lists a profile's sample types for error messages.
func sampleTypes(p *pprofData) string {
	types := make([]string, len(p.sampleTypes))
	for i, st := range p.sampleTypes {
		types[i] = p.str(st.typ) + "/" + p.str(st.unit)
	}
	return fmt.Sprint(types)
}
