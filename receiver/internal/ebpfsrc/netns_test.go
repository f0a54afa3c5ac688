package ebpfsrc

import (
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"testing"

	"github.com/gostitch/gostitch/internal/netnstest"
)

const lossPercent = 10

// startLossyPeer starts a sink server (TestHelperSink) in a network namespace and returns its
// address, reached over a veth pair whose namespace end drops a share of the incoming segments
// (nftables numgen random). It builds namespace gst<pid> with veth gsth<pid> (host,
// 10.200.x.y+1/30) to gstn<pid> (namespace, 10.200.x.y+2/30) and removes it all when the test
// ends.
func startLossyPeer(t *testing.T) string {
	t.Helper()
	for _, tool := range []string{"ip", "nft"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s (iproute2, nftables) is needed to build the lossy path: %v", tool, err)
		}
	}
	pid := os.Getpid()
	ns, hostIf, nsIf := fmt.Sprintf("gst%d", pid), fmt.Sprintf("gsth%d", pid), fmt.Sprintf("gstn%d", pid)
	// A /30 per pid keeps concurrent runs apart.
	third, fourth := (pid>>6)&255, (pid&63)*4
	hostAddr, nsAddr := fmt.Sprintf("10.200.%d.%d", third, fourth+1), fmt.Sprintf("10.200.%d.%d", third, fourth+2)
	port := 7000 + pid%1000

	netnstest.Add(t, ns)
	netnstest.Run(t, "", "ip", "link", "add", hostIf, "type", "veth", "peer", "name", nsIf, "netns", ns)
	t.Cleanup(func() {
		// Synchronous, unlike the namespace's teardown: the next run may reuse the names.
		if out, err := exec.Command("ip", "link", "del", hostIf).CombinedOutput(); err != nil {
			t.Errorf("ip link del %s: %v\n%s", hostIf, err, out)
		}
	})
	// One segment per packet, so that the drop rule sees every segment (not 64 KiB GSO bursts).
	netnstest.Run(t, "", "ip", "link", "set", "dev", hostIf, "gso_max_segs", "1")
	netnstest.Run(t, "", "ip", "addr", "add", hostAddr+"/30", "dev", hostIf)
	netnstest.Run(t, "", "ip", "link", "set", hostIf, "up")
	netnstest.Run(t, "", "ip", "-n", ns, "addr", "add", nsAddr+"/30", "dev", nsIf)
	netnstest.Run(t, "", "ip", "-n", ns, "link", "set", nsIf, "up")
	netnstest.Run(t, "", "ip", "-n", ns, "link", "set", "lo", "up")
	// Only established traffic is dropped, so the handshake never waits for a SYN timeout.
	netnstest.Run(t, fmt.Sprintf(`table inet gostitch_loss {
	chain input {
		type filter hook input priority 0; policy accept;
		tcp dport %d ct state established numgen random mod 100 < %d drop
	}
}
`, port, lossPercent), "ip", "netns", "exec", ns, "nft", "-f", "-")

	addr := fmt.Sprintf("%s:%d", nsAddr, port)
	netnstest.StartHelper(t, ns, "TestHelperSink", "GOSTITCH_SINK="+addr)
	return addr
}

// TestHelperSink is the server of startLossyPeer: it discards what it receives until its
// stdin closes.
func TestHelperSink(t *testing.T) {
	addr := os.Getenv("GOSTITCH_SINK")
	if addr == "" {
		t.Skip("helper process of TestRetransmitsOnlyOnLossyPath")
	}
	ln, err := net.Listen("tcp4", addr)
	if err != nil {
		t.Fatal(err)
	}
	go discard(ln)
	netnstest.Serve()
}

func discard(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go func() { _, _ = io.Copy(io.Discard, c); c.Close() }()
	}
}

func TestRetransmitsOnlyOnLossyPath(t *testing.T) {
	pid := uint32(os.Getpid())
	s := openSource(t, Options{}, pid)
	lossy := startLossyPeer(t)
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go discard(ln)

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
		return o.has(KindClose, loopCookie) && o.has(KindRetransmit, lossyCookie) &&
			lossy != nil && lossy.BytesSent == size
	})
	if got := o.totals[lossyCookie]; got == nil || got.Retransmits == 0 || o.count(KindRetransmit, lossyCookie) == 0 {
		t.Errorf("lossy path (%d%% drop): counters %+v and %d retransmit events, want some",
			lossPercent, got, o.count(KindRetransmit, lossyCookie))
	} else {
		t.Logf("lossy path: %d retransmits, %d events", got.Retransmits, o.count(KindRetransmit, lossyCookie))
	}
	if got := o.totals[loopCookie]; got == nil || got.Retransmits != 0 || o.count(KindRetransmit, loopCookie) != 0 {
		t.Errorf("loopback: counters %+v and %d retransmit events, want none", got, o.count(KindRetransmit, loopCookie))
	}
	for _, c := range []uint64{lossyCookie, loopCookie} {
		if got := o.totals[c]; got == nil || got.BytesSent != size {
			t.Errorf("socket %d: counters %+v, want %d bytes sent", c, got, size)
		}
	}
}
