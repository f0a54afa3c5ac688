package stitch

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"golang.org/x/exp/trace"

	"github.com/gostitch/gostitch/internal/linkkeys"
	"github.com/gostitch/gostitch/receiver/internal/metadata"
	"github.com/gostitch/gostitch/receiver/internal/tracesrc"
)

// modelCounts reads a trace with tracesrc alone and counts what should become spans.
type modelCounts struct {
	tasks, regions, episodes, stws, wrappers int
	tracesrc.Handler
}

func (m *modelCounts) Begin(*tracesrc.Timeline) {}
func (m *modelCounts) Task(t *tracesrc.Task) {
	m.episodes += len(t.Episodes)
	if wrapper(t) {
		m.wrappers++
		return
	}
	m.tasks++
	m.regions += len(t.Regions)
}
func (m *modelCounts) STW(tracesrc.STW)   { m.stws++ }
func (m *modelCounts) Wait(tracesrc.Wait) {}

var spanFixtures = []string{"annotations.trace", "annotations-stress.trace", "gc-stress.trace", "blocksync.trace", "syncnode.trace", "flight.trace"}

// TestConvertSpans checks, per fixture, that every task, region, long episode and
// stop-the-world phase becomes one span, that the span tree is whole and that every task span's
// time breakdown covers its duration.
func TestConvertSpans(t *testing.T) {
	const minSpan = 100 * time.Microsecond
	for _, name := range spanFixtures {
		t.Run(name, func(t *testing.T) {
			out := mustConvert(t, name, TraceOptions{MinSpanDuration: minSpan})
			var m modelCounts
			if _, err := tracesrc.Read(bytes.NewReader(traceFixture(t, name)), tracesrc.Options{MinSpanDuration: minSpan}, &m); err != nil {
				t.Fatal(err)
			}
			want := m.tasks + m.regions + m.episodes + m.stws
			if m.stws > 0 {
				want++ // the runtime trace's root
			}
			if len(out.spans) != want || out.res.Stats.Spans != want {
				t.Errorf("%d spans (%d reported), want %d = %d tasks + %d regions + %d episodes + %d stop-the-world (+ root)",
					len(out.spans), out.res.Stats.Spans, want, m.tasks, m.regions, m.episodes, m.stws)
			}
			if n := len(out.taskSpans()); n != m.tasks {
				t.Errorf("%d task spans, want %d", n, m.tasks)
			}
			for _, sp := range out.spans {
				checkSpan(t, out, sp)
			}
			for _, sp := range out.taskSpans() {
				checkBreakdown(t, sp)
			}
		})
	}
}

// checkSpan: source attribute, sane times, and a parent in the output with the same trace,
// unless it is a task span whose parent is the application's span.
func checkSpan(t *testing.T, out *converted, sp ptrace.Span) {
	t.Helper()
	if v, _ := sp.Attributes().Get(metadata.AttributeSource); v.Str() != metadata.AttributeSourceGoTrace {
		t.Errorf("span %q without %s", sp.Name(), metadata.AttributeSource)
	}
	if sp.Name() == "" || sp.TraceID().IsEmpty() || sp.EndTimestamp() < sp.StartTimestamp() || sp.StartTimestamp() == 0 {
		t.Errorf("bad span %q [%d, %d] trace %s", sp.Name(), sp.StartTimestamp(), sp.EndTimestamp(), sp.TraceID())
	}
	if sp.ParentSpanID().IsEmpty() {
		return
	}
	parent, ok := out.byID[sp.ParentSpanID()]
	switch {
	case !ok && !hasEvent(sp, linkkeys.SpanID):
		t.Errorf("span %q: parent %s missing", sp.Name(), sp.ParentSpanID())
	case ok && parent.TraceID() != sp.TraceID():
		t.Errorf("span %q in trace %s, its parent %q in %s", sp.Name(), sp.TraceID(), parent.Name(), parent.TraceID())
	case ok && (sp.StartTimestamp() < parent.StartTimestamp() || sp.EndTimestamp() > parent.EndTimestamp()) && !isTask(sp):
		t.Errorf("span %q [%d, %d] outside its parent %q [%d, %d]", sp.Name(), sp.StartTimestamp(), sp.EndTimestamp(),
			parent.Name(), parent.StartTimestamp(), parent.EndTimestamp())
	}
}

func isTask(sp ptrace.Span) bool {
	_, ok := sp.Attributes().Get(metadata.AttributeTaskID)
	return ok
}

func hasEvent(sp ptrace.Span, name string) bool {
	for i := range sp.Events().Len() {
		if sp.Events().At(i).Name() == name {
			return true
		}
	}
	return false
}

// checkBreakdown: the gostitch.time.* attributes of a task span add up to its duration (±1%).
func checkBreakdown(t *testing.T, sp ptrace.Span) {
	t.Helper()
	var sum int64
	for k, v := range sp.Attributes().All() {
		if strings.HasPrefix(k, "gostitch.time.") {
			sum += v.Int()
		}
	}
	if d := int64(spanDuration(sp)); sum < d*99/100 || sum > d*101/100 {
		t.Errorf("task %q: breakdown sums to %d ns, duration %d ns", sp.Name(), sum, d)
	}
}

// TestConvertDeterministic: two reads of the same bytes give identical spans and metrics.
func TestConvertDeterministic(t *testing.T) {
	for _, name := range []string{"blocksync.trace", "flight.trace", "window1.trace", "syncnode.trace"} {
		a := mustConvert(t, name, TraceOptions{MinSpanDuration: 50 * time.Microsecond})
		b := mustConvert(t, name, TraceOptions{MinSpanDuration: 50 * time.Microsecond})
		if !bytes.Equal(marshalTraces(t, a.batches), marshalTraces(t, b.batches)) {
			t.Errorf("%s: two reads give different spans", name)
		}
		var m pmetric.ProtoMarshaler
		ma, _ := m.MarshalMetrics(a.res.Metrics)
		mb, _ := m.MarshalMetrics(b.res.Metrics)
		if !bytes.Equal(ma, mb) {
			t.Errorf("%s: two reads give different metrics", name)
		}
	}
}

func marshalTraces(t *testing.T, batches []ptrace.Traces) []byte {
	var m ptrace.ProtoMarshaler
	var all []byte
	for _, td := range batches {
		b, err := m.MarshalTraces(td)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, b...)
	}
	return all
}

// TestConvertAppIDs: a root task's logged otel.trace_id and otel.span_id give its trace and
// parent; its child tasks share the trace and hang from the region they began in.
func TestConvertAppIDs(t *testing.T) {
	for _, name := range []string{"blocksync.trace", "syncnode.trace"} {
		out := mustConvert(t, name, TraceOptions{MinSpanDuration: time.Millisecond})
		honored, children := 0, 0
		for _, sp := range out.taskSpans() {
			tid, sid := eventMessage(sp, linkkeys.TraceID), eventMessage(sp, linkkeys.SpanID)
			if tid != "" {
				honored++
				if got := sp.TraceID().String(); got != tid || sp.ParentSpanID().String() != sid {
					t.Errorf("%s: task %q logged %s/%s, got trace %s parent %s", name, sp.Name(), tid, sid, got, sp.ParentSpanID())
				}
			}
			if parent, ok := out.byID[sp.ParentSpanID()]; ok {
				children++
				if parent.TraceID() != sp.TraceID() {
					t.Errorf("%s: child task %q not in its parent's trace", name, sp.Name())
				}
				if name == "blocksync.trace" && parent.Name() != "verify" {
					t.Errorf("%s: child task %q hangs from %q, want the verify region", name, sp.Name(), parent.Name())
				}
			}
		}
		if honored == 0 {
			t.Errorf("%s: no task logged otel ids", name)
		}
		if name == "blocksync.trace" && children == 0 {
			t.Errorf("%s: no child tasks", name)
		}
	}
}

// eventMessage is the message of a task span's first log event named category.
func eventMessage(sp ptrace.Span, category string) string {
	for i := range sp.Events().Len() {
		if ev := sp.Events().At(i); ev.Name() == category {
			v, _ := ev.Attributes().Get(metadata.AttributeLogMessage)
			return v.Str()
		}
	}
	return ""
}

// TestConvertDerivedIDs: without logged ids a root task's trace id derives from the process,
// the task id and its start, so it differs per process and task.
func TestConvertDerivedIDs(t *testing.T) {
	data := traceFixture(t, "annotations.trace")
	a, err := convert(t, NewTraceConverter(testIdentity, TraceOptions{}), data)
	if err != nil {
		t.Fatal(err)
	}
	other := testIdentity
	other.PID++
	b, err := convert(t, NewTraceConverter(other, TraceOptions{}), data)
	if err != nil {
		t.Fatal(err)
	}
	ta, tb := a.taskSpans()[0], b.taskSpans()[0]
	if ta.TraceID() == tb.TraceID() || ta.SpanID() == tb.SpanID() {
		t.Error("two processes share ids")
	}
	if !ta.ParentSpanID().IsEmpty() {
		t.Errorf("root task without logged ids has parent %s", ta.ParentSpanID())
	}
}

// TestConvertWindows converts two back-to-back windows with one converter: the tasks that
// span both keep their type, trace and parent, and the task duration counts from the real start.
func TestConvertWindows(t *testing.T) {
	c := NewTraceConverter(testIdentity, TraceOptions{})
	w1, err := convert(t, c, traceFixture(t, "window1.trace"))
	if err != nil {
		t.Fatal(err)
	}
	w2, err := convert(t, c, traceFixture(t, "window2.trace"))
	if err != nil {
		t.Fatal(err)
	}
	first, second := w1.byName(), w2.byName()
	for _, name := range []string{"longImport", "verifyTx"} {
		a, b := first[name], second[name]
		if a == (ptrace.Span{}) || b == (ptrace.Span{}) {
			t.Fatalf("%s missing from a window", name)
		}
		if !boolAttr(a, metadata.AttributeTruncated) || boolAttr(a, metadata.AttributeTruncatedStart) ||
			!boolAttr(b, metadata.AttributeTruncatedStart) || boolAttr(b, metadata.AttributeTruncated) {
			t.Errorf("%s: truncation marks wrong", name)
		}
		if a.TraceID() != b.TraceID() || a.SpanID() == b.SpanID() {
			t.Errorf("%s: window spans %s/%s and %s/%s", name, a.TraceID(), a.SpanID(), b.TraceID(), b.SpanID())
		}
	}
	if got := second["longImport"].TraceID().String(); got != "0af7651916cd43dd8448eb211c80319c" {
		t.Errorf("longImport continues in trace %s, want the one logged in window 1", got)
	}
	if second["longImport"].ParentSpanID().String() != "b7ad6b7169203331" {
		t.Errorf("longImport continuation parent %s", second["longImport"].ParentSpanID())
	}
	if second["verifyTx"].ParentSpanID() != second["longImport"].SpanID() {
		t.Error("verifyTx continuation does not hang from longImport's")
	}
	long := histogramPoint(t, w2.res.Metrics, metadata.MetricGostitchTaskDuration.Name, "longImport")
	if long.Count() != 1 || time.Duration(long.Max()*1e9) <= spanDuration(second["longImport"]) {
		t.Errorf("longImport duration %v s not counted from its start in window 1", long.Max())
	}
	alone := mustConvert(t, "window2.trace", TraceOptions{})
	if _, ok := alone.byName()[unknownTaskName]; !ok {
		t.Error("without window 1, continued tasks should be unknown")
	}
}

// byName indexes the spans by name (the last of a name wins).
func (out *converted) byName() map[string]ptrace.Span {
	m := map[string]ptrace.Span{}
	for _, sp := range out.spans {
		m[sp.Name()] = sp
	}
	return m
}

// TestConvertMetrics checks the four histograms and that exemplars point at emitted spans.
func TestConvertMetrics(t *testing.T) {
	out := mustConvert(t, "blocksync.trace", TraceOptions{MinSpanDuration: 50 * time.Microsecond})
	ms := out.res.Metrics.ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics()
	seen, exemplars := map[string]int{}, map[string]int{}
	for i := range ms.Len() {
		m := ms.At(i)
		if m.Type() != pmetric.MetricTypeHistogram || m.Histogram().AggregationTemporality() != pmetric.AggregationTemporalityDelta {
			t.Errorf("%s: not a delta histogram", m.Name())
			continue
		}
		dps := m.Histogram().DataPoints()
		for j := range dps.Len() {
			dp := dps.At(j)
			seen[m.Name()]++
			var n uint64
			for _, c := range dp.BucketCounts().AsRaw() {
				n += c
			}
			if n != dp.Count() || dp.BucketCounts().Len() != dp.ExplicitBounds().Len()+1 || dp.Min() > dp.Max() {
				t.Errorf("%s: inconsistent point (count %d, buckets sum %d)", m.Name(), dp.Count(), n)
			}
			for k := range dp.Exemplars().Len() {
				ex := dp.Exemplars().At(k)
				sp, ok := out.byID[ex.SpanID()]
				if !ok || sp.TraceID() != ex.TraceID() {
					t.Errorf("%s: exemplar %s/%s points at no emitted span", m.Name(), ex.TraceID(), ex.SpanID())
				}
			}
			exemplars[m.Name()] += dp.Exemplars().Len()
		}
	}
	for _, info := range []metadata.MetricInfo{metadata.MetricGoScheduleDuration, metadata.MetricGoMemoryGCPauseDuration,
		metadata.MetricGostitchGoroutineBlockDuration, metadata.MetricGostitchTaskDuration} {
		if seen[info.Name] == 0 || exemplars[info.Name] == 0 {
			t.Errorf("%s: %d points, %d exemplars", info.Name, seen[info.Name], exemplars[info.Name])
		}
	}
	tasks := histogramPoint(t, out.res.Metrics, metadata.MetricGostitchTaskDuration.Name, "importBlock")
	ended := 0
	for _, sp := range out.taskSpans() {
		if sp.Name() == "importBlock" && !boolAttr(sp, metadata.AttributeTruncated) && !boolAttr(sp, metadata.AttributeTruncatedStart) {
			ended++
		}
	}
	if int(tasks.Count()) != ended {
		t.Errorf("task duration counts %d importBlock tasks, %d complete spans", tasks.Count(), ended)
	}
}

// histogramPoint finds the data point of a histogram for one attribute value.
func histogramPoint(t *testing.T, md pmetric.Metrics, name, value string) pmetric.HistogramDataPoint {
	t.Helper()
	ms := md.ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics()
	for i := range ms.Len() {
		if ms.At(i).Name() != name {
			continue
		}
		dps := ms.At(i).Histogram().DataPoints()
		for j := range dps.Len() {
			for _, v := range dps.At(j).Attributes().All() {
				if v.Str() == value {
					return dps.At(j)
				}
			}
		}
	}
	t.Fatalf("%s{%s} missing", name, value)
	return pmetric.HistogramDataPoint{}
}

// TestConvertBatches: spans are handed over in batches that keep a task together; a refused
// batch does not stop the rest, and the refusal is counted and kept apart from read errors.
func TestConvertBatches(t *testing.T) {
	whole := mustConvert(t, "blocksync.trace", TraceOptions{})
	small := mustConvert(t, "blocksync.trace", TraceOptions{BatchSpans: 50})
	if len(small.spans) != len(whole.spans) || len(small.batches) < 2 || len(whole.batches) != 1 {
		t.Errorf("%d spans in %d batches vs %d in %d", len(small.spans), len(small.batches), len(whole.spans), len(whole.batches))
	}
	calls := 0
	boom := errors.New("consumer refused")
	res, err := NewTraceConverter(testIdentity, TraceOptions{BatchSpans: 50}).ConvertWindow(
		Window{Trace: bytes.NewReader(traceFixture(t, "blocksync.trace"))},
		func(_ string, td ptrace.Traces) error {
			calls++
			if calls%2 == 1 {
				return boom
			}
			return nil
		})
	if err != nil || !errors.Is(res.EmitErr, boom) || calls != len(small.batches) {
		t.Errorf("read error %v, emit error %v after %d emits; want none, %v after %d", err, res.EmitErr, calls, boom, len(small.batches))
	}
	if st := res.Stats; st.Spans+st.Refused != len(small.spans) || st.Refused == 0 || st.Spans == 0 {
		t.Errorf("%d spans taken + %d refused, want %d in all, some of each", st.Spans, st.Refused, len(small.spans))
	}
}

// TestConvertTruncated: a trace cut short yields the spans read, marked truncated, and the error.
func TestConvertTruncated(t *testing.T) {
	data := traceFixture(t, "syncnode.trace")
	out, err := convert(t, NewTraceConverter(testIdentity, TraceOptions{}), data[:len(data)*95/100])
	if err == nil || !strings.Contains(err.Error(), "cut short") {
		t.Fatalf("error %v, want a cut-short error", err)
	}
	truncated := 0
	for _, sp := range out.taskSpans() {
		if boolAttr(sp, metadata.AttributeTruncated) {
			truncated++
		}
	}
	if len(out.spans) == 0 || truncated == 0 || out.res.Metrics.MetricCount() == 0 {
		t.Errorf("%d spans, %d truncated tasks, %d metrics", len(out.spans), truncated, out.res.Metrics.MetricCount())
	}
}

// TestConvertEpisodes: long blocks become "block <reason>" spans with the relevant frame.
func TestConvertEpisodes(t *testing.T) {
	out := mustConvert(t, "blocksync.trace", TraceOptions{MinSpanDuration: 20 * time.Microsecond, StackDepth: 4})
	blocks := 0
	for _, sp := range out.spans {
		if !strings.HasPrefix(sp.Name(), blockSpanPrefix) && !isSyscallSpan(sp.Name()) {
			continue
		}
		if spanDuration(sp) < 20*time.Microsecond && !boolAttr(sp, metadata.AttributeTruncated) {
			t.Errorf("%q shorter than the minimum: %v", sp.Name(), spanDuration(sp))
		}
		fn, _ := sp.Attributes().Get(metadata.AttributeCodeFunctionName)
		st, _ := sp.Attributes().Get(metadata.AttributeCodeStacktrace)
		frames := strings.Split(st.Str(), "\n")
		outside := slices.ContainsFunc(frames, func(f string) bool { return !strings.HasPrefix(f, "runtime.") })
		if fn.Str() == "" || outside && strings.HasPrefix(fn.Str(), "runtime.") || len(frames) > 4 {
			t.Errorf("%q: function %q, frames %q", sp.Name(), fn.Str(), frames)
		}
		if strings.HasPrefix(sp.Name(), blockSpanPrefix) {
			blocks++
			reason, _ := sp.Attributes().Get(metadata.AttributeBlockReason)
			if sp.Name() != blockSpanPrefix+reason.Str() {
				t.Errorf("span %q with reason %q", sp.Name(), reason.Str())
			}
		}
	}
	if blocks == 0 {
		t.Error("no block spans")
	}
}

// TestConvertSTW: stop-the-world phases are spans of the runtime trace, linked from the tasks
// they overlapped.
func TestConvertSTW(t *testing.T) {
	out := mustConvert(t, "syncnode.trace", TraceOptions{})
	var root ptrace.Span
	stws := map[pcommon.SpanID]bool{}
	for _, sp := range out.spans {
		switch sp.Name() {
		case runtimeSpanName:
			root = sp
		case gcSTWSpanName, stwSpanName:
			stws[sp.SpanID()] = true
		}
	}
	if root == (ptrace.Span{}) || len(stws) == 0 {
		t.Fatalf("runtime root %v, %d stop-the-world spans", root != (ptrace.Span{}), len(stws))
	}
	links := 0
	for _, sp := range out.taskSpans() {
		for i := range sp.Links().Len() {
			l := sp.Links().At(i)
			if !stws[l.SpanID()] || l.TraceID() != root.TraceID() {
				t.Errorf("task %q links to %s/%s, not a stop-the-world span", sp.Name(), l.TraceID(), l.SpanID())
			}
			links++
		}
		if sp.Links().Len() > 0 && intAttr(sp, metadata.AttributeTimeSTW) == 0 && !hasEvent(sp, gcSTWSpanName) {
			t.Errorf("task %q links a stop-the-world phase without an event", sp.Name())
		}
	}
	if links == 0 {
		t.Error("no task overlapped a stop-the-world phase")
	}
}

func TestLoggedIDs(t *testing.T) {
	tp := "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	for i, tc := range []struct {
		logs       []tracesrc.Log
		trace, par string
	}{
		{[]tracesrc.Log{{Category: linkkeys.Traceparent, Message: tp}}, "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"},
		{[]tracesrc.Log{{Category: linkkeys.Traceparent, Message: tp}, {Category: linkkeys.SpanID, Message: "1111111111111111"}}, "4bf92f3577b34da6a3ce929d0e0e4736", "1111111111111111"},
		{[]tracesrc.Log{{Category: linkkeys.TraceID, Message: "not hex"}}, "", ""},
		{[]tracesrc.Log{{Category: linkkeys.Traceparent, Message: "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}}, "", ""},
		{[]tracesrc.Log{{Category: linkkeys.SpanID, Message: "1111111111111111"}}, "", ""},
	} {
		tid, sid, ok := loggedIDs(tc.logs)
		got := fmt.Sprintf("%v %s %s", ok, hexOrEmpty(tid[:]), hexOrEmpty(sid[:]))
		if want := fmt.Sprintf("%v %s %s", tc.trace != "", tc.trace, tc.par); got != want && (tc.trace != "" || ok) {
			t.Errorf("case %d: %s, want %s", i, got, want)
		}
	}
}

func hexOrEmpty(b []byte) string {
	if bytes.Equal(b, make([]byte, len(b))) {
		return ""
	}
	return fmt.Sprintf("%x", b)
}

func TestBlockedKey(t *testing.T) {
	w := &spanWriter{blockedKeys: map[string]string{}}
	for reason, want := range map[string]string{
		"chan receive":                 "gostitch.time.blocked.chan_receive",
		"sync.(*Cond).Wait":            "gostitch.time.blocked.sync_cond_wait",
		"GC mark assist wait for work": "gostitch.time.blocked.gc_mark_assist_wait_for_work",
		"unknown":                      "gostitch.time.blocked.unknown",
		"(*)":                          "gostitch.time.blocked.unknown",
	} {
		if got := w.blockedKey(reason); got != want {
			t.Errorf("blockedKey(%q) = %q, want %q", reason, got, want)
		}
	}
}

func TestRelevantFunction(t *testing.T) {
	stack := []trace.StackFrame{{Func: "runtime.chanrecv1", File: "chan.go", Line: 1}, {Func: "main.importer", File: "main.go", Line: 42}}
	if got := relevantFunction(stack); got != "main.importer" {
		t.Errorf("relevantFunction = %q", got)
	}
	if got := stacktrace(stack); got != "runtime.chanrecv1 chan.go:1\nmain.importer main.go:42" {
		t.Errorf("stacktrace = %q", got)
	}
}

// TestConvertCPUTime: CPU profile samples in the trace become the task spans' CPU time.
func TestConvertCPUTime(t *testing.T) {
	out := mustConvert(t, "blocksync.trace", TraceOptions{CPUSamplePeriod: 5 * time.Millisecond})
	with := 0
	for _, sp := range out.taskSpans() {
		if v, ok := sp.Attributes().Get(metadata.AttributeCPUTime); ok {
			with++
			if v.Int() <= 0 || v.Int()%int64(5*time.Millisecond) != 0 {
				t.Errorf("task %q: cpu time %d ns", sp.Name(), v.Int())
			}
		}
	}
	if with == 0 {
		t.Error("no task span with CPU time")
	}
}

// TestConvertIdleCarriedTasks: tasks carried into traces that show no sign of them (their end
// fell between two windows, say) make no spans there, and are forgotten after maxIdleTraces.
func TestConvertIdleCarriedTasks(t *testing.T) {
	c := NewTraceConverter(testIdentity, TraceOptions{})
	if _, err := convert(t, c, traceFixture(t, "window1.trace")); err != nil {
		t.Fatal(err)
	}
	if len(c.carry) == 0 {
		t.Fatal("window 1 carries no task")
	}
	quiet := traceFixture(t, "gc-stress.trace") // a trace without tasks
	for i := 1; i <= maxIdleTraces+1; i++ {
		out, err := convert(t, c, quiet)
		if err != nil {
			t.Fatal(err)
		}
		if n := len(out.taskSpans()); n != 0 {
			t.Errorf("idle window %d: %d task spans, want none", i, n)
		}
		if want := 2; i <= maxIdleTraces && len(c.carry) != want {
			t.Errorf("idle window %d: %d tasks carried, want %d", i, len(c.carry), want)
		}
	}
	if len(c.carry) != 0 {
		t.Errorf("%d tasks still carried after %d idle windows", len(c.carry), maxIdleTraces+1)
	}
}

// TestConvertFoldsWrapperTasks: in a trace of an app using the OTel SDK (which begins a task per
// span, around the app's own task of the same name), each block is one importBlock task span,
// directly under the app's span.
func TestConvertFoldsWrapperTasks(t *testing.T) {
	out := mustConvert(t, "syncnode.trace", TraceOptions{})
	var m modelCounts
	if _, err := tracesrc.Read(bytes.NewReader(traceFixture(t, "syncnode.trace")), tracesrc.Options{}, &m); err != nil {
		t.Fatal(err)
	}
	if m.wrappers == 0 {
		t.Fatal("the OTel syncnode trace has no wrapper task")
	}
	blocks := 0
	for _, sp := range out.taskSpans() {
		if sp.Name() != "importBlock" {
			continue
		}
		blocks++
		if parent, ok := out.byID[sp.ParentSpanID()]; ok && parent.Name() == "importBlock" {
			t.Errorf("importBlock task %d under another importBlock span", intAttr(sp, metadata.AttributeTaskID))
		}
		if sp.ParentSpanID().IsEmpty() {
			t.Errorf("importBlock task %d is not under the app's span", intAttr(sp, metadata.AttributeTaskID))
		}
	}
	if blocks == 0 || blocks != m.wrappers {
		t.Errorf("%d importBlock task spans, %d wrappers: want one span per block", blocks, m.wrappers)
	}
}
