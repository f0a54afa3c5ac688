package stitch

import (
	"fmt"
	"net/netip"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/gostitch/gostitch/receiver/internal/metadata"
	"github.com/gostitch/gostitch/receiver/internal/tracesrc"
)

// TLS handshakes (issue 14 item 3): each handshake tracesrc finds from the stacks (tracesrc/tls.go)
// is a "tls handshake" span, in its task's trace under the region it began in, or, for a
// goroutine working for no task, in the goroutine's trace (rule 8, numbered with its episodes).
// With the eBPF source on, its socket is named: a client's by the kernel's connect on the
// thread of the dial's connect syscall, during it; else (a server's) by the first read on the
// handshake's first thread during the handshake. Its duration goes into
// gostitch.tls.handshake.duration, by side, version and peer.

const (
	spanTLSHandshake = "tls handshake"
	nsHandshakeSpan  = "go.trace/tls-handshake"
)

// handshakeKey is one series of gostitch.tls.handshake.duration.
type handshakeKey struct {
	peer          netip.AddrPort
	side, version string
}

// put sets the series' attributes.
func (k handshakeKey) put(attrs pcommon.Map) {
	if k.peer.IsValid() {
		putPeerAddress(attrs, k.peer)
	}
	attrs.PutStr(metadata.AttributeTlsSide, k.side)
	if k.version != "" {
		attrs.PutStr(metadata.AttributeTlsProtocolVersion, k.version)
	}
}

// handshake returns the histogram of one series.
func (m *netMetrics) handshake(k handshakeKey) *histogram {
	h := m.tls[k]
	if h == nil {
		if m.tls == nil {
			m.tls = make(map[handshakeKey]*histogram)
		}
		h = &histogram{}
		m.tls[k] = h
		m.tlsOrder = append(m.tlsOrder, k)
	}
	return h
}

func sideName(s tracesrc.TLSSide) string {
	if s == tracesrc.TLSServer {
		return metadata.AttributeTlsSideServer
	}
	return metadata.AttributeTlsSideClient
}

func (c *TraceConverter) handshakeSpanID(t *tracesrc.Task, i int) pcommon.SpanID {
	return taskKey(c.hash(nsHandshakeSpan), t).U64(uint64(i)).SpanID()
}

// handshakeSpans builds the tls handshake spans of task t, in traceID under ids.
func (conv *conversion) handshakeSpans(t *tracesrc.Task, traceID pcommon.TraceID, ids *taskSpanIDs) {
	for i := range t.Handshakes {
		h := &t.Handshakes[i]
		sp := conv.out.batch.span()
		sp.SetTraceID(traceID)
		sp.SetSpanID(conv.c.handshakeSpanID(t, i))
		sp.SetParentSpanID(ids.parent(h.Region))
		conv.fillHandshake(sp, h)
	}
}

// GoroutineHandshake implements tracesrc.HandshakeHandler: a handshake outside tasks is a span of
// its goroutine's trace, numbered with its episodes.
func (conv *conversion) GoroutineHandshake(h tracesrc.Handshake) {
	sp := conv.goroutineEpisodeSpan(h.Goroutine, h.Start, h.End, h.Partial, h.Region)
	conv.fillHandshake(sp, &h)
}

// fillHandshake sets the name, times and attributes of the span of handshake h and observes its
// duration.
func (conv *conversion) fillHandshake(sp ptrace.Span, h *tracesrc.Handshake) {
	sp.SetName(spanTLSHandshake)
	sp.SetKind(ptrace.SpanKindInternal)
	conv.out.setTimes(sp, h.Start, h.End)
	attrs := sp.Attributes()
	attrs.EnsureCapacity(10)
	conv.out.common(attrs, h.Goroutine)
	attrs.PutInt(metadata.AttributeThreadID, int64(h.Thread))
	k := handshakeKey{side: sideName(h.Side), version: h.Version}
	attrs.PutStr(metadata.AttributeTlsSide, k.side)
	if h.Version != "" {
		attrs.PutStr(metadata.AttributeTlsProtocolVersion, h.Version)
	}
	if h.Resumed != tracesrc.ResumptionUnknown {
		attrs.PutBool(metadata.AttributeTlsResumed, h.Resumed == tracesrc.ResumptionResumed)
	}
	if h.Partial {
		attrs.PutBool(metadata.AttributeTruncated, true)
	}
	if peer, cookie, ok := conv.net.handshakeSocket(conv.tl, h); ok {
		putPeer(attrs, peer, cookie)
		k.peer = peer
	}
	conv.netMetrics.handshake(k).observe(h.End.Sub(h.Start), h.End, spanRef{trace: sp.TraceID(), span: sp.SpanID()})
}

// handshakeSocket names the socket of handshake h: a client's by the kernel's connect on the
// thread of the dial's connect syscall while it ran, else by the first read on the handshake's
// first thread while it lasted.
func (r *netReads) handshakeSocket(tl *tracesrc.Timeline, h *tracesrc.Handshake) (netip.AddrPort, uint64, bool) {
	if r == nil {
		return netip.AddrPort{}, 0, false
	}
	if c := h.Connect; h.Side == tracesrc.TLSClient && c.Thread != 0 && c.End != 0 {
		if e, ok := firstOn(r.connects, c.Thread, tl.Mono(c.Start), tl.Mono(c.End)); ok {
			return e.Peer, e.Cookie, true
		}
	}
	if e, ok := firstOn(r.reads, h.Thread, tl.Mono(h.Start), tl.Mono(h.End)); ok {
		return e.Peer, e.Cookie, true
	}
	return netip.AddrPort{}, 0, false
}

// slowHandshake is a task's longest TLS handshake, for its diagnosis.
type slowHandshake struct {
	d       time.Duration
	side    string
	version string
	peer    netip.AddrPort
}

// String names the handshake, e.g. "TLS 1.3 client handshake 2.1ms with 127.0.0.1:41153".
func (s slowHandshake) String() string {
	what := "TLS"
	if s.version != "" {
		what += " " + s.version
	}
	out := fmt.Sprintf("%s %s handshake %v", what, s.side, roundDuration(s.d))
	if s.peer.IsValid() {
		out += " with " + s.peer.String()
	}
	return out
}

// longestHandshake is task t's longest TLS handshake, with its peer when a socket event names it.
func (conv *conversion) longestHandshake(t *tracesrc.Task) slowHandshake {
	var s slowHandshake
	for i := range t.Handshakes {
		h := &t.Handshakes[i]
		if d := h.End.Sub(h.Start); d > s.d {
			s = slowHandshake{d: d, side: sideName(h.Side), version: h.Version}
			s.peer, _, _ = conv.net.handshakeSocket(conv.tl, h)
		}
	}
	return s
}
