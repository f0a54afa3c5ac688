package pprofsrc

import (
	"bytes"
	"maps"
	"slices"
	"testing"

	"github.com/google/pprof/profile"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pprofile"

	"github.com/gostitch/gostitch/receiver/internal/pprofsrc/testdata/workload"
)

// convertedSample is one sample of a converted profile with its attributes and link resolved.
type convertedSample struct {
	attrs       map[string]any
	units       map[string]string
	trace, span string
}

func convertedSamples(t *testing.T, pd pprofile.Profiles) []convertedSample {
	t.Helper()
	if err := validate(pd); err != nil {
		t.Fatal(err)
	}
	d := pd.Dictionary()
	var out []convertedSample
	for _, dp := range pd.ResourceProfiles().At(0).ScopeProfiles().At(0).Profiles().All() {
		for _, s := range dp.Samples().All() {
			cs := convertedSample{attrs: map[string]any{}, units: map[string]string{}}
			for _, ai := range s.AttributeIndices().All() {
				a := d.AttributeTable().At(int(ai))
				key := d.StringTable().At(int(a.KeyStrindex()))
				cs.attrs[key] = a.Value().AsRaw()
				if u := d.StringTable().At(int(a.UnitStrindex())); u != "" {
					cs.units[key] = u
				}
			}
			l := d.LinkTable().At(int(s.LinkIndex()))
			if !l.TraceID().IsEmpty() {
				cs.trace = l.TraceID().String()
			}
			if !l.SpanID().IsEmpty() {
				cs.span = l.SpanID().String()
			}
			out = append(out, cs)
		}
	}
	return out
}

// TestWorkerLabelsAndLinks checks every sample of real labeled profiles against the labels the
// workers set: trace context in OpenTelemetry and Datadog spellings becomes the link, the rest
// stays attributes, an invalid trace id included.
func TestWorkerLabelsAndLinks(t *testing.T) {
	type want struct {
		attrs       map[string]any
		trace, span string
	}
	byMsgType := map[string]want{
		"block": {attrs: map[string]any{"msg_type": "block", "peer_id": "peer-1"},
			trace: "4bf92f3577b34da6a3ce929d0e0e4736", span: "00f067aa0ba902b7"},
		// 1234567890123456789 = 0x112210f47de98115; the local root span only when span id is missing.
		"tx": {attrs: map[string]any{"msg_type": "tx", "peer_id": "peer-2", "local root span id": "987654321"},
			span: "112210f47de98115"},
		"ping": {attrs: map[string]any{"msg_type": "ping", "trace_id": "not-a-trace-id"}},
	}
	if len(byMsgType) != len(workload.Workers) {
		t.Fatal("a worker is not checked")
	}
	var goroutines bytes.Buffer
	if err := workload.Goroutines(&goroutines, 2); err != nil {
		t.Fatal(err)
	}
	sources := append(fixtureSources(t), source{name: "runtime/goroutine", kind: "goroutine", data: goroutines.Bytes()})
	for _, src := range sources {
		if src.kind != "cpu" && src.kind != "goroutine" {
			continue
		}
		t.Run(src.name, func(t *testing.T) {
			pd, _, err := DecodeConvert(src.data, 0, src.kind, testID, Options{})
			if err != nil {
				t.Fatal(err)
			}
			seen := map[string]bool{}
			for i, s := range convertedSamples(t, pd) {
				msgType, labeled := s.attrs["msg_type"].(string)
				if !labeled {
					if len(s.attrs) != 0 || s.trace != "" || s.span != "" {
						t.Errorf("sample %d: unlabeled sample has %v, link %q/%q", i, s.attrs, s.trace, s.span)
					}
					continue
				}
				seen[msgType] = true
				w, ok := byMsgType[msgType]
				switch {
				case !ok:
					t.Errorf("sample %d: unknown msg_type %q", i, msgType)
				case !maps.Equal(s.attrs, w.attrs):
					t.Errorf("sample %d: attributes %v, want %v", i, s.attrs, w.attrs)
				case s.trace != w.trace || s.span != w.span:
					t.Errorf("sample %d (%s): link %q/%q, want %q/%q", i, msgType, s.trace, s.span, w.trace, w.span)
				}
			}
			if src.kind == "goroutine" && len(seen) != len(byMsgType) {
				t.Errorf("workers seen: %v", seen)
			}
			if n := pd.Dictionary().LinkTable().Len(); n > 3 {
				t.Errorf("%d links, want at most the zero link and two", n)
			}
		})
	}
}

// TestNumericAndMultiValuedLabels covers what Go's runtime never writes: numeric labels with
// units and labels with several values.
func TestNumericAndMultiValuedLabels(t *testing.T) {
	fn := &profile.Function{ID: 1, Name: "main.work"}
	loc := &profile.Location{ID: 1, Line: []profile.Line{{Function: fn}}}
	p := &profile.Profile{
		SampleType: []*profile.ValueType{{Type: "samples", Unit: "count"}},
		PeriodType: &profile.ValueType{Type: "samples", Unit: "count"},
		Location:   []*profile.Location{loc},
		Function:   []*profile.Function{fn},
		Sample: []*profile.Sample{
			{Location: []*profile.Location{loc}, Value: []int64{3},
				Label:    map[string][]string{"tags": {"a", "b"}},
				NumLabel: map[string][]int64{"bytes": {512}, "request": {7}, "ports": {80, 443}},
				NumUnit:  map[string][]string{"bytes": {"bytes"}, "ports": {"port", "port"}}},
			{Location: []*profile.Location{loc}, Value: []int64{4},
				Label:    map[string][]string{"trace_id": {"0AF7651916CD43DD8448EB211C80319C"}, "span_id": {"B7AD6B7169203331"}},
				NumLabel: map[string][]int64{"bytes": {512}}, NumUnit: map[string][]string{"bytes": {"bytes"}}},
		},
	}
	data := encode(t, p)
	checkRoundTrip(t, data, "")

	pd, _, err := DecodeConvert(data, 0, "", testID, Options{})
	if err != nil {
		t.Fatal(err)
	}
	got := convertedSamples(t, pd)
	wantAttrs := []map[string]any{
		{"tags": []any{"a", "b"}, "bytes": int64(512), "request": int64(7), "ports": []any{int64(80), int64(443)}},
		{"bytes": int64(512)},
	}
	for i, s := range got {
		if len(s.attrs) != len(wantAttrs[i]) {
			t.Errorf("sample %d: attributes %v, want %v", i, s.attrs, wantAttrs[i])
		}
		for k, v := range wantAttrs[i] {
			if !pcommonEqual(s.attrs[k], v) {
				t.Errorf("sample %d: %s = %v, want %v", i, k, s.attrs[k], v)
			}
		}
		if s.units["bytes"] != "bytes" {
			t.Errorf("sample %d: bytes unit %q", i, s.units["bytes"])
		}
	}
	if got[0].units["ports"] != "port" || got[0].units["request"] != "" {
		t.Errorf("units %v", got[0].units)
	}
	if got[1].trace != "0af7651916cd43dd8448eb211c80319c" || got[1].span != "b7ad6b7169203331" {
		t.Errorf("link %q/%q", got[1].trace, got[1].span)
	}
	// Both samples share the bytes=512 attribute; it is stored once.
	if n := pd.Dictionary().AttributeTable().Len(); n != 1+4 {
		t.Errorf("%d attributes, want the zero one and 4", n)
	}
}

func pcommonEqual(a, b any) bool {
	va, vb := pcommon.NewValueEmpty(), pcommon.NewValueEmpty()
	return va.FromRaw(a) == nil && vb.FromRaw(b) == nil && va.Equal(vb)
}

func TestSampleLinkSpellings(t *testing.T) {
	for _, tc := range []struct {
		labels      map[string][]string
		trace, span string
	}{
		{labels: map[string][]string{"otel.trace_id": {"4bf92f3577b34da6a3ce929d0e0e4736"}, "trace_id": {"0af7651916cd43dd8448eb211c80319c"}},
			trace: "4bf92f3577b34da6a3ce929d0e0e4736"},
		{labels: map[string][]string{"otel.trace_id": {"00000000000000000000000000000000"}, "trace_id": {"0af7651916cd43dd8448eb211c80319c"}},
			trace: "0af7651916cd43dd8448eb211c80319c"},
		{labels: map[string][]string{"span id": {"18446744073709551615"}, "local root span id": {"1"}}, span: "ffffffffffffffff"},
		{labels: map[string][]string{"local root span id": {"1"}}, span: "0000000000000001"},
		{labels: map[string][]string{"span id": {"0"}, "span_id": {"12345"}}},
		{labels: map[string][]string{"otel.span_id": {"00f067aa0ba902b7", "b7ad6b7169203331"}}},
		{labels: map[string][]string{"otel.span_id": {"00f067aa0ba902bz"}, "span id": {"-1"}}},
	} {
		var labels []strLabel
		for _, k := range slices.Sorted(maps.Keys(tc.labels)) {
			labels = append(labels, strLabel{key: k, vals: tc.labels[k]})
		}
		l, _, _ := linkOf(labels)
		var trace, span string
		if l.Trace != (pcommon.TraceID{}) {
			trace = l.Trace.String()
		}
		if l.Span != (pcommon.SpanID{}) {
			span = l.Span.String()
		}
		if trace != tc.trace || span != tc.span {
			t.Errorf("%v: link %q/%q, want %q/%q", tc.labels, trace, span, tc.trace, tc.span)
		}
	}
}
