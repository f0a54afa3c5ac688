package stitch

import (
	"bytes"
	"context"
	"net/netip"
	"runtime"
	rtrace "runtime/trace"
	"strconv"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"golang.org/x/sys/unix"

	"github.com/gostitch/gostitch/internal/linkkeys"
	"github.com/gostitch/gostitch/receiver/internal/ebpfsrc"
	"github.com/gostitch/gostitch/receiver/internal/metadata"
	"github.com/gostitch/gostitch/receiver/internal/tracesrc"
)

func monoNow(t testing.TB) uint64 {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		t.Fatal(err)
	}
	return uint64(ts.Nano())
}

// joinTrace is a real execution trace of two tasks: "req" reads in its region "fetch" on a
// locked thread (tid, at mono), and "owner" logs socket cookie 11 and lasts from ownerStart
// to ownerEnd.
type joinTrace struct {
	data                            []byte
	tid                             uint32
	mono, ownerStart, ownerEnd, end uint64
}

func recordJoinTrace(t *testing.T) joinTrace {
	var buf bytes.Buffer
	if err := rtrace.Start(&buf); err != nil {
		t.Fatal(err)
	}
	var jt joinTrace
	done := make(chan struct{})
	go func() {
		defer close(done)
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		ctx, task := rtrace.NewTask(context.Background(), "req")
		rtrace.WithRegion(ctx, "fetch", func() {
			jt.tid = uint32(unix.Gettid())
			jt.mono = monoNow(t)
			for monoNow(t) < jt.mono+200_000 { // stay on the thread, running
			}
		})
		task.End()
	}()
	<-done
	ctx, task := rtrace.NewTask(context.Background(), "owner")
	jt.ownerStart = monoNow(t)
	rtrace.Log(ctx, linkkeys.SocketCookie, strconv.Itoa(11))
	time.Sleep(2 * time.Millisecond)
	jt.ownerEnd = monoNow(t)
	task.End()
	jt.end = monoNow(t)
	rtrace.Stop()
	jt.data = buf.Bytes()
	return jt
}

func TestJoinAttributesEventsToTasks(t *testing.T) {
	jt := recordJoinTrace(t)
	out, err := convert(t, NewTraceConverter(testIdentity, TraceOptions{Threads: tracesrc.TaskThreadIntervals}), jt.data)
	if err != nil {
		t.Fatal(err)
	}
	if out.res.index == nil {
		t.Fatal("no join index with thread intervals on")
	}
	named := map[string]ptrace.Span{}
	for _, sp := range out.spans {
		named[sp.Name()] = sp
	}
	req, fetch, owner := named["req"], named["fetch"], named["owner"]

	peer := netip.MustParseAddrPort("127.0.0.1:30303")
	ev := func(k ebpfsrc.Kind, cookie uint64, tid uint32, mono uint64) ebpfsrc.Event {
		return ebpfsrc.Event{Kind: k, Cookie: cookie, PID: 42, TID: tid, Mono: mono, Since: mono - 1000, Peer: peer}
	}
	mid := (jt.ownerStart + jt.ownerEnd) / 2
	// A connect completes in softirq context, after the task; it began on the req goroutine.
	connected := ev(ebpfsrc.KindEstablished, 12, jt.tid, jt.end+1)
	connected.Since = jt.mono
	// The kernel counted the three reads' queue delays in its per-socket histogram.
	var queue ebpfsrc.Histogram
	queue.Add(time.Microsecond)
	b := &ebpfsrc.Batch{PID: 42, BootID: "boot", Start: 1, End: jt.end + 1, Sockets: []ebpfsrc.Socket{
		{Cookie: 7, PID: 42, Peer: peer, Delta: ebpfsrc.Counters{QueueDelay: queue}},
	}, Events: []ebpfsrc.Event{
		ev(ebpfsrc.KindReadWait, 9, jt.tid, 1_000), // before the trace: no task
		ev(ebpfsrc.KindReadWait, 7, jt.tid, jt.mono),
		ev(ebpfsrc.KindReadWait, 11, 1, mid),     // unrelated thread, logged cookie
		ev(ebpfsrc.KindRetransmit, 7, 0, jt.end), // softirq: last user of cookie 7
		connected,
	}}
	td, md, stats := sockets(b, socketIdentity, out.res.index)
	if want := (JoinStats{ByCookie: 1, ByThread: 2, ByLastUse: 1, Unjoined: 1}); stats != want {
		t.Errorf("join stats %+v, want %+v", stats, want)
	}
	spans := td.ResourceSpans().At(0).ScopeSpans().At(0).Spans()
	got := map[int64][]ptrace.Span{}
	for i := range spans.Len() {
		got[cookieOfSpan(spans.At(i))] = append(got[cookieOfSpan(spans.At(i))], spans.At(i))
	}

	byThread := got[7]
	if len(byThread) != 2 || byThread[0].Name() != spanTCPReadWait || byThread[1].Name() != eventTCPRetransmit {
		t.Fatalf("cookie 7: want a read wait and a retransmit span, got %d spans", len(byThread))
	}
	for _, sp := range byThread {
		if sp.TraceID() != req.TraceID() || sp.ParentSpanID() != fetch.SpanID() {
			t.Errorf("%s: trace %s parent %s, want the req task's trace %s under its fetch region %s",
				sp.Name(), sp.TraceID(), sp.ParentSpanID(), req.TraceID(), fetch.SpanID())
		}
		if src, _ := sp.Attributes().Get(metadata.AttributeSource); src.Str() != metadata.AttributeSourceEbpf {
			t.Errorf("%s: source %q", sp.Name(), src.Str())
		}
	}
	if g := intAttr(byThread[0], metadata.AttributeGoroutineID); g != intAttr(fetch, metadata.AttributeGoroutineID) {
		t.Errorf("read wait on goroutine %d, the fetch region ran on %d", g, intAttr(fetch, metadata.AttributeGoroutineID))
	}

	if byCookie := got[11]; len(byCookie) != 1 || byCookie[0].TraceID() != owner.TraceID() || byCookie[0].ParentSpanID() != owner.SpanID() {
		t.Errorf("cookie 11: want one span under the owner task, got %d", len(byCookie))
	}

	if conn := got[12]; len(conn) != 1 || conn[0].Name() != spanTCPConnect || conn[0].ParentSpanID() != fetch.SpanID() {
		t.Errorf("cookie 12: want one tcp connect span under the fetch region, got %d", len(conn))
	}

	// The kernel queue delay exemplars point at the read wait spans in the traces they went to.
	spanTrace := map[pcommon.SpanID]pcommon.TraceID{}
	for i := range spans.Len() {
		spanTrace[spans.At(i).SpanID()] = spans.At(i).TraceID()
	}
	exemplars := 0
	ms := md.ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics()
	for i := range ms.Len() {
		if ms.At(i).Name() != metadata.MetricGostitchTCPKernelQueueDelay.Name {
			continue
		}
		dps := ms.At(i).Histogram().DataPoints()
		for k := range dps.Len() {
			exs := dps.At(k).Exemplars()
			for e := range exs.Len() {
				ex := exs.At(e)
				exemplars++
				if tid, ok := spanTrace[ex.SpanID()]; !ok || tid != ex.TraceID() {
					t.Errorf("exemplar span %s trace %s: the span is in trace %s (emitted: %v)", ex.SpanID(), ex.TraceID(), tid, ok)
				}
			}
		}
	}
	if exemplars != 3 {
		t.Errorf("%d kernel queue delay exemplars, want one per read wait (3)", exemplars)
	}

	unmatched := got[9]
	if len(unmatched) != 2 || unmatched[0].Name() != spanTCPConnection || unmatched[0].TraceID() != socketTraceID(b, 9) {
		t.Errorf("cookie 9: want its connection trace, got %d spans", len(unmatched))
	}
}

func TestJoinWithoutThreadsKeepsNoIndex(t *testing.T) {
	jt := recordJoinTrace(t)
	out, err := convert(t, NewTraceConverter(testIdentity, TraceOptions{}), jt.data)
	if err != nil {
		t.Fatal(err)
	}
	if out.res.index != nil {
		t.Error("join index kept without thread intervals")
	}
}

// TestJoinPlacesSocketSpansByTheTraceClock checks that one offset places a window: a joined
// socket span lies where its parent region is, however far the batch's own offset is off.
func TestJoinPlacesSocketSpansByTheTraceClock(t *testing.T) {
	jt := recordJoinTrace(t)
	out, err := convert(t, NewTraceConverter(testIdentity, TraceOptions{Threads: tracesrc.TaskThreadIntervals}), jt.data)
	if err != nil {
		t.Fatal(err)
	}
	var fetch ptrace.Span
	for _, sp := range out.spans {
		if sp.Name() == "fetch" {
			fetch = sp
		}
	}
	read := ebpfsrc.Event{Kind: ebpfsrc.KindReadWait, Cookie: 7, PID: 42, TID: jt.tid, Mono: jt.mono + 100_000,
		Since: jt.mono, Peer: netip.MustParseAddrPort("127.0.0.1:30303")}
	b := &ebpfsrc.Batch{PID: 42, BootID: "boot", Start: 1, End: jt.end + 1, MonoOffset: int64(time.Hour),
		Events: []ebpfsrc.Event{read}}
	td, _, _ := sockets(b, socketIdentity, out.res.index)

	tl := out.res.tl
	want := pcommon.Timestamp(tl.UnixNano(tl.FromMono(int64(read.Mono))))
	spans := td.ResourceSpans().At(0).ScopeSpans().At(0).Spans()
	for i := range spans.Len() {
		sp := spans.At(i)
		if sp.Name() != spanTCPReadWait {
			continue
		}
		if sp.EndTimestamp() != want {
			t.Errorf("read wait ends at %v, want %v: the trace's clock", sp.EndTimestamp(), want)
		}
		if sp.StartTimestamp() < fetch.StartTimestamp() || sp.EndTimestamp() > fetch.EndTimestamp() {
			t.Errorf("read wait [%v, %v] outside its fetch region [%v, %v]",
				sp.StartTimestamp(), sp.EndTimestamp(), fetch.StartTimestamp(), fetch.EndTimestamp())
		}
		return
	}
	t.Fatal("no read wait span")
}
