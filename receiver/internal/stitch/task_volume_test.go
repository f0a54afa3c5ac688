package stitch

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/gostitch/gostitch/receiver/internal/metadata"
)

// volumeTraces are real traces with many tasks: the tracesrc fixtures, the repository's
// blocksync trace and the one-second scrape of examples/otelapp under load (an OTel service
// whose SDK begins a task for every span).
var volumeTraces = []string{"blocksync.trace", "syncnode.trace", "annotations-stress.trace", "window1.trace",
	"window2.trace", "flight.trace", "../../../../testdata/trace/blocksync.trace", "../../../../testdata/bench/otelapp.trace"}

// TestNotableTaskSpans: NotableTaskSpans leaves out the spans of the tasks that say nothing;
// what it keeps is what AllTaskSpans makes, each span hangs from its nearest ancestor that was
// kept (never from a span that was not emitted), and the metrics count every task as before.
func TestNotableTaskSpans(t *testing.T) {
	for _, name := range volumeTraces {
		t.Run(name, func(t *testing.T) {
			opts := TraceOptions{MinSpanDuration: time.Millisecond}
			all := mustConvert(t, name, opts)
			opts.TaskSpans = NotableTaskSpans
			notable := mustConvert(t, name, opts)
			t.Logf("%d spans (%d task spans) with all, %d (%d) with notable", len(all.spans), len(all.taskSpans()),
				len(notable.spans), len(notable.taskSpans()))
			if name == "blocksync.trace" && len(notable.spans)*3 > len(all.spans) {
				t.Errorf("notable keeps %d of %d spans, want under a third", len(notable.spans), len(all.spans))
			}
			checkNotableSpans(t, all, notable)
			if !reflect.DeepEqual(histograms(all.res.Metrics), histograms(notable.res.Metrics)) {
				t.Errorf("metrics differ:\nall     %v\nnotable %v", histograms(all.res.Metrics), histograms(notable.res.Metrics))
			}
			checkLinksEmitted(t, notable, all)
		})
	}
}

// checkNotableSpans checks notable's spans against all's: each is one of all's (same trace,
// name, times, attributes), its parent is the nearest of its ancestors in all that notable
// kept, and every blocking or syscall span and the task spans above it are kept.
func checkNotableSpans(t *testing.T, all, notable *converted) {
	t.Helper()
	for _, sp := range notable.spans {
		ref, ok := all.byID[sp.SpanID()]
		if !ok {
			t.Errorf("span %q %s is not one of all's", sp.Name(), sp.SpanID())
			continue
		}
		if ref.TraceID() != sp.TraceID() || ref.Name() != sp.Name() || ref.StartTimestamp() != sp.StartTimestamp() ||
			ref.EndTimestamp() != sp.EndTimestamp() || !reflect.DeepEqual(ref.Attributes().AsRaw(), sp.Attributes().AsRaw()) {
			t.Errorf("span %q %s differs from all's", sp.Name(), sp.SpanID())
		}
		// The nearest ancestor in all's tree that notable kept, or all's parent outside the
		// trace's spans (the app's span) when none was kept.
		want := ref.ParentSpanID()
		for {
			if _, kept := notable.byID[want]; kept || want.IsEmpty() {
				break
			}
			up, ok := all.byID[want]
			if !ok {
				break
			}
			want = up.ParentSpanID()
		}
		if got := sp.ParentSpanID(); got != want {
			t.Errorf("span %q %s hangs from %s, want %s", sp.Name(), sp.SpanID(), got, want)
		}
		if _, ok := all.byID[sp.ParentSpanID()]; ok {
			if _, kept := notable.byID[sp.ParentSpanID()]; !kept {
				t.Errorf("span %q %s hangs from span %s, not emitted", sp.Name(), sp.SpanID(), sp.ParentSpanID())
			}
		}
	}
	for _, sp := range all.spans {
		if !isSyscallSpan(sp.Name()) && !strings.HasPrefix(sp.Name(), blockSpanPrefix) {
			continue
		}
		for id := sp.SpanID(); !id.IsEmpty(); {
			up, ok := all.byID[id]
			if !ok {
				break
			}
			if _, kept := notable.byID[id]; !kept && (up.SpanID() == sp.SpanID() || isTask(up)) {
				t.Errorf("%q %s (or its task span %q) left out", sp.Name(), sp.SpanID(), up.Name())
			}
			if isTask(up) {
				break
			}
			id = up.ParentSpanID()
		}
	}
}

// checkLinksEmitted checks that the exemplars and the profile's links of out name emitted
// spans, or the app's span (not gostitch's) that a span of all hangs from: the span a task that
// logged its OTel ids hangs from.
func checkLinksEmitted(t *testing.T, out, all *converted) {
	t.Helper()
	parents := map[pcommon.SpanID]pcommon.TraceID{}
	for _, sp := range all.spans {
		if _, ours := all.byID[sp.ParentSpanID()]; !ours {
			parents[sp.ParentSpanID()] = sp.TraceID()
		}
	}
	emitted := func(tid pcommon.TraceID, sid pcommon.SpanID) bool {
		sp, ok := out.byID[sid]
		return ok && sp.TraceID() == tid || !ok && parents[sid] == tid && !sid.IsEmpty()
	}
	ms := out.res.Metrics.ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics()
	for i := range ms.Len() {
		dps := ms.At(i).Histogram().DataPoints()
		for j := range dps.Len() {
			for k := range dps.At(j).Exemplars().Len() {
				if ex := dps.At(j).Exemplars().At(k); !emitted(ex.TraceID(), ex.SpanID()) {
					t.Errorf("%s: exemplar names span %s, not emitted", ms.At(i).Name(), ex.SpanID())
				}
			}
		}
	}
	pd := out.res.Profiles
	links := pd.Dictionary().LinkTable()
	for r := range pd.ResourceProfiles().Len() {
		prof := pd.ResourceProfiles().At(r).ScopeProfiles().At(0).Profiles().At(0)
		for i := range prof.Samples().Len() {
			if li := prof.Samples().At(i).LinkIndex(); li > 0 && !emitted(links.At(int(li)).TraceID(), links.At(int(li)).SpanID()) {
				t.Errorf("profile sample %d links to span %s, not emitted", i, links.At(int(li)).SpanID())
			}
		}
	}
}

// histograms renders the histograms of md without their exemplars, by metric and attributes.
func histograms(md pmetric.Metrics) map[string][]any {
	out := map[string][]any{}
	ms := md.ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics()
	for i := range ms.Len() {
		dps := ms.At(i).Histogram().DataPoints()
		for j := range dps.Len() {
			dp := dps.At(j)
			key := ms.At(i).Name()
			for k, v := range dp.Attributes().All() {
				key += " " + k + "=" + v.AsString()
			}
			out[key] = []any{dp.Count(), dp.Sum(), dp.Min(), dp.Max(), dp.BucketCounts().AsRaw()}
		}
	}
	return out
}

// TestNotableSlowTasks: in the otelapp trace, a task without a blocking, syscall or GC episode
// keeps its span exactly when it lasted longer than the p95 its type had so far; the running
// p95 makes some of them notable, and far from all.
func TestNotableSlowTasks(t *testing.T) {
	name := "../../../../testdata/bench/otelapp.trace"
	notable := mustConvert(t, name, TraceOptions{MinSpanDuration: time.Millisecond, TaskSpans: NotableTaskSpans})
	all := mustConvert(t, name, TraceOptions{MinSpanDuration: time.Millisecond})
	quiet, slow := 0, 0
	for _, sp := range all.taskSpans() {
		if hasEpisodeChild(all, sp) || intAttr(sp, metadata.AttributeTimeGCAssist) >= int64(time.Millisecond) {
			continue
		}
		if _, kept := notable.byID[sp.SpanID()]; kept {
			slow++
		} else {
			quiet++
		}
	}
	if slow == 0 || quiet < 4*slow {
		t.Errorf("%d tasks without episodes kept as slow, %d left out: want some, under a fifth", slow, quiet)
	}
}

// hasEpisodeChild says whether a task span has a blocking or syscall span below it in its own task.
func hasEpisodeChild(out *converted, task ptrace.Span) bool {
	for _, sp := range out.spans {
		if !isSyscallSpan(sp.Name()) && !strings.HasPrefix(sp.Name(), blockSpanPrefix) {
			continue
		}
		for id := sp.ParentSpanID(); ; {
			up, ok := out.byID[id]
			if !ok {
				break
			}
			if up.SpanID() == task.SpanID() {
				return true
			}
			if isTask(up) {
				break
			}
			id = up.ParentSpanID()
		}
	}
	return false
}

func TestParseTaskSpans(t *testing.T) {
	for in, want := range map[string]TaskSpans{TaskSpansAll: AllTaskSpans, TaskSpansNotable: NotableTaskSpans} {
		if got, err := ParseTaskSpans(in); err != nil || got != want {
			t.Errorf("ParseTaskSpans(%q) = %v, %v", in, got, err)
		}
	}
	if _, err := ParseTaskSpans("some"); err == nil {
		t.Error("ParseTaskSpans(some) gave no error")
	}
}
