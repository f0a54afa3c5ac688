package stitch

import (
	"cmp"
	"fmt"
	"math"
	"net/netip"
	"slices"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"golang.org/x/exp/trace"

	"github.com/gostitch/gostitch/receiver/internal/ebpfsrc"
	"github.com/gostitch/gostitch/receiver/internal/metadata"
	"github.com/gostitch/gostitch/receiver/internal/tracesrc"
)

// Network waits name their peer (issue 14 item 6). A goroutine parked in the netpoller for at
// least trace.min_span_duration (a "block network" span) reads its socket as soon as it runs
// again, and that read comes at least as long after the socket's previous read: the eBPF
// source reports it (ebpfsrc.KindReadIdle, or KindReadWait when its data also sat in the
// kernel) with its thread and the time its data reached the kernel. The first such read on the
// thread of the goroutine's run after the block (tracesrc.Episode.Resumed) names the socket, so
// the span gets the peer and cookie and two legs: until the data reached the kernel (the peer
// and the network: gostitch.time.peer) and after (kernel, netpoller, scheduler and the read:
// gostitch.time.host), which add up to the wait until that read. The same reads name the
// sockets of TLS handshakes (tls_spans.go). Built from the window's socket batch before the
// trace is read, so the spans are complete as their tasks are.

// netReads indexes a window's reads and connects by thread, each in time order.
type netReads struct {
	reads, connects map[uint32][]ebpfsrc.Event
}

// newNetReads indexes b's reads (read idle and read wait events) and connects; nil without b.
func newNetReads(b *ebpfsrc.Batch) *netReads {
	if b == nil {
		return nil
	}
	r := &netReads{reads: make(map[uint32][]ebpfsrc.Event), connects: make(map[uint32][]ebpfsrc.Event)}
	for i := range b.Events {
		switch e := &b.Events[i]; {
		case e.TID == 0:
		case e.Kind == ebpfsrc.KindReadWait:
			r.reads[e.TID] = append(r.reads[e.TID], *e)
		case e.Kind == ebpfsrc.KindConnect:
			r.connects[e.TID] = append(r.connects[e.TID], *e)
		}
	}
	for i := range b.Reads {
		if e := &b.Reads[i]; e.TID != 0 {
			r.reads[e.TID] = append(r.reads[e.TID], *e)
		}
	}
	for _, es := range r.reads { // read waits and read idles, each in time order: merge
		slices.SortStableFunc(es, func(x, y ebpfsrc.Event) int { return cmp.Compare(x.Mono, y.Mono) })
	}
	return r
}

// firstOn returns the first event of es (by thread, in time order) on thread m in [from, to],
// CLOCK_MONOTONIC ns.
func firstOn(es map[uint32][]ebpfsrc.Event, m trace.ThreadID, from, to int64) (*ebpfsrc.Event, bool) {
	list := es[uint32(m)]
	i, _ := slices.BinarySearchFunc(list, from, func(e ebpfsrc.Event, t int64) int { return cmp.Compare(int64(e.Mono), t) })
	if i == len(list) || int64(list[i].Mono) > to {
		return nil, false
	}
	return &list[i], true
}

// netWait is one network wait named by the read that followed it.
type netWait struct {
	peer   netip.AddrPort
	cookie uint64
	// wait is from the block's start to the read; reached until the data reached the kernel
	// (the peer's leg), host after.
	wait, reached, host time.Duration
}

// waitOf returns the network wait of block episode e, when a read of the window names it.
func (r *netReads) waitOf(tl *tracesrc.Timeline, e *tracesrc.Episode) (netWait, bool) {
	if r == nil || e.Kind != tracesrc.Blocked || e.Reason != tracesrc.Network || e.Resumed.Thread == 0 || e.Partial {
		return netWait{}, false
	}
	to := int64(math.MaxInt64)
	if e.Resumed.End != 0 {
		to = tl.Mono(e.Resumed.End)
	}
	ev, ok := firstOn(r.reads, e.Resumed.Thread, tl.Mono(e.Resumed.Start), to)
	if !ok {
		return netWait{}, false
	}
	start, read := tl.Mono(e.Start), int64(ev.Mono)
	ready := min(max(int64(ev.Since), start), read)
	return netWait{peer: ev.Peer, cookie: ev.Cookie, wait: time.Duration(read - start),
		reached: time.Duration(ready - start), host: time.Duration(read - ready)}, true
}

// netWaitAttrs is how many attributes netWait.put sets.
const netWaitAttrs = 5

// put sets the socket and legs of w on a block network span.
func (w *netWait) put(attrs pcommon.Map) {
	putPeer(attrs, w.peer, w.cookie)
	attrs.PutInt(metadata.AttributeTimePeer, int64(w.reached))
	attrs.PutInt(metadata.AttributeTimeHost, int64(w.host))
}

// putPeer sets a socket's peer address and cookie.
func putPeer(attrs pcommon.Map, peer netip.AddrPort, cookie uint64) {
	attrs.PutStr(metadata.AttributeNetworkPeerAddress, peer.Addr().String())
	attrs.PutInt(metadata.AttributeNetworkPeerPort, int64(peer.Port()))
	attrs.PutInt(metadata.AttributeSocketCookie, int64(cookie))
}

// netEpisode names the socket and legs of w, the network wait of task t's episode i, on its
// span's attributes, and observes the peer's leg.
func (conv *conversion) netEpisode(t *tracesrc.Task, i int, w *netWait, attrs pcommon.Map) {
	w.put(attrs)
	conv.netMetrics.peerWait(w.peer).observe(w.reached, t.Episodes[i].End, spanRef{task: t, episode: i})
}

// longestNetWait is the longest network wait of task t that a read names, for its diagnosis.
func (conv *conversion) longestNetWait(t *tracesrc.Task) (netWait, bool) {
	var best netWait
	found := false
	for i := range t.Episodes {
		if w, ok := conv.net.waitOf(conv.tl, &t.Episodes[i]); ok && w.wait > best.wait {
			best, found = w, true
		}
	}
	return best, found
}

// netMetrics aggregates the histograms of network waits and TLS handshakes by peer.
type netMetrics struct {
	waits     map[netip.AddrPort]*histogram
	waitOrder []netip.AddrPort
	tls       map[handshakeKey]*histogram
	tlsOrder  []handshakeKey
}

// peerWait returns the histogram of the peer legs of waits on peer.
func (m *netMetrics) peerWait(peer netip.AddrPort) *histogram {
	h := m.waits[peer]
	if h == nil {
		if m.waits == nil {
			m.waits = make(map[netip.AddrPort]*histogram)
		}
		h = &histogram{}
		m.waits[peer] = h
		m.waitOrder = append(m.waitOrder, peer)
	}
	return h
}

// build adds the histograms that saw observations to w's metrics.
func (m *netMetrics) build(w histogramWriter) {
	w.writeKeyed(metadata.MetricGostitchTCPPeerWaitDuration, len(m.waitOrder), func(i int) (*histogram, func(pcommon.Map)) {
		peer := m.waitOrder[i]
		return m.waits[peer], func(attrs pcommon.Map) { putPeerAddress(attrs, peer) }
	})
	w.writeKeyed(metadata.MetricGostitchTlsHandshakeDuration, len(m.tlsOrder), func(i int) (*histogram, func(pcommon.Map)) {
		k := m.tlsOrder[i]
		return m.tls[k], k.put
	})
}

// putPeerAddress sets a peer's address and port (metric attributes).
func putPeerAddress(attrs pcommon.Map, peer netip.AddrPort) {
	attrs.PutStr(metadata.AttributeNetworkPeerAddress, peer.Addr().String())
	attrs.PutInt(metadata.AttributeNetworkPeerPort, int64(peer.Port()))
}

// netNote is what a task's diagnosis says of its network: its longest network wait that a read
// names, and its longest TLS handshake (tls_spans.go). It holds a pointer, nil for a task with
// neither; the diagnoser keeps the notes of held task spans apart from their inputs.
type netNote struct{ *netFacts }

type netFacts struct {
	wait   netWait
	waitOK bool
	tls    slowHandshake
}

// netNotes holds the network notes of held task spans by their index; nil until one has a note.
type netNotes map[int]netNote

// add keeps note n of held task span i, when it has one.
func (ns *netNotes) add(i int, n netNote) {
	if n.netFacts == nil {
		return
	}
	if *ns == nil {
		*ns = make(netNotes)
	}
	(*ns)[i] = n
}

// netNote gathers task t's network note.
func (conv *conversion) netNote(t *tracesrc.Task) netNote {
	var f netFacts
	if conv.net != nil {
		f.wait, f.waitOK = conv.longestNetWait(t)
	}
	if len(t.Handshakes) > 0 {
		f.tls = conv.longestHandshake(t)
	}
	if !f.waitOK && f.tls.d == 0 {
		return netNote{}
	}
	p := new(netFacts) // only here: f itself stays on the stack
	*p = f
	return netNote{p}
}

// appendTo adds the note's parts to a task's diagnosis: its longest named network wait when
// the task was blocked on network for at least minCauseShare of its duration dur, and its
// longest TLS handshake when that took as much; e.g. "waited 20.4ms on peer 127.0.0.1:41153:
// the reply reached the kernel after 20.3ms; host added 0.1ms" and "TLS 1.3 client handshake
// 2.1ms with 127.0.0.1:41153".
func (n netNote) appendTo(parts []string, dur time.Duration, b *tracesrc.Breakdown) []string {
	if n.netFacts == nil {
		return parts
	}
	notable := func(d time.Duration) bool { return d > 0 && float64(d) >= minCauseShare*float64(dur) }
	var network time.Duration
	for _, bt := range b.Blocked {
		if bt.Reason == tracesrc.Network {
			network = bt.Time
		}
	}
	if w := &n.wait; n.waitOK && notable(network) {
		parts = append(parts, fmt.Sprintf("waited %v on peer %s: the reply reached the kernel after %v; host added %v",
			roundDuration(w.wait), w.peer, roundDuration(w.reached), roundDuration(w.host)))
	}
	if notable(n.tls.d) {
		parts = append(parts, n.tls.String())
	}
	return parts
}
