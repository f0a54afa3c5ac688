package pprofsrc

import (
	"errors"
	"testing"

	"go.opentelemetry.io/collector/pdata/pmetric"
)

// FuzzDecodeConvert feeds arbitrary bytes through Decode and Convert (seeds under
// testdata/fuzz/FuzzDecodeConvert): no panic, only classified errors, and valid OTLP output.
func FuzzDecodeConvert(f *testing.F) {
	kinds := []string{"", "cpu", "heap", "allocs", "goroutine", "block", "mutex"}
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := Decode(data, 4<<20)
		if err != nil {
			if !errors.Is(err, ErrEmpty) && !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrNotPprof) && !errors.Is(err, ErrTooLarge) {
				t.Fatalf("unclassified error: %v", err)
			}
			return
		}
		kind := kinds[len(data)%len(kinds)]
		pd, md, err := Convert(p, kind, testID, Options{LabelAttributes: []string{"msg_type", "bytes"}})
		if err != nil {
			return
		}
		if err := validate(pd); err != nil {
			t.Fatalf("invalid profiles: %v", err)
		}
		if pd.ProfileCount() != len(p.SampleType) {
			t.Fatalf("%d profiles for %d sample types", pd.ProfileCount(), len(p.SampleType))
		}
		for _, rm := range md.ResourceMetrics().All() {
			for _, m := range rm.ScopeMetrics().At(0).Metrics().All() {
				checkPointAttrs(t, m)
			}
		}
	})
}

// checkPointAttrs fails when a data point carries an attribute the allowlist does not allow.
func checkPointAttrs(t *testing.T, m pmetric.Metric) {
	var points pmetric.NumberDataPointSlice
	if m.Type() == pmetric.MetricTypeGauge {
		points = m.Gauge().DataPoints()
	} else {
		points = m.Sum().DataPoints()
	}
	for _, dp := range points.All() {
		for k := range dp.Attributes().All() {
			if k != "msg_type" && k != "bytes" && k != "gostitch.profile.type" {
				t.Fatalf("%s: attribute %q", m.Name(), k)
			}
		}
	}
}
