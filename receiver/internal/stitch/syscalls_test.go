package stitch

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"fmt"
	"os"
	"regexp"
	rtrace "runtime/trace"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/gostitch/gostitch/internal/flowstall"
	"github.com/gostitch/gostitch/receiver/internal/metadata"
	"github.com/gostitch/gostitch/receiver/internal/tracesrc"
)

// sourceLine is the line number of the only line of file that contains code (1-based).
func sourceLine(t *testing.T, file, code string) int {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	line, n := 0, 0
	sc := bufio.NewScanner(f)
	for i := 1; sc.Scan(); i++ {
		if strings.Contains(sc.Text(), code) {
			line, n = i, n+1
		}
	}
	if n != 1 {
		t.Fatalf("%s: %d lines with %q, want 1", file, n, code)
	}
	return line
}

// isSyscallSpan reports whether a span's name is a syscall span's, named ("syscall fsync") or not.
func isSyscallSpan(name string) bool {
	return name == syscallSpanName || strings.HasPrefix(name, syscallSpanName+" ")
}

// spansNamed returns the spans of out named name.
func (out *converted) spansNamed(name string) []ptrace.Span {
	var spans []ptrace.Span
	for _, sp := range out.spans {
		if sp.Name() == name {
			spans = append(spans, sp)
		}
	}
	return spans
}

// fsyncDiagnosis matches a diagnosis naming a task's longest syscall, an fsync.
var fsyncDiagnosis = regexp.MustCompile(`in syscalls \d+%: fsync [0-9.]+m?s at store\.go:(\d+)`)

// TestSyscallsNamed converts syncnode's real trace with -fsync-every 1 -queue 0 (tracesrc's
// testdata/synctraces.go): the block store's fsyncs are "syscall fsync" spans with their name
// and stack, the writes "syscall write"; the syscall histogram has a series per name; and the
// slow imports that spent their time in syscalls are diagnosed with their longest, the fsync
// at the line of store.go that calls os.(*File).Sync.
func TestSyscallsNamed(t *testing.T) {
	out := mustConvert(t, "syncfsync.trace", TraceOptions{MinSpanDuration: 100 * time.Microsecond})
	fsyncs := out.spansNamed("syscall fsync")
	if len(fsyncs) == 0 || len(out.spansNamed("syscall write")) == 0 {
		t.Fatalf("%d syscall fsync spans, %d syscall write", len(fsyncs), len(out.spansNamed("syscall write")))
	}
	for _, sp := range fsyncs {
		if name, _ := sp.Attributes().Get(metadata.AttributeSyscallName); name.Str() != "fsync" {
			t.Errorf("syscall fsync span with %s %q", metadata.AttributeSyscallName, name.Str())
		}
		if st, _ := sp.Attributes().Get(metadata.AttributeCodeStacktrace); !strings.Contains(st.Str(), "os.(*File).Sync") {
			t.Errorf("syscall fsync span's stack does not pass through os.(*File).Sync:\n%s", st.Str())
		}
	}
	for _, sp := range out.spansNamed(syscallSpanName) {
		if _, ok := sp.Attributes().Get(metadata.AttributeSyscallName); ok {
			t.Errorf("a plain syscall span has %s", metadata.AttributeSyscallName)
		}
	}
	whole := 0 // the metric counts the fsyncs the trace shows whole, a span each
	for _, sp := range fsyncs {
		if !boolAttr(sp, metadata.AttributeTruncated) {
			whole++
		}
	}
	fsync := histogramPoint(t, out.res.Metrics, metadata.MetricGostitchGoroutineSyscallDuration.Name, "fsync")
	if fsync.Count() < uint64(whole) {
		t.Errorf("%s{fsync} counts %d, fewer than the %d whole spans", metadata.MetricGostitchGoroutineSyscallDuration.Name, fsync.Count(), whole)
	}
	histogramPoint(t, out.res.Metrics, metadata.MetricGostitchGoroutineSyscallDuration.Name, "write")

	want := sourceLine(t, "../../../examples/syncnode/store.go", "s.f.Sync()")
	named := 0
	for sp, s := range diagnoses(t, out) {
		m := fsyncDiagnosis.FindStringSubmatch(s)
		if m == nil {
			continue
		}
		named++
		if m[1] != fmt.Sprint(want) {
			t.Errorf("%s: diagnosis %q names store.go:%s, want %d", sp.Name(), s, m[1], want)
		}
	}
	if named == 0 {
		t.Errorf("no diagnosis names an fsync: %v", diagnoses(t, out))
	}
}

// flowControlDiagnosis matches a diagnosis that begins with flow control: its share and place.
var flowControlDiagnosis = regexp.MustCompile(`^blocked on flow control (\d+)% at ([^,;]+)`)

// TestFlowControlGRPCStall drives real gRPC streams into a flow-control stall under the
// execution tracer (internal/flowstall: windows at gRPC's minimum, 20 streams read at full speed
// and the last one with a pause before each message) and converts the trace: the slow stream's
// sends are "block flow control" spans under its task span, the block histogram has a flow
// control series, and the slow stream's task is diagnosed as blocked on flow control at the
// line of flowstall.go that sends.
func TestFlowControlGRPCStall(t *testing.T) {
	out := recordFlowStall(t)
	blocks := out.spansNamed(blockSpanPrefix + tracesrc.FlowControl)
	if len(blocks) == 0 {
		t.Fatalf("no %q span", blockSpanPrefix+tracesrc.FlowControl)
	}
	for _, sp := range blocks {
		if r, _ := sp.Attributes().Get(metadata.AttributeBlockReason); r.Str() != tracesrc.FlowControl {
			t.Errorf("flow control span with %s %q", metadata.AttributeBlockReason, r.Str())
		}
		if st, _ := sp.Attributes().Get(metadata.AttributeCodeStacktrace); !strings.Contains(st.Str(), "(*writeQuota).get") {
			t.Errorf("flow control span's stack does not wait in writeQuota.get:\n%s", st.Str())
		}
		if parent, ok := out.byID[sp.ParentSpanID()]; !ok || parent.Name() != flowstall.TaskType {
			t.Errorf("flow control span under %q, not a %s task span", parent.Name(), flowstall.TaskType)
		}
	}
	histogramPoint(t, out.res.Metrics, metadata.MetricGostitchGoroutineBlockDuration.Name, tracesrc.FlowControl)

	line := sourceLine(t, "../../../internal/flowstall/flowstall.go", "st.SendMsg(&chunk)")
	got := diagnoses(t, out)
	if len(got) != 1 {
		t.Fatalf("%d diagnoses, want the slow stream's: %v", len(got), got)
	}
	for sp, s := range got {
		m := flowControlDiagnosis.FindStringSubmatch(s)
		if m == nil {
			t.Errorf("%s task of %v: diagnosis %q, want blocked on flow control first", sp.Name(), spanDuration(sp), s)
			continue
		}
		if share, _ := strconv.Atoi(m[1]); share < 50 {
			t.Errorf("%s task of %v: diagnosis %q, want blocked on flow control ≥ 50%%", sp.Name(), spanDuration(sp), s)
			continue
		}
		if want := fmt.Sprintf("flowstall.go:%d", line); m[2] != want {
			t.Errorf("diagnosis %q: at %q, want %s", s, m[2], want)
		}
		t.Logf("diagnosis: %s", s)
	}
}

// recordFlowStall records and converts flowstall's streams until the slow stream's task, the
// last begun (the streams run one after the other), is the slowest, the one task over its type's
// p95. A garbage collection would stop a fast stream where it allocates (its sends wait for the
// GC to start, "blocked on sync" at the make of its chunk, about 1 package run in 20 beside two
// CPU hogs). A fast stream can still wait longer for a CPU than the slow one's pauses add up
// to, and then it is rightly the diagnosed one: such a recording is made again.
func recordFlowStall(t *testing.T) (out *converted) {
	recordAgain(t, func() string {
		var buf bytes.Buffer
		if err := rtrace.Start(&buf); err != nil {
			t.Fatal(err)
		}
		err := flowstall.Run(context.Background(), flowstall.Config{Streams: 20, Slow: 1, Chunks: 16, ChunkSize: 16 << 10, ReadDelay: 5 * time.Millisecond})
		rtrace.Stop()
		if err != nil {
			t.Fatal(err)
		}
		if out, err = convert(t, NewTraceConverter(testIdentity, TraceOptions{MinSpanDuration: time.Millisecond}), buf.Bytes()); err != nil {
			t.Fatal(err)
		}
		tasks := out.spansNamed(flowstall.TaskType)
		if len(tasks) == 0 {
			t.Fatalf("no %s task span", flowstall.TaskType)
		}
		last := slices.MaxFunc(tasks, func(a, b ptrace.Span) int { return cmp.Compare(a.StartTimestamp(), b.StartTimestamp()) })
		slowest := slices.MaxFunc(tasks, func(a, b ptrace.Span) int { return cmp.Compare(spanDuration(a), spanDuration(b)) })
		if spanDuration(slowest) != spanDuration(last) {
			return fmt.Sprintf("a fast stream's task (%v) was slower than the slow stream's (%v)", spanDuration(slowest), spanDuration(last))
		}
		return ""
	})
	return out
}

// TestREADMEDiagnosisLines: the diagnosis lines README's "What you see" quotes for syscalls and
// flow control are what the conversion says of the real traces they come from
// (tracesrc/testdata: synctraces.go, grpcflow.go): each begins a part of a diagnosis of its
// trace (the parts are separated by "; ", and a part may go on with what else the diagnosis
// knows of the same cause).
func TestREADMEDiagnosisLines(t *testing.T) {
	readme, err := os.ReadFile("../../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, _ := strings.Cut(string(readme), "### What you see\n")
	section, _, _ = strings.Cut(section, "\n### ")
	quoted := regexp.MustCompile("`([^`]+)`").FindAllStringSubmatch(section, -1)
	for _, tc := range []struct{ fixture, says string }{
		{"syncfsync.trace", ": fsync "},
		{"grpcflow.trace", "blocked on " + tracesrc.FlowControl},
	} {
		out := mustConvert(t, tc.fixture, TraceOptions{MinSpanDuration: 100 * time.Microsecond})
		var produced, parts []string
		for _, s := range diagnoses(t, out) {
			produced = append(produced, s)
			parts = append(parts, strings.Split(s, "; ")...)
		}
		n := 0
		for _, q := range quoted {
			line := strings.Join(strings.Fields(q[1]), " ") // as wrapped in README
			if !strings.Contains(line, tc.says) {
				continue
			}
			n++
			if !slices.ContainsFunc(parts, func(p string) bool { return strings.HasPrefix(p, line) }) {
				t.Errorf("README quotes %q, which begins no part of a diagnosis of %s; they say %q", line, tc.fixture, produced)
			}
		}
		if n == 0 {
			t.Errorf("README's What you see quotes no diagnosis with %q; %s's say %q", tc.says, tc.fixture, produced)
		}
	}
}
