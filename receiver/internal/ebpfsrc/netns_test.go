package ebpfsrc

import (
	"net"
	"os"
	"testing"

	"github.com/gostitch/gostitch/internal/netnstest"
)

const lossPercent = 10

// TestHelperSink is the lossy peer's server (netnstest.LossyPeer).
func TestHelperSink(t *testing.T) { netnstest.ServeSink(t) }

func TestRetransmitsOnlyOnLossyPath(t *testing.T) {
	pid := uint32(os.Getpid())
	s := openSource(t, Options{}, pid)
	lossy := netnstest.LossyPeer(t, lossPercent, "TestHelperSink")
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go netnstest.Discard(ln)

	const size = 256 << 10
	send := func(addr string) uint64 {
		c, err := net.Dial("tcp4", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if _, err := c.Write(make([]byte, size)); err != nil {
			t.Fatal(err)
		}
		return cookieOf(t, c.(*net.TCPConn))
	}
	lossyCookie, loopCookie := send(lossy), send(ln.Addr().String())

	o := collectUntil(t, s, pid, func(o *observed) bool {
		lossy := o.totals[lossyCookie]
		return o.has(KindClose, loopCookie) && o.has(KindClose, lossyCookie) && o.has(KindRetransmit, lossyCookie) &&
			lossy != nil && lossy.BytesSent == size
	})
	if got := o.totals[lossyCookie]; got == nil || got.Retransmits == 0 || o.count(KindRetransmit, lossyCookie) == 0 ||
		got.SegmentsRetransmitted == 0 {
		t.Errorf("lossy path (%d%% drop): counters %+v and %d retransmit events, want some",
			lossPercent, got, o.count(KindRetransmit, lossyCookie))
	} else {
		t.Logf("lossy path: %d retransmits, %d events; %d of %d segments sent again",
			got.Retransmits, o.count(KindRetransmit, lossyCookie), got.SegmentsRetransmitted, got.SegmentsSent)
	}
	// The veth sends one segment per packet (gso_max_segs 1): at least one per 1500 bytes.
	if got := o.totals[lossyCookie]; got == nil || got.SegmentsSent < size/1500 || got.SegmentsRetransmitted >= got.SegmentsSent {
		t.Errorf("lossy path: counters %+v, want at least %d segments sent, more than those sent again", got, size/1500)
	}
	if got := o.totals[loopCookie]; got == nil || got.Retransmits != 0 || o.count(KindRetransmit, loopCookie) != 0 ||
		got.SegmentsSent == 0 || got.SegmentsRetransmitted != 0 {
		t.Errorf("loopback: counters %+v and %d retransmit events, want segments sent and none again",
			got, o.count(KindRetransmit, loopCookie))
	}
	for _, c := range []uint64{lossyCookie, loopCookie} {
		if got := o.totals[c]; got == nil || got.BytesSent != size {
			t.Errorf("socket %d: counters %+v, want %d bytes sent", c, got, size)
		}
	}
}
