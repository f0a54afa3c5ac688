package pprofsrc

import (
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/google/pprof/profile"
	"go.opentelemetry.io/collector/pdata/pmetric"
)

// FuzzDecodeConvert feeds arbitrary bytes through DecodeConvert (seeds under
// testdata/fuzz/FuzzDecodeConvert and wireForms): no panic, only classified errors, valid OTLP output; for
// what it accepts, what profile.Parse reads from the same bytes (checkRoundTrip), and what it
// finds an invalid protobuf, profile.ParseUncompressed does too.
func FuzzDecodeConvert(f *testing.F) {
	kinds := []string{"", "cpu", "heap", "allocs", "goroutine", "block", "mutex"}
	f.Add(wireForms())
	f.Fuzz(func(t *testing.T, data []byte) {
		kind := kinds[len(data)%len(kinds)]
		pd, md, err := DecodeConvert(data, 4<<20, kind, testID, Options{LabelAttributes: []string{"msg_type", "bytes"}})
		if err != nil {
			// Besides the classes, the profile may lack the sample type a metric of its kind reads.
			if !errors.Is(err, ErrEmpty) && !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrNotPprof) && !errors.Is(err, ErrTooLarge) &&
				(kind == "" || !strings.HasPrefix(err.Error(), kind+" profile")) {
				t.Fatalf("unclassified error: %v", err)
			}
			if strings.Contains(err.Error(), "invalid pprof protobuf") {
				checkParseFails(t, data, err)
			}
			return
		}
		if err := validate(pd); err != nil {
			t.Fatalf("invalid profiles: %v", err)
		}
		checkRoundTrip(t, data, kind)
		for _, rm := range md.ResourceMetrics().All() {
			for _, m := range rm.ScopeMetrics().At(0).Metrics().All() {
				checkPointAttrs(t, m)
			}
		}
	})
}

// checkParseFails fails when profile.ParseUncompressed and CheckValid accept the (decompressed)
// bytes that DecodeConvert rejected with err.
func checkParseFails(t *testing.T, data []byte, err error) {
	raw := data
	if zr, gzErr := gzip.NewReader(bytes.NewReader(data)); gzErr == nil {
		if raw, gzErr = io.ReadAll(zr); gzErr != nil {
			return
		}
	}
	if p, perr := profile.ParseUncompressed(raw); perr == nil && p.CheckValid() == nil {
		t.Fatalf("profile.ParseUncompressed accepts what DecodeConvert does not: %v", err)
	}
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
