package stitch

import (
	"math"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/gostitch/gostitch/receiver/internal/ebpfsrc"
	"github.com/gostitch/gostitch/receiver/internal/metadata"
	"github.com/gostitch/gostitch/receiver/internal/otelid"
	"github.com/gostitch/gostitch/receiver/internal/target"
)

// Span and span event names of the socket source.
const (
	spanTCPConnection     = "tcp connection"
	spanTCPConnect        = "tcp connect"
	spanTCPReadWait       = "tcp read wait"
	eventTCPRetransmit    = "tcp retransmit"
	eventTCPResetReceived = "tcp reset received"
	eventTCPResetSent     = "tcp reset sent"
	statusConnectFailed   = "connection failed"
)

// socketTraces makes the batch's spans. Events that j attributes to a task become children of
// the task's span or region span, in the task's trace; the others make one trace per
// connection: per window a "tcp connection" span holding retransmits and resets as span
// events, with "tcp connect" and "tcp read wait" children, and with j links to the requests
// the connection carried (socket_carried.go). j may be nil.
func socketTraces(b *ebpfsrc.Batch, id target.Identity, conns []*socketConn, j *joined) ptrace.Traces {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	id.FillResource(rs.Resource())
	ss := rs.ScopeSpans().AppendEmpty()
	target.FillScope(ss.Scope(), metadata.AttributeSourceEbpf)
	var carried *carriedIndex // built on first use
	for _, c := range conns {
		if !c.peer.IsValid() {
			continue
		}
		all := c
		if j != nil {
			c = j.spans(ss.Spans(), b, c)
		}
		if !c.notable() {
			continue
		}
		if sp := addSocketSpans(ss.Spans(), b, c); j != nil {
			if carried == nil {
				carried = newCarriedIndex(j.x, b)
			}
			carried.link(sp, all)
		}
	}
	if ss.Spans().Len() == 0 {
		return ptrace.NewTraces()
	}
	return td
}

// notable says whether the window holds more about the connection than counters.
func (c *socketConn) notable() bool {
	for _, e := range c.events {
		if e.Kind != ebpfsrc.KindOpen && e.Kind != ebpfsrc.KindConnect {
			return true
		}
	}
	return false
}

// socketTraceID is the trace of one connection: cookies are unique within a boot.
func socketTraceID(b *ebpfsrc.Batch, cookie uint64) pcommon.TraceID {
	return otelid.New("ebpf.connection").Str(b.BootID).U64(uint64(b.PID)).U64(cookie).TraceID()
}

// socketWindowSpanID is the "tcp connection" span of one connection in one window.
func socketWindowSpanID(b *ebpfsrc.Batch, cookie uint64) pcommon.SpanID {
	return otelid.New("ebpf.connection.window").Str(b.BootID).U64(uint64(b.PID)).U64(cookie).U64(b.Start).SpanID()
}

// socketEventSpanID is the span made of one event.
func socketEventSpanID(b *ebpfsrc.Batch, name string, e *ebpfsrc.Event) pcommon.SpanID {
	return otelid.New("ebpf.span").Str(name).Str(b.BootID).U64(uint64(b.PID)).U64(e.Cookie).U64(e.Mono).SpanID()
}

// addSocketSpans adds the spans of c's connection trace and returns its "tcp connection" span.
func addSocketSpans(spans ptrace.SpanSlice, b *ebpfsrc.Batch, c *socketConn) ptrace.Span {
	traceID, parentID := socketTraceID(b, c.cookie), socketWindowSpanID(b, c.cookie)
	start, end := c.span(b)
	parent := spans.AppendEmpty()
	parent.SetTraceID(traceID)
	parent.SetSpanID(parentID)
	parent.SetName(spanTCPConnection)
	parent.SetStartTimestamp(socketTime(b, start))
	parent.SetEndTimestamp(socketTime(b, end))
	c.putAttributes(parent.Attributes(), b.PID)

	for i := range c.events {
		e := &c.events[i]
		switch e.Kind {
		case ebpfsrc.KindRetransmit:
			addSocketEvent(parent, b, e, eventTCPRetransmit)
		case ebpfsrc.KindResetReceived:
			addSocketEvent(parent, b, e, eventTCPResetReceived)
		case ebpfsrc.KindResetSent:
			addSocketEvent(parent, b, e, eventTCPResetSent).Attributes().PutInt(metadata.AttributeTCPResetReason, e.Value)
		default:
			addEventSpan(spans, b, c, e, traceID, parentID)
		}
	}
	return parent
}

// addEventSpan adds the span an event makes, a "tcp connect" or "tcp read wait", as a child of
// parentID in traceID; it returns false for events that make no span.
func addEventSpan(spans ptrace.SpanSlice, b *ebpfsrc.Batch, c *socketConn, e *ebpfsrc.Event,
	traceID pcommon.TraceID, parentID pcommon.SpanID) (ptrace.Span, bool) {
	switch {
	case e.Kind == ebpfsrc.KindEstablished:
		s := newSocketSpan(spans, b, c, e, spanTCPConnect, e.Since, traceID, parentID)
		s.SetKind(ptrace.SpanKindClient)
		return s, true
	case e.Kind == ebpfsrc.KindClose && e.OldState == ebpfsrc.StateSynSent && e.Since != 0:
		s := newSocketSpan(spans, b, c, e, spanTCPConnect, e.Since, traceID, parentID)
		s.SetKind(ptrace.SpanKindClient)
		s.Status().SetCode(ptrace.StatusCodeError)
		s.Status().SetMessage(statusConnectFailed)
		return s, true
	case e.Kind == ebpfsrc.KindReadWait:
		s := newSocketSpan(spans, b, c, e, spanTCPReadWait, e.Since, traceID, parentID)
		s.Attributes().PutInt(metadata.AttributeTimeKernelQueue, int64(e.Mono-e.Since))
		return s, true
	}
	return ptrace.Span{}, false
}

// newSocketSpan adds a span of the connection named name, from from to the event's time.
func newSocketSpan(spans ptrace.SpanSlice, b *ebpfsrc.Batch, c *socketConn, e *ebpfsrc.Event, name string,
	from uint64, traceID pcommon.TraceID, parentID pcommon.SpanID) ptrace.Span {
	s := spans.AppendEmpty()
	s.SetTraceID(traceID)
	s.SetSpanID(socketEventSpanID(b, name, e))
	s.SetParentSpanID(parentID)
	s.SetName(name)
	s.SetStartTimestamp(socketTime(b, from))
	s.SetEndTimestamp(socketTime(b, e.Mono))
	c.putAttributes(s.Attributes(), b.PID)
	putSocketThread(s.Attributes(), e.TID)
	return s
}

// span bounds the connection's span in the window: from the window start or the connection's
// first sight, to the window end or its close.
func (c *socketConn) span(b *ebpfsrc.Batch) (start, end uint64) {
	first, last := uint64(math.MaxUint64), uint64(0)
	began, closed := false, false
	for _, e := range c.events {
		t := e.Mono
		if (e.Kind == ebpfsrc.KindEstablished || e.Kind == ebpfsrc.KindReadWait) && e.Since != 0 {
			t = e.Since
		}
		first, last = min(first, t), max(last, e.Mono)
		began = began || e.Kind == ebpfsrc.KindOpen || e.Kind == ebpfsrc.KindConnect
		closed = closed || e.Kind == ebpfsrc.KindClose
	}
	start, end = min(b.Start, first), max(b.End, last)
	if began {
		start = first
	}
	if closed {
		end = last
	}
	return start, end
}

func (c *socketConn) putAttributes(attrs pcommon.Map, pid uint32) {
	attrs.PutStr(metadata.AttributeSource, metadata.AttributeSourceEbpf)
	attrs.PutStr(metadata.AttributeNetworkPeerAddress, c.peer.Addr().String())
	attrs.PutInt(metadata.AttributeNetworkPeerPort, int64(c.peer.Port()))
	attrs.PutStr(metadata.AttributeNetworkTransport, metadata.AttributeNetworkTransportTCP)
	attrs.PutInt(metadata.AttributeSocketCookie, int64(c.cookie))
	attrs.PutInt(metadata.AttributeProcessPID, int64(pid))
}

func putSocketThread(attrs pcommon.Map, tid uint32) {
	if tid != 0 {
		attrs.PutInt(metadata.AttributeThreadID, int64(tid))
	}
}

func addSocketEvent(s ptrace.Span, b *ebpfsrc.Batch, e *ebpfsrc.Event, name string) ptrace.SpanEvent {
	ev := s.Events().AppendEmpty()
	ev.SetName(name)
	ev.SetTimestamp(socketTime(b, e.Mono))
	putSocketThread(ev.Attributes(), e.TID)
	return ev
}
