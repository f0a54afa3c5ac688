package pprofsrc

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/google/pprof/profile"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
)

// wantMetric is the contract of one metric: what it reads and how it is emitted.
type wantMetric struct {
	name, sampleType, unit string
	typ                    pmetric.MetricType
	temporality            pmetric.AggregationTemporality
	seconds                bool
}

var wantMetrics = map[string][]wantMetric{
	"cpu":       {{"gostitch.cpu.time", "cpu", "s", pmetric.MetricTypeSum, pmetric.AggregationTemporalityDelta, true}},
	"heap":      {{"go.memory.used", "inuse_space", "By", pmetric.MetricTypeGauge, 0, false}},
	"allocs":    {{"gostitch.memory.allocated", "alloc_space", "By", pmetric.MetricTypeSum, pmetric.AggregationTemporalityCumulative, false}, {"gostitch.memory.allocations", "alloc_objects", "{allocation}", pmetric.MetricTypeSum, pmetric.AggregationTemporalityCumulative, false}},
	"goroutine": {{"go.goroutine.count", "goroutine", "{goroutine}", pmetric.MetricTypeGauge, 0, false}},
	"block":     {{"gostitch.contention.delay", "delay", "s", pmetric.MetricTypeSum, pmetric.AggregationTemporalityCumulative, true}},
	"mutex":     {{"gostitch.contention.delay", "delay", "s", pmetric.MetricTypeSum, pmetric.AggregationTemporalityCumulative, true}},
}

// TestMetricsEqualProfileSums checks each metric against sums computed directly from the
// profile, per combination of the allowlisted labels, on real profiles.
func TestMetricsEqualProfileSums(t *testing.T) {
	allow := []string{"msg_type", "peer_id"}
	start := pcommon.Timestamp(1_700_000_000_000_000_000)
	for _, src := range slices.Concat(fixtureSources(t), runtimeSources(t), generatedSources(t)) {
		t.Run(src.name, func(t *testing.T) {
			p, err := profile.ParseData(src.data)
			if err != nil {
				t.Fatal(err)
			}
			_, md, err := DecodeConvert(src.data, 0, src.kind, testID, Options{LabelAttributes: allow, StartTime: start})
			if err != nil {
				t.Fatal(err)
			}
			checkResourceAndScope(t, md)
			metrics := md.ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics()
			want := wantMetrics[src.kind]
			if metrics.Len() != len(want) {
				t.Fatalf("%d metrics, want %d", metrics.Len(), len(want))
			}
			for i, w := range want {
				checkMetric(t, p, src.kind, metrics.At(i), w, allow, start)
			}
		})
	}
}

func checkResourceAndScope(t *testing.T, md pmetric.Metrics) {
	t.Helper()
	rm := md.ResourceMetrics().At(0)
	res := rm.Resource().Attributes().AsRaw()
	if res["service.name"] != "syncnode" || res["process.pid"] != int64(4242) || res["host.name"] != "host-1" {
		t.Errorf("resource %v", res)
	}
	if v, _ := rm.ScopeMetrics().At(0).Scope().Attributes().Get("gostitch.source"); v.Str() != "pprof" {
		t.Errorf("scope attributes %v", rm.ScopeMetrics().At(0).Scope().Attributes().AsRaw())
	}
}

func checkMetric(t *testing.T, p *profile.Profile, kind string, m pmetric.Metric, w wantMetric, allow []string, start pcommon.Timestamp) {
	t.Helper()
	if m.Name() != w.name || m.Unit() != w.unit || m.Type() != w.typ || m.Description() == "" {
		t.Errorf("metric %s %s %s, want %s %s %s", m.Name(), m.Unit(), m.Type(), w.name, w.unit, w.typ)
		return
	}
	var points pmetric.NumberDataPointSlice
	wantStart := pcommon.Timestamp(0)
	if w.typ == pmetric.MetricTypeGauge {
		points = m.Gauge().DataPoints()
	} else {
		points = m.Sum().DataPoints()
		if m.Sum().AggregationTemporality() != w.temporality {
			t.Errorf("%s: temporality %s", w.name, m.Sum().AggregationTemporality())
		}
		wantStart = start
		if w.temporality == pmetric.AggregationTemporalityDelta {
			wantStart = pcommon.Timestamp(p.TimeNanos)
		}
	}

	vi := slices.IndexFunc(p.SampleType, func(st *profile.ValueType) bool { return st.Type == w.sampleType })
	sums := map[string]int64{}
	for _, s := range p.Sample {
		var key []string
		for _, k := range allow {
			if v, ok := s.Label[k]; ok {
				key = append(key, k+"="+v[0])
			}
		}
		sums[strings.Join(key, ",")] += s.Value[vi]
	}
	if len(sums) != points.Len() {
		t.Errorf("%s: %d points, want %d (%v)", w.name, points.Len(), len(sums), sums)
	}
	for _, dp := range points.All() {
		attrs := dp.Attributes().AsRaw()
		if kind == "block" || kind == "mutex" {
			if attrs["gostitch.profile.type"] != kind {
				t.Errorf("%s: gostitch.profile.type = %v", w.name, attrs["gostitch.profile.type"])
			}
			delete(attrs, "gostitch.profile.type")
		}
		var key []string
		for _, k := range allow {
			if v, ok := attrs[k]; ok {
				key = append(key, fmt.Sprint(k, "=", v))
				delete(attrs, k)
			}
		}
		if len(attrs) != 0 {
			t.Errorf("%s: attributes beyond the allowlist: %v", w.name, attrs)
		}
		want, ok := sums[strings.Join(key, ",")]
		switch {
		case !ok:
			t.Errorf("%s: unexpected point %v", w.name, key)
		case w.seconds && math.Abs(dp.DoubleValue()-float64(want)/1e9) > 1e-12*float64(want):
			t.Errorf("%s %v: %v s, want %v ns", w.name, key, dp.DoubleValue(), want)
		case !w.seconds && dp.IntValue() != want:
			t.Errorf("%s %v: %d, want %d", w.name, key, dp.IntValue(), want)
		}
		if dp.Timestamp() != pcommon.Timestamp(p.TimeNanos+p.DurationNanos) || dp.StartTimestamp() != wantStart {
			t.Errorf("%s: time %d..%d", w.name, dp.StartTimestamp(), dp.Timestamp())
		}
	}
}

func TestMetricsWithoutSamples(t *testing.T) {
	p := &profile.Profile{
		SampleType: []*profile.ValueType{{Type: "contentions", Unit: "count"}, {Type: "delay", Unit: "nanoseconds"}},
		TimeNanos:  1e18,
	}
	data := encode(t, p)
	_, md, err := DecodeConvert(data, 0, "mutex", testID, Options{LabelAttributes: []string{"msg_type"}})
	if err != nil {
		t.Fatal(err)
	}
	if md.DataPointCount() != 1 {
		t.Fatalf("%d points, want one zero", md.DataPointCount())
	}
	dp := md.ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics().At(0).Sum().DataPoints().At(0)
	if dp.DoubleValue() != 0 || dp.Attributes().Len() != 1 {
		t.Errorf("point %v %v", dp.DoubleValue(), dp.Attributes().AsRaw())
	}

	// Without a kind, an empty contention profile cannot be told block or mutex: no metric.
	if _, md, err = DecodeConvert(data, 0, "", testID, Options{}); err != nil || md.DataPointCount() != 0 {
		t.Errorf("inferred: %d points, %v", md.DataPointCount(), err)
	}
}

func TestInferKind(t *testing.T) {
	for _, src := range append(fixtureSources(t), goTestSources(t)...) {
		if got := inferredKind(t, src.data); got != src.kind {
			t.Errorf("%s: inferred %q", src.name, got)
		}
	}
}

// inferredKind converts data without a kind and returns the kind the profiles are tagged with.
func inferredKind(t *testing.T, data []byte) string {
	t.Helper()
	pd, _, err := DecodeConvert(data, 0, "", testID, Options{})
	if err != nil {
		t.Fatal(err)
	}
	d := pd.Dictionary()
	for _, ai := range pd.ResourceProfiles().At(0).ScopeProfiles().At(0).Profiles().At(0).AttributeIndices().All() {
		if a := d.AttributeTable().At(int(ai)); d.StringTable().At(int(a.KeyStrindex())) == "gostitch.profile.type" {
			return a.Value().Str()
		}
	}
	return ""
}

func TestKindMismatch(t *testing.T) {
	data := fixture(t, "cpu")
	_, _, err := DecodeConvert(data, 0, "heap", testID, Options{})
	if err == nil || !strings.Contains(err.Error(), `heap profile without a "inuse_space" sample type (it has [samples/count cpu/nanoseconds])`) {
		t.Errorf("error %v", err)
	}
	p, err := profile.ParseData(data)
	if err != nil {
		t.Fatal(err)
	}
	p.SampleType[1].Unit = "cycles"
	if _, _, err = DecodeConvert(encode(t, p), 0, "cpu", testID, Options{}); err == nil || !strings.Contains(err.Error(), `unit "cycles"`) {
		t.Errorf("error %v", err)
	}
}

// TestUnknownKind converts a profile no metric reads: profiles, no metrics, no error.
func TestUnknownKind(t *testing.T) {
	pd, md, err := DecodeConvert(fixture(t, "goroutine"), 0, "threadcreate", testID, Options{})
	if err != nil || pd.SampleCount() == 0 || md.DataPointCount() != 0 {
		t.Errorf("%d samples, %d points, %v", pd.SampleCount(), md.DataPointCount(), err)
	}
}

// fixture returns the bytes of the fixture of the given kind.
func fixture(t *testing.T, kind string) []byte {
	t.Helper()
	for _, src := range fixtureSources(t) {
		if src.kind == kind {
			return src.data
		}
	}
	t.Fatalf("no %s fixture", kind)
	return nil
}

func TestContentionKind(t *testing.T) {
	sample := func(p *profile.Profile, leaf string) *profile.Sample {
		id := uint64(len(p.Function) + 1)
		fn := &profile.Function{ID: id, Name: leaf}
		loc := &profile.Location{ID: id, Line: []profile.Line{{Function: fn}}}
		p.Function, p.Location = append(p.Function, fn), append(p.Location, loc)
		return &profile.Sample{Location: []*profile.Location{loc}, Value: []int64{1, 1}}
	}
	for _, tc := range []struct {
		leaves []string
		want   string
	}{
		{[]string{"runtime.chanrecv1", "sync.(*Mutex).Lock", "sync.(*WaitGroup).Wait"}, "block"},
		{[]string{"sync.(*Mutex).Unlock", "runtime.unlock"}, "mutex"},
		{[]string{"runtime._LostContendedRuntimeLock"}, "mutex"},
		{nil, ""},
	} {
		p := &profile.Profile{SampleType: []*profile.ValueType{{Type: "contentions", Unit: "count"}, {Type: "delay", Unit: "nanoseconds"}}}
		for _, leaf := range tc.leaves {
			p.Sample = append(p.Sample, sample(p, leaf))
		}
		if got := inferredKind(t, encode(t, p)); got != tc.want {
			t.Errorf("%v: %q, want %q", tc.leaves, got, tc.want)
		}
	}
}
