package stitch

import (
	"fmt"
	"net/netip"

	"github.com/gostitch/gostitch/receiver/internal/ebpfsrc"
)

// lossyRatio is the retransmit ratio from which a slow task's diagnosis names the peer: TCP
// on a healthy path retransmits well under 1% of its segments.
const lossyRatio = 0.01

// retransmitRatio is the share of the data segments sent that were retransmissions; false when
// none were sent. The kernel counts SYN and FIN retransmits too, which carry no data, so the
// ratio is capped at 1.
func retransmitRatio(sent, retransmitted uint64) (float64, bool) {
	if sent == 0 {
		return 0, false
	}
	return min(float64(retransmitted)/float64(sent), 1), true
}

// peerLoss is a peer's retransmit ratio in a window, as the diagnosis names it.
type peerLoss struct {
	// peer is address:port, or the address alone for connections the target accepted (their
	// port is the client's ephemeral one; socketPeer).
	peer  string
	ratio float64
}

// worse says whether l lost a larger share than o; of equal ones, the first peer by name.
func (l peerLoss) worse(o peerLoss) bool {
	return l.ratio > o.ratio || l.ratio == o.ratio && o.peer != "" && l.peer < o.peer
}

// String is the diagnosis part, e.g. "peer 10.0.0.2:7000 retransmitted 4.1% of segments".
func (l peerLoss) String() string {
	return fmt.Sprintf("peer %s retransmitted %.1f%% of segments", l.peer, 100*l.ratio)
}

// lossyPeers returns, per socket cookie of b, its peer's retransmit ratio over the window (all
// the peer's sockets together, as gostitch.tcp.retransmit.ratio has it) where it reaches
// lossyRatio.
func lossyPeers(b *ebpfsrc.Batch) map[uint64]peerLoss {
	type segments struct{ sent, retransmitted uint64 }
	conns := groupSocketConns(b)
	byPeer := make(map[socketPeer]segments)
	for _, c := range conns {
		if c.socket != nil && c.peer.IsValid() {
			s := byPeer[c.metricPeer()]
			s.sent += c.socket.Delta.SegmentsSent
			s.retransmitted += c.socket.Delta.SegmentsRetransmitted
			byPeer[c.metricPeer()] = s
		}
	}
	out := make(map[uint64]peerLoss)
	for _, c := range conns {
		if !c.peer.IsValid() {
			continue
		}
		k := c.metricPeer()
		s := byPeer[k]
		if r, ok := retransmitRatio(s.sent, s.retransmitted); ok && r >= lossyRatio {
			out[c.cookie] = peerLoss{peer: k.String(), ratio: r}
		}
	}
	return out
}

// String is the peer as the diagnosis names it.
func (k socketPeer) String() string {
	if k.port == 0 {
		return k.addr
	}
	a, err := netip.ParseAddr(k.addr)
	if err != nil {
		return k.addr
	}
	return netip.AddrPortFrom(a, k.port).String()
}
