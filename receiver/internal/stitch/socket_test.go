package stitch

import (
	"net/netip"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/gostitch/gostitch/receiver/internal/ebpfsrc"
	"github.com/gostitch/gostitch/receiver/internal/metadata"
	"github.com/gostitch/gostitch/receiver/internal/target"
)

const sec = uint64(time.Second)

// socketBatch holds three connections of pid 42 in the window [1s, 11s]: cookie 7 connects to
// 10.0.0.1:9000, waits 10ms for data once, retransmits once and closes; cookie 8 was accepted
// from 10.0.0.2:50123 and receives a reset; cookie 9 fails to connect to 10.0.0.1:9000.
func socketBatch() *ebpfsrc.Batch {
	server, client := netip.MustParseAddrPort("10.0.0.1:9000"), netip.MustParseAddrPort("10.0.0.2:50123")
	local := netip.MustParseAddrPort("10.0.0.3:40000")
	ev := func(k ebpfsrc.Kind, cookie, mono, since uint64, peer netip.AddrPort) ebpfsrc.Event {
		return ebpfsrc.Event{Kind: k, Mono: mono, Since: since, Cookie: cookie, PID: 42, TID: 101, Local: local, Peer: peer}
	}
	failed := ev(ebpfsrc.KindClose, 9, 6*sec, 5*sec, server)
	failed.OldState = ebpfsrc.StateSynSent
	var rtt, queue ebpfsrc.Histogram
	rtt.Add(300 * time.Microsecond)
	queue.Add(10 * time.Millisecond)
	queue.Add(20 * time.Microsecond)
	return &ebpfsrc.Batch{
		PID: 42, BootID: "boot-1", Start: 1 * sec, End: 11 * sec, MonoOffset: 1_700_000_000 * int64(sec),
		Events: []ebpfsrc.Event{
			ev(ebpfsrc.KindConnect, 7, 2*sec, 0, server),
			ev(ebpfsrc.KindEstablished, 7, 2*sec+500_000, 2*sec, server),
			ev(ebpfsrc.KindOpen, 8, 2*sec+600_000, 0, client),
			ev(ebpfsrc.KindReadWait, 7, 3*sec, 3*sec-10_000_000, server),
			ev(ebpfsrc.KindRetransmit, 7, 4*sec, 0, server),
			ev(ebpfsrc.KindResetReceived, 8, 4*sec+1, 0, client),
			ev(ebpfsrc.KindClose, 7, 5*sec, 2*sec, server),
			ev(ebpfsrc.KindConnect, 9, 5*sec, 0, server),
			failed,
		},
		Sockets: []ebpfsrc.Socket{
			{Cookie: 7, PID: 42, Peer: server, ConnectStart: 2 * sec, Closed: true,
				Delta: ebpfsrc.Counters{BytesSent: 100, BytesReceived: 200, Retransmits: 1, RTT: rtt, QueueDelay: queue}},
			{Cookie: 8, PID: 42, Peer: client, Delta: ebpfsrc.Counters{BytesReceived: 5}},
		},
	}
}

var socketIdentity = target.Identity{Name: "syncnode", PID: 42, Host: "h"}

func spansByName(td ptrace.Traces) map[string][]ptrace.Span {
	out := map[string][]ptrace.Span{}
	spans := td.ResourceSpans().At(0).ScopeSpans().At(0).Spans()
	for i := range spans.Len() {
		s := spans.At(i)
		out[s.Name()] = append(out[s.Name()], s)
	}
	return out
}

func cookieOfSpan(s ptrace.Span) int64 {
	v, _ := s.Attributes().Get(metadata.AttributeSocketCookie)
	return v.Int()
}

func TestSocketTraces(t *testing.T) {
	b := socketBatch()
	td, _, _ := sockets(b, socketIdentity, nil)
	byName := spansByName(td)
	if len(byName[spanTCPConnection]) != 3 || len(byName[spanTCPConnect]) != 2 || len(byName[spanTCPReadWait]) != 1 {
		t.Fatalf("spans by name: %v", byName)
	}
	conns := map[int64]ptrace.Span{}
	for _, s := range byName[spanTCPConnection] {
		conns[cookieOfSpan(s)] = s
	}
	c7, c8 := conns[7], conns[8]
	if c7.TraceID() != socketTraceID(b, 7) || c7.TraceID() == c8.TraceID() {
		t.Errorf("trace ids: cookie 7 %s, cookie 8 %s", c7.TraceID(), c8.TraceID())
	}
	if got, want := c7.StartTimestamp(), socketTime(b, 2*sec); got != want {
		t.Errorf("connection 7 starts at %s, want its connect at %s", got, want)
	}
	if got, want := c7.EndTimestamp(), socketTime(b, 5*sec); got != want {
		t.Errorf("connection 7 ends at %s, want its close at %s", got, want)
	}
	if got, want := c8.StartTimestamp(), socketTime(b, 2*sec+600_000); got != want || c8.EndTimestamp() != socketTime(b, b.End) {
		t.Errorf("connection 8 spans %s..%s, want %s..window end", got, c8.EndTimestamp(), want)
	}
	if c7.Events().Len() != 1 || c7.Events().At(0).Name() != eventTCPRetransmit ||
		c8.Events().Len() != 1 || c8.Events().At(0).Name() != eventTCPResetReceived {
		t.Errorf("span events: cookie 7 %d, cookie 8 %d", c7.Events().Len(), c8.Events().Len())
	}

	rw := byName[spanTCPReadWait][0]
	attrs := rw.Attributes().AsRaw()
	want := map[string]any{
		metadata.AttributeSource: metadata.AttributeSourceEbpf, metadata.AttributeNetworkPeerAddress: "10.0.0.1",
		metadata.AttributeNetworkPeerPort: int64(9000), metadata.AttributeNetworkTransport: "tcp",
		metadata.AttributeSocketCookie: int64(7), metadata.AttributeProcessPID: int64(42),
		metadata.AttributeThreadID: int64(101), metadata.AttributeTimeKernelQueue: int64(10_000_000),
	}
	for k, v := range want {
		if attrs[k] != v {
			t.Errorf("read wait span %s = %v, want %v", k, attrs[k], v)
		}
	}
	if rw.ParentSpanID() != c7.SpanID() || rw.TraceID() != c7.TraceID() {
		t.Error("read wait span is not a child of its connection's span")
	}
	for _, s := range byName[spanTCPConnect] {
		failed := s.Status().Code() == ptrace.StatusCodeError
		if failed != (cookieOfSpan(s) == 9) {
			t.Errorf("connect span of cookie %d has status %s", cookieOfSpan(s), s.Status().Code())
		}
	}

	again, _, _ := sockets(socketBatch(), socketIdentity, nil)
	if !ptraceEqual(td, again) {
		t.Error("the same batch gave different traces")
	}
}

func ptraceEqual(a, b ptrace.Traces) bool {
	m := ptrace.ProtoMarshaler{}
	x, _ := m.MarshalTraces(a)
	y, _ := m.MarshalTraces(b)
	return string(x) == string(y)
}

func metricByName(md pmetric.Metrics, name string) pmetric.Metric {
	ms := md.ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics()
	for i := range ms.Len() {
		if ms.At(i).Name() == name {
			return ms.At(i)
		}
	}
	return pmetric.NewMetric()
}

func TestSocketMetrics(t *testing.T) {
	b := socketBatch()
	_, md, _ := sockets(b, socketIdentity, nil)

	bytes := metricByName(md, metadata.MetricGostitchTCPBytes.Name).Sum()
	got := map[string]int64{}
	for i := range bytes.DataPoints().Len() {
		dp := bytes.DataPoints().At(i)
		a := dp.Attributes().AsRaw()
		got[a[metadata.AttributeNetworkPeerAddress].(string)+" "+a[metadata.AttributeNetworkIODirection].(string)] = dp.IntValue()
		if _, hasPort := a[metadata.AttributeNetworkPeerPort]; hasPort != (a[metadata.AttributeNetworkPeerAddress] == "10.0.0.1") {
			t.Errorf("bytes point %v: the port belongs on connected peers only", a)
		}
	}
	wantBytes := map[string]int64{"10.0.0.1 transmit": 100, "10.0.0.1 receive": 200, "10.0.0.2 transmit": 0, "10.0.0.2 receive": 5}
	for k, v := range wantBytes {
		if got[k] != v {
			t.Errorf("bytes %s = %d, want %d", k, got[k], v)
		}
	}
	if bytes.AggregationTemporality() != pmetric.AggregationTemporalityDelta || !bytes.IsMonotonic() {
		t.Error("bytes is not a monotonic delta sum")
	}

	connect := metricByName(md, metadata.MetricGostitchTCPConnectDuration.Name).Histogram()
	if connect.DataPoints().Len() != 1 {
		t.Fatalf("%d connect duration points, want 1 (the failed connect has no duration)", connect.DataPoints().Len())
	}
	dp := connect.DataPoints().At(0)
	if dp.Count() != 1 || dp.Sum() != 0.0005 || dp.Min() != 0.0005 || dp.Exemplars().Len() != 1 {
		t.Errorf("connect duration point: count %d sum %g min %g, %d exemplars", dp.Count(), dp.Sum(), dp.Min(), dp.Exemplars().Len())
	}
	ex := dp.Exemplars().At(0)
	td, _, _ := sockets(b, socketIdentity, nil)
	connectSpan := spansByName(td)[spanTCPConnect][0]
	if ex.TraceID() != connectSpan.TraceID() || ex.SpanID() != connectSpan.SpanID() {
		t.Error("connect duration exemplar does not point at the tcp connect span")
	}

	queue := metricByName(md, metadata.MetricGostitchTCPKernelQueueDelay.Name).Histogram().DataPoints().At(0)
	if queue.Count() != 2 || queue.BucketCounts().Len() != ebpfsrc.HistogramBuckets ||
		queue.ExplicitBounds().Len() != ebpfsrc.HistogramBuckets-1 || queue.Exemplars().Len() != 1 {
		t.Errorf("queue delay point: count %d, %d buckets, %d bounds, %d exemplars",
			queue.Count(), queue.BucketCounts().Len(), queue.ExplicitBounds().Len(), queue.Exemplars().Len())
	}
	retrans := metricByName(md, metadata.MetricGostitchTCPRetransmits.Name).Sum().DataPoints()
	if retrans.Len() != 2 || retrans.At(0).IntValue() != 1 {
		t.Errorf("retransmit points: %d, first %d", retrans.Len(), retrans.At(0).IntValue())
	}
	rtt := metricByName(md, metadata.MetricGostitchTCPRTT.Name).Histogram().DataPoints()
	if rtt.Len() != 1 || rtt.At(0).Count() != 1 {
		t.Errorf("rtt points: %d", rtt.Len())
	}
	if got := rtt.At(0).StartTimestamp(); got != pcommon.NewTimestampFromTime(b.Time(b.Start)) {
		t.Errorf("rtt point starts at %s, want the window start", got)
	}
}

func TestSocketsEmptyBatch(t *testing.T) {
	td, md, _ := sockets(&ebpfsrc.Batch{PID: 42}, socketIdentity, nil)
	if td.SpanCount() != 0 || md.DataPointCount() != 0 {
		t.Errorf("empty batch gave %d spans and %d data points", td.SpanCount(), md.DataPointCount())
	}
}

// TestSocketMetricsFollowConfig converts a window of socket events alone, as the receiver does
// without a trace, with the metrics setting of a config that turns gostitch.tcp.bytes and
// gostitch.tcp.rtt off: those two are left out and the others keep their names, shapes and
// points; the connection's spans come through emit, and its events count as unjoined.
func TestSocketMetricsFollowConfig(t *testing.T) {
	cfg := metadata.DefaultMetricsConfig()
	cfg.GostitchTCPBytes.Enabled, cfg.GostitchTCPRTT.Enabled = false, false
	_, all, _ := sockets(socketBatch(), socketIdentity, nil)
	var spans int
	res, err := NewTraceConverter(socketIdentity, TraceOptions{Metrics: metadata.NewBuilder(cfg)}).ConvertWindow(
		Window{Sockets: socketBatch()}, func(source string, td ptrace.Traces) error {
			if source != metadata.AttributeSourceEbpf {
				t.Errorf("spans of source %q from a window without a trace", source)
			}
			spans += td.SpanCount()
			return nil
		})
	if err != nil || res.Stats.Trace || spans == 0 || res.Stats.Sockets.Unjoined != len(socketBatch().Events) {
		t.Fatalf("err %v, stats %+v, %d spans", err, res.Stats, spans)
	}
	md := res.SocketMetrics
	for _, off := range []metadata.MetricInfo{metadata.MetricGostitchTCPBytes, metadata.MetricGostitchTCPRTT} {
		if metricByName(md, off.Name).Type() != pmetric.MetricTypeEmpty {
			t.Errorf("%s turned off but emitted", off.Name)
		}
	}
	ms := all.ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics()
	kept := 0
	for i := range ms.Len() {
		want := ms.At(i)
		if want.Name() == metadata.MetricGostitchTCPBytes.Name || want.Name() == metadata.MetricGostitchTCPRTT.Name {
			continue
		}
		kept++
		if got := metricByName(md, want.Name()); got.Type() != want.Type() || !metricEqual(got, want) {
			t.Errorf("%s: %s %v, want %s %v", want.Name(), got.Type(), got, want.Type(), want)
		}
	}
	if n := md.ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics().Len(); n != kept || kept < 3 {
		t.Errorf("%d metrics, want the %d left on", n, kept)
	}
}

// metricEqual says whether two metrics have the same name, shape and points.
func metricEqual(a, b pmetric.Metric) bool {
	x, y := pmetric.NewMetrics(), pmetric.NewMetrics()
	a.CopyTo(x.ResourceMetrics().AppendEmpty().ScopeMetrics().AppendEmpty().Metrics().AppendEmpty())
	b.CopyTo(y.ResourceMetrics().AppendEmpty().ScopeMetrics().AppendEmpty().Metrics().AppendEmpty())
	m := pmetric.ProtoMarshaler{}
	p, _ := m.MarshalMetrics(x)
	q, _ := m.MarshalMetrics(y)
	return string(p) == string(q)
}
