package stitch

import (
	"bytes"
	"os"
	"path/filepath"
	"runtime/debug"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.uber.org/zap/zaptest"

	"github.com/gostitch/gostitch/receiver/internal/ebpfsrc"
	"github.com/gostitch/gostitch/receiver/internal/metadata"
	"github.com/gostitch/gostitch/receiver/internal/target"
)

// traceFixtures are the real execution traces of the tracesrc tests (generators there).
const traceFixtures = "../tracesrc/testdata"

var testIdentity = target.Identity{Name: "syncnode", PID: 4242, Host: "testhost"}

func traceFixture(t testing.TB, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(traceFixtures, name))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// converted is one ConvertWindow call's output, with the execution trace's spans indexed and
// the socket spans apart.
type converted struct {
	batches []ptrace.Traces
	spans   []ptrace.Span
	byID    map[pcommon.SpanID]ptrace.Span
	sockets ptrace.Traces
	res     Result
}

func convert(t testing.TB, c *TraceConverter, data []byte) (*converted, error) {
	t.Helper()
	return convertWindow(t, c, data, nil)
}

// convertWindow is convert with the window's socket events.
func convertWindow(t testing.TB, c *TraceConverter, data []byte, sockets *ebpfsrc.Batch) (*converted, error) {
	t.Helper()
	out := &converted{byID: map[pcommon.SpanID]ptrace.Span{}, sockets: ptrace.NewTraces()}
	res, err := c.ConvertWindow(Window{Trace: bytes.NewReader(data), Sockets: sockets}, func(source string, td ptrace.Traces) error {
		if source == metadata.AttributeSourceEbpf {
			td.ResourceSpans().MoveAndAppendTo(out.sockets.ResourceSpans())
			return nil
		}
		out.batches = append(out.batches, td)
		return nil
	})
	out.res = res
	for _, td := range out.batches {
		rss := td.ResourceSpans()
		for i := range rss.Len() {
			sss := rss.At(i).ScopeSpans()
			for j := range sss.Len() {
				spans := sss.At(j).Spans()
				for k := range spans.Len() {
					sp := spans.At(k)
					if _, dup := out.byID[sp.SpanID()]; dup {
						t.Errorf("span id %s used twice (%s)", sp.SpanID(), sp.Name())
					}
					out.byID[sp.SpanID()] = sp
					out.spans = append(out.spans, sp)
				}
			}
		}
	}
	return out, err
}

func mustConvert(t testing.TB, name string, opts TraceOptions) *converted {
	t.Helper()
	out, err := convert(t, NewTraceConverter(testIdentity, opts), traceFixture(t, name))
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// taskSpans returns the spans that carry a task id (task spans).
func (out *converted) taskSpans() []ptrace.Span {
	var tasks []ptrace.Span
	for _, sp := range out.spans {
		if _, ok := sp.Attributes().Get("gostitch.task.id"); ok {
			tasks = append(tasks, sp)
		}
	}
	return tasks
}

func intAttr(sp ptrace.Span, key string) int64 {
	v, _ := sp.Attributes().Get(key)
	return v.Int()
}

func boolAttr(sp ptrace.Span, key string) bool {
	v, _ := sp.Attributes().Get(key)
	return v.Bool()
}

func spanDuration(sp ptrace.Span) time.Duration {
	return time.Duration(sp.EndTimestamp() - sp.StartTimestamp())
}

// sockets joins b to the trace of index x (nil: none) and makes its spans and metrics, as
// ConvertWindow does after the trace: for the tests that build a window's events from its
// trace.
func sockets(b *ebpfsrc.Batch, id target.Identity, x *joinIndex) (ptrace.Traces, pmetric.Metrics, JoinStats) {
	if x == nil {
		td, md := socketsOut(b, id, nil, metadata.Builder{})
		return td, md, JoinStats{Unjoined: len(b.Events)}
	}
	j := x.join(b)
	td, md := socketsOut(placed(b, x.tl), id, j, metadata.Builder{})
	return td, md, j.stats
}

// watchSockets loads the eBPF programs with opts, watching the sockets of pid; stop detaches
// them (a test that watches several processes in turn runs one set of programs at a time).
func watchSockets(t *testing.T, opts ebpfsrc.Options, pid uint32) (src *ebpfsrc.Source, stop func()) {
	t.Helper()
	src, err := ebpfsrc.Open(ebpfsrc.ModeOn, opts, zaptest.NewLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	stop = func() {
		if err := src.Close(); err != nil {
			t.Error(err)
		}
	}
	if err := src.SetPIDs([]uint32{pid}); err != nil {
		stop()
		t.Fatal(err)
	}
	return src, stop
}

// recordAgain runs record with garbage collection off (a collection stops goroutines where the
// tests need them running) until it returns "", at most 4 times: a recording that does not show
// what its test needs returns why, which is logged, and is made again.
func recordAgain(t *testing.T, record func() (again string)) {
	t.Helper()
	defer debug.SetGCPercent(debug.SetGCPercent(-1))
	var again string
	for range 4 {
		if again = record(); again == "" {
			return
		}
		t.Logf("%s: recording again", again)
	}
	t.Fatalf("%s in 4 recordings", again)
}
