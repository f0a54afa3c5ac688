package pprofsrc

import (
	"encoding/hex"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/google/pprof/profile"

	"github.com/gostitch/gostitch/receiver/internal/target"
)

var testID = target.Identity{Name: "syncnode", PID: 4242, Host: "host-1"}

func TestRoundTripFixtures(t *testing.T) { roundTripAll(t, fixtureSources(t)) }
func TestRoundTripRuntime(t *testing.T)  { roundTripAll(t, runtimeSources(t)) }
func TestRoundTripGoTest(t *testing.T)   { roundTripAll(t, goTestSources(t)) }

// TestRoundTripGenerated also covers what the benchmarks convert.
func TestRoundTripGenerated(t *testing.T) { roundTripAll(t, generatedSources(t)) }

func roundTripAll(t *testing.T, sources []source) {
	for _, src := range sources {
		t.Run(src.name, func(t *testing.T) {
			if p := checkRoundTrip(t, src.data, src.kind); len(p.Sample) == 0 {
				t.Fatalf("the %s profile has no samples", src.kind)
			}
		})
	}
}

// checkRoundTrip converts data and back, and compares with what profile.Parse reads from data,
// per sample type: the period, time and duration, the total, and the multiset of (stack as
// function names, labels) with the count and sum of their values. It returns the parsed profile.
func checkRoundTrip(t *testing.T, data []byte, kind string) *profile.Profile {
	t.Helper()
	p, err := profile.ParseData(data)
	if err != nil {
		t.Fatal(err)
	}
	pd, _, err := DecodeConvert(data, 0, kind, testID, Options{})
	if err != nil {
		t.Fatal(err)
	}
	back, err := toPprof(pd)
	if err != nil {
		t.Fatalf("invalid OTLP profiles: %v", err)
	}
	if len(back) != len(p.SampleType) {
		t.Fatalf("%d profiles for %d sample types", len(back), len(p.SampleType))
	}
	for _, bp := range back {
		st := bp.SampleType[0]
		vi := slices.IndexFunc(p.SampleType, func(v *profile.ValueType) bool { return *v == *st })
		if vi < 0 {
			t.Fatalf("profile of sample type %s/%s not in the input", st.Type, st.Unit)
		}
		// OTLP times are unsigned: negative ones become 0.
		if bp.Period != p.Period || bp.TimeNanos != max(p.TimeNanos, 0) || bp.DurationNanos != max(p.DurationNanos, 0) ||
			bp.PeriodType.Type != p.PeriodType.Type || bp.PeriodType.Unit != p.PeriodType.Unit {
			t.Errorf("%s: period, time or duration differ", st.Type)
		}
		want := summarize(p.Sample, vi, wantLabels)
		got := summarize(bp.Sample, 0, func(s *profile.Sample) map[string][]string { return s.Label })
		if want.total != got.total {
			t.Errorf("%s: total %d, want %d", st.Type, got.total, want.total)
		}
		for k, w := range want.stacks {
			if g := got.stacks[k]; g != w {
				t.Errorf("%s: %s: got %+v, want %+v", st.Type, k, g, w)
			}
		}
		for k, g := range got.stacks {
			if _, ok := want.stacks[k]; !ok {
				t.Errorf("%s: unexpected %s: %+v", st.Type, k, g)
			}
		}
	}
	return p
}

type summary struct {
	total  int64
	stacks map[string]weight
}

type weight struct {
	samples int
	sum     int64
}

// summarize keys the samples of value index vi that are not zero by stack and labels.
func summarize(samples []*profile.Sample, vi int, labels func(*profile.Sample) map[string][]string) summary {
	sum := summary{stacks: map[string]weight{}}
	for _, s := range samples {
		v := s.Value[vi]
		if v == 0 {
			continue
		}
		k := sampleKey(s, labels(s))
		w := sum.stacks[k]
		w.samples++
		w.sum += v
		sum.stacks[k] = w
		sum.total += v
	}
	return sum
}

// sampleKey renders a stack (function names per frame, leaf first) and labels.
func sampleKey(s *profile.Sample, labels map[string][]string) string {
	var b strings.Builder
	for _, l := range s.Location {
		for _, ln := range l.Line {
			b.WriteString(ln.Function.Name)
			b.WriteString(";")
		}
		if len(l.Line) == 0 {
			fmt.Fprintf(&b, "%#x;", l.Address)
		}
	}
	for _, k := range slices.Sorted(maps.Keys(labels)) {
		fmt.Fprintf(&b, " %s=%q", k, labels[k])
	}
	for _, k := range slices.Sorted(maps.Keys(s.NumLabel)) {
		fmt.Fprintf(&b, " %s=%v%q", k, s.NumLabel[k], strings.Join(s.NumUnit[k], ""))
	}
	return b.String()
}

// wantLabels is what a converted sample should give back as labels: the trace context as the
// reverse mapping writes a link (otel.trace_id and otel.span_id in lower-case hex), other labels
// as they are. Invalid trace context stays a label.
func wantLabels(s *profile.Sample) map[string][]string {
	out := maps.Clone(s.Label)
	one := func(k string) (string, bool) {
		v := out[k]
		return strings.Join(v, ""), len(v) == 1
	}
	for _, k := range []string{"otel.trace_id", "trace_id"} {
		if v, ok := one(k); ok && len(v) == 32 && isHex(v) && strings.Trim(v, "0") != "" {
			delete(out, k)
			out["otel.trace_id"] = []string{strings.ToLower(v)}
			break
		}
	}
	for _, k := range []string{"otel.span_id", "span_id", "span id", "local root span id"} {
		v, ok := one(k)
		if !ok {
			continue
		}
		if strings.Contains(k, " ") {
			n, err := strconv.ParseUint(v, 10, 64)
			if err != nil || n == 0 {
				continue
			}
			v = fmt.Sprintf("%016x", n)
		} else if len(v) != 16 || !isHex(v) || strings.Trim(v, "0") == "" {
			continue
		}
		delete(out, k)
		out["otel.span_id"] = []string{strings.ToLower(v)}
		break
	}
	return out
}

func isHex(s string) bool {
	_, err := hex.DecodeString(s)
	return err == nil
}
