package stitch

import (
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/gostitch/gostitch/receiver/internal/metadata"
)

// TestCPUProfileLinksSamplesToTheirSpans: the execution trace's CPU samples taken in tasks make
// one OTLP profile whose samples link to the task or region span they were taken in, at a time
// inside that span, and add up to the CPU time on the task spans.
func TestCPUProfileLinksSamplesToTheirSpans(t *testing.T) {
	const period = 5 * time.Millisecond
	out := mustConvert(t, "blocksync.trace", TraceOptions{CPUSamplePeriod: period})
	pd := out.res.Profiles
	if pd.ResourceProfiles().Len() != 1 || pd.ResourceProfiles().At(0).ScopeProfiles().Len() != 1 {
		t.Fatalf("want one resource and scope, got %d resources", pd.ResourceProfiles().Len())
	}
	sp := pd.ResourceProfiles().At(0).ScopeProfiles().At(0)
	if v, _ := sp.Scope().Attributes().Get(metadata.AttributeSource); v.Str() != metadata.AttributeSourceGoTrace {
		t.Errorf("scope source %q", v.Str())
	}
	if sp.Profiles().Len() != 1 {
		t.Fatalf("%d profiles, want 1", sp.Profiles().Len())
	}
	prof := sp.Profiles().At(0)
	dict := pd.Dictionary()
	strs := dict.StringTable()
	if typ, unit := strs.At(int(prof.SampleType().TypeStrindex())), strs.At(int(prof.SampleType().UnitStrindex())); typ != "cpu" || unit != "nanoseconds" {
		t.Errorf("sample type %s/%s", typ, unit)
	}
	if prof.Period() != period.Nanoseconds() {
		t.Errorf("period %d", prof.Period())
	}

	// CPU time per task span from the profile, checked against the span attribute below.
	cpuOfTask := map[pcommon.SpanID]int64{}
	samples := 0
	for i := range prof.Samples().Len() {
		s := prof.Samples().At(i)
		if s.Values().Len() != s.TimestampsUnixNano().Len() || s.Values().Len() == 0 {
			t.Fatalf("sample %d: %d values, %d timestamps", i, s.Values().Len(), s.TimestampsUnixNano().Len())
		}
		if s.StackIndex() <= 0 || s.LinkIndex() <= 0 {
			t.Fatalf("sample %d: stack %d, link %d", i, s.StackIndex(), s.LinkIndex())
		}
		link := dict.LinkTable().At(int(s.LinkIndex()))
		span, ok := out.byID[link.SpanID()]
		if !ok || span.TraceID() != link.TraceID() {
			t.Fatalf("sample %d links to span %s of trace %s, which was not emitted", i, link.SpanID(), link.TraceID())
		}
		for j := range s.TimestampsUnixNano().Len() {
			ts := s.TimestampsUnixNano().At(j)
			if ts < uint64(span.StartTimestamp()) || ts > uint64(span.EndTimestamp()) {
				t.Errorf("sample %d at %d is outside its span %q [%d, %d]", i, ts, span.Name(), span.StartTimestamp(), span.EndTimestamp())
			}
			if s.Values().At(j) != period.Nanoseconds() {
				t.Errorf("sample %d value %d", i, s.Values().At(j))
			}
		}
		task, ok := out.taskSpanOf(span)
		if !ok {
			t.Fatalf("sample %d: span %q is not under a task span", i, span.Name())
		}
		cpuOfTask[task.SpanID()] += int64(s.Values().Len()) * period.Nanoseconds()
		samples += s.Values().Len()
		leaf := dict.LocationTable().At(int(dict.StackTable().At(int(s.StackIndex())).LocationIndices().At(0)))
		if fn := strs.At(int(dict.FunctionTable().At(int(leaf.Lines().At(0).FunctionIndex())).NameStrindex())); fn == "" {
			t.Errorf("sample %d: leaf frame has no function name", i)
		}
	}
	if samples == 0 {
		t.Fatal("no CPU sample in the profile")
	}
	for _, task := range out.taskSpans() {
		want := cpuOfTask[task.SpanID()]
		if got := intAttr(task, metadata.AttributeCPUTime); got != want {
			t.Errorf("task %s %q: %s = %d, the profile links %d ns to it", task.SpanID(), task.Name(), metadata.AttributeCPUTime, got, want)
		}
	}

	// Reading the same trace again gives the same profile id.
	again := mustConvert(t, "blocksync.trace", TraceOptions{CPUSamplePeriod: period})
	if id := again.res.Profiles.ResourceProfiles().At(0).ScopeProfiles().At(0).Profiles().At(0).ProfileID(); id != prof.ProfileID() {
		t.Errorf("profile id %s, then %s", prof.ProfileID(), id)
	}
}

// TestCPUProfileEmptyWithoutSamples: a trace without CPU samples yields no profile.
func TestCPUProfileEmptyWithoutSamples(t *testing.T) {
	out := mustConvert(t, "annotations.trace", TraceOptions{})
	if n := out.res.Profiles.SampleCount(); n != 0 || out.res.Profiles.ResourceProfiles().Len() != 0 {
		t.Errorf("%d samples in %d resources, want none", n, out.res.Profiles.ResourceProfiles().Len())
	}
}

// taskSpanOf follows the parent links from sp (itself included) to the task span above it.
func (out *converted) taskSpanOf(sp ptrace.Span) (ptrace.Span, bool) {
	for {
		if _, ok := sp.Attributes().Get(metadata.AttributeTaskID); ok {
			return sp, true
		}
		parent, ok := out.byID[sp.ParentSpanID()]
		if !ok {
			return ptrace.Span{}, false
		}
		sp = parent
	}
}
