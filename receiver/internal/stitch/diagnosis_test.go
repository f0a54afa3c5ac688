package stitch

import (
	"bytes"
	"context"
	"fmt"
	"runtime"
	rtrace "runtime/trace"
	"slices"
	"strings"
	"testing"
	"time"
	"unsafe"

	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/gostitch/gostitch/receiver/internal/metadata"
)

// diagnoses returns the gostitch.diagnosis summary of each task span ("" for none), checking
// that exactly the spans slower than the p95 of their type have one.
func diagnoses(t *testing.T, out *converted) map[ptrace.Span]string {
	t.Helper()
	tasks := out.taskSpans()
	byType := map[string][]time.Duration{}
	for _, sp := range tasks {
		byType[sp.Name()] = append(byType[sp.Name()], spanDuration(sp))
	}
	got := map[ptrace.Span]string{}
	for _, sp := range tasks {
		ds := slices.Sorted(slices.Values(byType[sp.Name()]))
		p95 := ds[(len(ds)*95+99)/100-1]
		n := 0
		for i := range sp.Events().Len() {
			if ev := sp.Events().At(i); ev.Name() == eventDiagnosis {
				n++
				s, _ := ev.Attributes().Get(metadata.AttributeDiagnosisSummary)
				th, _ := ev.Attributes().Get(metadata.AttributeDiagnosisThreshold)
				got[sp] = s.Str()
				if time.Duration(th.Int()) != p95 || s.Str() == "" {
					t.Errorf("%s: diagnosis %q with threshold %v, p95 %v", sp.Name(), s.Str(), time.Duration(th.Int()), p95)
				}
			}
		}
		if want := spanDuration(sp) > p95; (n == 1) != want || n > 1 {
			t.Errorf("%s task of %v (p95 %v of %d): %d diagnoses", sp.Name(), spanDuration(sp), p95, len(ds), n)
		}
	}
	return got
}

// TestDiagnosisOfChannelBlock traces a real program: 38 "work" tasks that sleep 1ms and two
// that block 50ms on a channel receive. Exactly the two get a diagnosis, naming the receive.
func TestDiagnosisOfChannelBlock(t *testing.T) {
	var buf bytes.Buffer
	if err := rtrace.Start(&buf); err != nil {
		t.Fatal(err)
	}
	var line int
	for i := range 40 {
		ctx, task := rtrace.NewTask(context.Background(), "work")
		if i == 10 || i == 30 {
			ch := make(chan struct{})
			time.AfterFunc(50*time.Millisecond, func() { close(ch) })
			line = receive(ch)
		} else {
			rtrace.WithRegion(ctx, "nap", func() { time.Sleep(time.Millisecond) })
		}
		task.End()
	}
	rtrace.Stop()
	out, err := convert(t, NewTraceConverter(testIdentity, TraceOptions{MinSpanDuration: time.Millisecond}), buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	got := diagnoses(t, out)
	if len(got) != 2 {
		t.Fatalf("%d diagnoses, want 2: %v", len(got), got)
	}
	for sp, s := range got {
		var share int
		var at string
		if _, err := fmt.Sscanf(s, "blocked on chan receive %d%% at %s", &share, &at); err != nil || share < 90 {
			t.Errorf("task of %v: diagnosis %q, want blocked on chan receive ≥ 90%%", spanDuration(sp), s)
		}
		if want := fmt.Sprintf("diagnosis_test.go:%d", line+1); strings.TrimRight(at, ";,") != want {
			t.Errorf("diagnosis %q: at %q, want %s", s, at, want)
		}
		// The chain one step on: the timer's goroutine closed the channel.
		if !strings.Contains(s, ", released by TestDiagnosisOfChannelBlock.func1 at diagnosis_test.go:") {
			t.Errorf("diagnosis %q does not name the close in the AfterFunc as the release", s)
		}
	}
	t.Logf("diagnosis: %v", slices.Collect(func(yield func(string) bool) {
		for _, s := range got {
			yield(s)
		}
	}))
}

// receive blocks on ch; it returns the line above its receive.
func receive(ch chan struct{}) (line int) {
	_, _, line, _ = runtime.Caller(0)
	<-ch // must stay on the line after runtime.Caller
	return line
}

// TestDiagnosisOnFixtures checks the diagnosis rule on real traces and reports what holding the
// task spans until the end of the trace costs: one task span and one diagnosisInput per task.
func TestDiagnosisOnFixtures(t *testing.T) {
	for _, name := range []string{"blocksync.trace", "syncnode.trace", "annotations-stress.trace"} {
		out := mustConvert(t, name, TraceOptions{})
		got := diagnoses(t, out)
		held := ptrace.NewTraces()
		spans := held.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty().Spans()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		for _, sp := range out.taskSpans() {
			sp.CopyTo(spans.AppendEmpty())
		}
		runtime.ReadMemStats(&after)
		n := max(spans.Len(), 1)
		size := (&ptrace.ProtoMarshaler{}).TracesSize(held)
		t.Logf("%s: %d task spans, %d diagnosed (e.g. %q); held per task: %d B of task span in memory (%d B as OTLP protobuf) + %d B of diagnosisInput",
			name, spans.Len(), len(got), first(got), (after.TotalAlloc-before.TotalAlloc)/uint64(n), size/n, unsafe.Sizeof(diagnosisInput{}))
	}
}

func first(m map[ptrace.Span]string) string {
	for _, s := range m {
		return s
	}
	return ""
}

// TestDiagnosisPastHoldTasks: with more tasks than TraceOptions.HoldTasks, the same spans go
// out, and the tasks past the held ones are diagnosed against the running p95 of their type.
func TestDiagnosisPastHoldTasks(t *testing.T) {
	whole := mustConvert(t, "blocksync.trace", TraceOptions{})
	capped := mustConvert(t, "blocksync.trace", TraceOptions{HoldTasks: 40})
	if len(capped.spans) != len(whole.spans) {
		t.Fatalf("%d spans with HoldTasks 40, %d without", len(capped.spans), len(whole.spans))
	}
	n := 0
	for _, sp := range capped.taskSpans() {
		for i := range sp.Events().Len() {
			if ev := sp.Events().At(i); ev.Name() == eventDiagnosis {
				n++
				th, _ := ev.Attributes().Get(metadata.AttributeDiagnosisThreshold)
				if spanDuration(sp) <= time.Duration(th.Int()) {
					t.Errorf("%s task of %v diagnosed against a p95 of %v", sp.Name(), spanDuration(sp), time.Duration(th.Int()))
				}
			}
		}
	}
	tasks := len(capped.taskSpans())
	if n == 0 || n > tasks/5 {
		t.Errorf("%d of %d tasks diagnosed", n, tasks)
	}
	t.Logf("%d of %d tasks diagnosed with 40 held, %d with all held", n, tasks, len(diagnoses(t, whole)))
}

// TestDurationSketch: the sketch's p95 is within its 4.4% of the exact nearest-rank p95.
func TestDurationSketch(t *testing.T) {
	var s durationSketch
	var ds []time.Duration
	for i := range 10000 {
		d := time.Duration(500+(i*7919)%100000) * time.Microsecond
		s.add(d)
		ds = append(ds, d)
	}
	slices.Sort(ds)
	exact := ds[(len(ds)*95+99)/100-1]
	if got := s.p95(); got < exact || float64(got) > 1.045*float64(exact) {
		t.Errorf("sketch p95 %v, exact %v", got, exact)
	}
	if got := new(durationSketch).p95(); got != 0 {
		t.Errorf("empty sketch p95 %v", got)
	}
}
