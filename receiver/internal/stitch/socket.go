package stitch

import (
	"cmp"
	"net/netip"
	"slices"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/gostitch/gostitch/receiver/internal/ebpfsrc"
	"github.com/gostitch/gostitch/receiver/internal/metadata"
	"github.com/gostitch/gostitch/receiver/internal/target"
)

// socketsOut turns one window of the eBPF socket source into spans and the per-peer TCP
// metrics (mb builds those the config turns on). An event j attributes to a task becomes a
// span in the task's trace (docs/design.md, "Join rules": cookie, thread, last_use); the other
// events, and all of them when j is nil, make one trace per connection, whose id derives from
// the socket cookie (none).
func socketsOut(b *ebpfsrc.Batch, id target.Identity, j *joined, mb metadata.Builder) (ptrace.Traces, pmetric.Metrics) {
	conns := groupSocketConns(b)
	return socketTraces(b, id, conns, j), socketMetrics(b, id, conns, j, mb)
}

// socketConn is what one window holds about one connection.
type socketConn struct {
	cookie uint64
	peer   netip.AddrPort
	// active: the target connected it, so the peer port names a service; for accepted
	// sockets it is the client's ephemeral port.
	active bool
	events []ebpfsrc.Event
	// index holds the index in the batch of each of events.
	index  []int
	socket *ebpfsrc.Socket // nil without counter activity in the window
}

// socketPeer groups metrics by peer; port is 0 for connections the target did not make.
type socketPeer struct {
	addr string
	port uint16
}

func (c *socketConn) metricPeer() socketPeer {
	k := socketPeer{addr: c.peer.Addr().String()}
	if c.active {
		k.port = c.peer.Port()
	}
	return k
}

// groupSocketConns sorts the batch's events and sockets by cookie.
func groupSocketConns(b *ebpfsrc.Batch) []*socketConn {
	byCookie := map[uint64]*socketConn{}
	get := func(cookie uint64) *socketConn {
		c := byCookie[cookie]
		if c == nil {
			c = &socketConn{cookie: cookie}
			byCookie[cookie] = c
		}
		return c
	}
	for i := range b.Sockets {
		s := &b.Sockets[i]
		c := get(s.Cookie)
		c.socket, c.peer = s, s.Peer
		c.active = c.active || s.ConnectStart != 0
	}
	for i, e := range b.Events {
		c := get(e.Cookie)
		c.events, c.index = append(c.events, e), append(c.index, i)
		if !c.peer.IsValid() || c.peer.Port() == 0 {
			c.peer = e.Peer
		}
		c.active = c.active || e.Kind == ebpfsrc.KindConnect || e.Kind == ebpfsrc.KindEstablished ||
			(e.Kind == ebpfsrc.KindClose && e.Since != 0)
	}
	conns := make([]*socketConn, 0, len(byCookie))
	for _, c := range byCookie {
		conns = append(conns, c)
	}
	slices.SortFunc(conns, func(x, y *socketConn) int { return cmp.Compare(x.cookie, y.cookie) })
	return conns
}

func socketTime(b *ebpfsrc.Batch, mono uint64) pcommon.Timestamp {
	return pcommon.NewTimestampFromTime(b.Time(mono))
}
