package stitch

import (
	"bytes"
	"reflect"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/gostitch/gostitch/receiver/internal/metadata"
)

// goroutineRoots returns the root spans of work outside tasks.
func (out *converted) goroutineRoots() []ptrace.Span {
	var roots []ptrace.Span
	for _, sp := range out.spans {
		if sp.Name() == goroutineSpanName && sp.ParentSpanID().IsEmpty() {
			roots = append(roots, sp)
		}
	}
	return roots
}

// goroutineTree checks the spans of work outside tasks of out: each hangs, in its root's trace,
// from a span of that trace, inside its root's bounds. It returns the spans by trace.
func goroutineTree(t *testing.T, out *converted) map[pcommon.TraceID][]ptrace.Span {
	t.Helper()
	roots := map[pcommon.TraceID]ptrace.Span{}
	for _, r := range out.goroutineRoots() {
		if _, dup := roots[r.TraceID()]; dup {
			t.Errorf("two goroutine roots in trace %s", r.TraceID())
		}
		if intAttr(r, metadata.AttributeGoroutineID) <= 0 {
			t.Errorf("goroutine root %s without gostitch.goroutine.id", r.SpanID())
		}
		roots[r.TraceID()] = r
	}
	trees := map[pcommon.TraceID][]ptrace.Span{}
	for _, sp := range out.spans {
		root, ok := roots[sp.TraceID()]
		if !ok {
			continue
		}
		trees[sp.TraceID()] = append(trees[sp.TraceID()], sp)
		if sp.SpanID() == root.SpanID() {
			continue
		}
		parent, ok := out.byID[sp.ParentSpanID()]
		if !ok || parent.TraceID() != sp.TraceID() {
			t.Errorf("%q %s hangs from %s, not a span of its trace", sp.Name(), sp.SpanID(), sp.ParentSpanID())
		}
		if sp.StartTimestamp() < root.StartTimestamp() || sp.EndTimestamp() > root.EndTimestamp() {
			t.Errorf("%q %s outside its goroutine span", sp.Name(), sp.SpanID())
		}
		if intAttr(sp, metadata.AttributeGoroutineID) != intAttr(root, metadata.AttributeGoroutineID) {
			t.Errorf("%q %s of another goroutine than its root", sp.Name(), sp.SpanID())
		}
	}
	return trees
}

// TestGoroutineSpans: outside.trace's work outside tasks makes one trace per goroutine: the
// regions nested under the goroutine span with the log as its event, the waits as block and
// syscall spans (the pipe read from the trace's start), the CPU samples in the profile linked
// to the region they fell in; what the task makes is the same as without it.
func TestGoroutineSpans(t *testing.T) {
	opts := TraceOptions{MinSpanDuration: time.Millisecond}
	off := mustConvert(t, "outside.trace", opts)
	opts.MaxGoroutineSpans = 100
	on := mustConvert(t, "outside.trace", opts)
	trees := goroutineTree(t, on)
	if len(trees) != 2 {
		t.Fatalf("%d goroutine traces, want the hogger's and the pipe reader's (the channel receiver's wait has no stack nor reason)", len(trees))
	}
	byName := on.byName()
	hogger, inner := byName["cpuHogger"], byName["inner"]
	root, ok := on.byID[hogger.ParentSpanID()]
	if !ok || root.Name() != goroutineSpanName || inner.ParentSpanID() != hogger.SpanID() {
		t.Fatalf("cpuHogger under %q, inner under %s: want goroutine > cpuHogger > inner", root.Name(), inner.ParentSpanID())
	}
	if eventMessage(root, "phase") != "hogging" {
		t.Errorf("goroutine span has no phase=hogging event")
	}
	var pipe, sleep ptrace.Span
	for _, sp := range trees[root.TraceID()] {
		if sp.Name() == blockSpanPrefix+"sleep" {
			sleep = sp
		}
	}
	for _, spans := range trees {
		for _, sp := range spans {
			if isSyscallSpan(sp.Name()) {
				pipe = sp
			}
		}
	}
	if pipe == (ptrace.Span{}) || !boolAttr(pipe, metadata.AttributeTruncated) || spanDuration(pipe) < 200*time.Millisecond ||
		pipe.StartTimestamp() != pcommon.Timestamp(on.res.tl.UnixNano(on.res.tl.Start)) {
		t.Errorf("pipe read %v, want a syscall span from the trace's start lasting past the hog", pipe.Attributes().AsRaw())
	}
	if st, _ := sleep.Attributes().Get(metadata.AttributeCodeStacktrace); !strings.Contains(st.Str(), "main.main") {
		t.Errorf("sleep outside tasks: stack %q, want main.main in it", st.Str())
	}

	// The profile holds every CPU sample of the trace; those of the hog link to "inner", those
	// of a goroutine with a span to a span of its trace that covers them, counted in its
	// gostitch.cpu.time.
	if n := on.res.Profiles.SampleCount(); n == 0 {
		t.Fatal("no profile")
	}
	pd := on.res.Profiles
	prof := pd.ResourceProfiles().At(0).ScopeProfiles().At(0).Profiles().At(0)
	dict := pd.Dictionary()
	values, inInner, cpu := 0, 0, map[pcommon.TraceID]int64{}
	for i := range prof.Samples().Len() {
		s := prof.Samples().At(i)
		values += s.Values().Len()
		if li := s.LinkIndex(); li > 0 {
			link := dict.LinkTable().At(int(li))
			sp, ok := on.byID[link.SpanID()]
			if !ok || sp.TraceID() != link.TraceID() {
				t.Fatalf("sample %d links to %s, not emitted", i, link.SpanID())
			}
			for j := range s.TimestampsUnixNano().Len() {
				if ts := pcommon.Timestamp(s.TimestampsUnixNano().At(j)); ts < sp.StartTimestamp() || ts > sp.EndTimestamp() {
					t.Errorf("sample %d at %d outside its span %q", i, ts, sp.Name())
				}
			}
			if link.SpanID() == inner.SpanID() {
				inInner += s.Values().Len()
			}
			cpu[link.TraceID()] += int64(s.Values().Len()) * int64(DefaultCPUSamplePeriod)
		}
		if s.AttributeIndices().Len() != 1 {
			t.Errorf("sample %d: %d attributes, want its goroutine", i, s.AttributeIndices().Len())
			continue
		}
		kv := dict.AttributeTable().At(int(s.AttributeIndices().At(0)))
		if dict.StringTable().At(int(kv.KeyStrindex())) != metadata.AttributeGoroutineID || kv.Value().Int() <= 0 {
			t.Errorf("sample %d: attribute %s=%v", i, dict.StringTable().At(int(kv.KeyStrindex())), kv.Value().AsRaw())
		}
	}
	for _, r := range on.goroutineRoots() {
		if got := intAttr(r, metadata.AttributeCPUTime); got != cpu[r.TraceID()] {
			t.Errorf("goroutine %d: %s %d, its trace's samples %d", intAttr(r, metadata.AttributeGoroutineID),
				metadata.AttributeCPUTime, got, cpu[r.TraceID()])
		}
	}
	if values != on.res.tl.CPUSamples || inInner < 5 || on.res.Stats.TaskCPUSamples != off.res.Stats.TaskCPUSamples {
		t.Errorf("%d samples in the profile of %d, %d in inner, %d in tasks (%d without goroutine spans)", values,
			on.res.tl.CPUSamples, inInner, on.res.Stats.TaskCPUSamples, off.res.Stats.TaskCPUSamples)
	}

	// The task's spans are those made without goroutine spans.
	for _, sp := range off.spans {
		got, ok := on.byID[sp.SpanID()]
		if !ok || got.ParentSpanID() != sp.ParentSpanID() || got.Name() != sp.Name() || got.StartTimestamp() != sp.StartTimestamp() ||
			got.EndTimestamp() != sp.EndTimestamp() || !reflect.DeepEqual(got.Attributes().AsRaw(), sp.Attributes().AsRaw()) {
			t.Errorf("span %q %s differs with goroutine spans on", sp.Name(), sp.SpanID())
		}
	}
	if on.res.Stats.GoroutineCut != 0 {
		t.Errorf("%d cut with room for 100", on.res.Stats.GoroutineCut)
	}

	again := mustConvert(t, "outside.trace", opts)
	if !bytes.Equal(marshalTraces(t, on.batches), marshalTraces(t, again.batches)) {
		t.Error("two reads give different spans")
	}
}

// TestGoroutineSpansGoTestprogs: the Go team's own programs. wait-on-pipe's goroutine blocked
// in read(2) on a pipe makes a syscall span of over 100ms in its own goroutine trace;
// annotations' region opened with context.Background() after its task is a region span under
// goroutine 1's span, cut at the trace's end, while the task's regions stay in the task.
func TestGoroutineSpansGoTestprogs(t *testing.T) {
	opts := TraceOptions{MinSpanDuration: time.Millisecond, MaxGoroutineSpans: 100}
	pipe := mustConvert(t, "wait-on-pipe.trace", opts)
	found := false
	for _, spans := range goroutineTree(t, pipe) {
		for _, sp := range spans {
			found = found || isSyscallSpan(sp.Name()) && spanDuration(sp) > 100*time.Millisecond
		}
	}
	if !found {
		t.Error("wait-on-pipe.trace: no syscall span of over 100ms outside tasks")
	}

	ann := mustConvert(t, "annotations.trace", opts)
	goroutineTree(t, ann)
	r, ok := ann.byName()["post-existing region"]
	if !ok {
		t.Fatal("annotations.trace: no post-existing region span")
	}
	if root := ann.byID[r.ParentSpanID()]; root.Name() != goroutineSpanName || intAttr(root, metadata.AttributeGoroutineID) != 1 ||
		!boolAttr(r, metadata.AttributeTruncated) {
		t.Errorf("post-existing region under %q of goroutine %d, truncated %v", root.Name(), intAttr(root, metadata.AttributeGoroutineID),
			boolAttr(r, metadata.AttributeTruncated))
	}
	if task := ann.byName()["task0"]; ann.byName()["region0"].TraceID() != task.TraceID() {
		t.Error("task0's regions left its trace")
	}
}

// TestGoroutineSpansBound: a bound smaller than outside.trace needs keeps that many spans of
// work outside tasks, counts the rest, and leaves no span hanging from one that was cut.
func TestGoroutineSpansBound(t *testing.T) {
	full := mustConvert(t, "outside.trace", TraceOptions{MinSpanDuration: time.Millisecond, MaxGoroutineSpans: 100})
	need := 0
	for _, spans := range goroutineTree(t, full) {
		need += len(spans)
	}
	for _, bound := range []int{1, 2, need / 2, need - 1} {
		out := mustConvert(t, "outside.trace", TraceOptions{MinSpanDuration: time.Millisecond, MaxGoroutineSpans: bound})
		n := 0
		for _, spans := range goroutineTree(t, out) {
			n += len(spans)
		}
		if n > bound || out.res.Stats.GoroutineCut == 0 {
			t.Errorf("bound %d: %d spans, %d cut", bound, n, out.res.Stats.GoroutineCut)
		}
	}
}
