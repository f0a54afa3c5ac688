package ebpfsrc

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// lossyPeer is a sink server in a network namespace the test creates, reached over a veth
// pair whose namespace end drops a share of the incoming segments (nftables numgen random).
type lossyPeer struct {
	addr  string
	stdin io.WriteCloser
	cmd   *exec.Cmd
}

const lossPercent = 10

func run(t *testing.T, stdin string, name string, args ...string) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Stdin = strings.NewReader(stdin)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
}

// startLossyPeer builds namespace gst<pid> with veth gsth<pid> (host, 10.200.x.y+1/30) to
// gstn<pid> (namespace, 10.200.x.y+2/30) and removes it all when the test ends.
func startLossyPeer(t *testing.T) *lossyPeer {
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

	run(t, "", "ip", "netns", "add", ns)
	t.Cleanup(func() {
		if out, err := exec.Command("ip", "netns", "del", ns).CombinedOutput(); err != nil {
			t.Errorf("ip netns del %s: %v\n%s", ns, err, out)
		}
	})
	run(t, "", "ip", "link", "add", hostIf, "type", "veth", "peer", "name", nsIf, "netns", ns)
	t.Cleanup(func() {
		// Synchronous, unlike the namespace's teardown: the next run may reuse the names.
		if out, err := exec.Command("ip", "link", "del", hostIf).CombinedOutput(); err != nil {
			t.Errorf("ip link del %s: %v\n%s", hostIf, err, out)
		}
	})
	// One segment per packet, so that the drop rule sees every segment (not 64 KiB GSO bursts).
	run(t, "", "ip", "link", "set", "dev", hostIf, "gso_max_segs", "1")
	run(t, "", "ip", "addr", "add", hostAddr+"/30", "dev", hostIf)
	run(t, "", "ip", "link", "set", hostIf, "up")
	run(t, "", "ip", "-n", ns, "addr", "add", nsAddr+"/30", "dev", nsIf)
	run(t, "", "ip", "-n", ns, "link", "set", nsIf, "up")
	run(t, "", "ip", "-n", ns, "link", "set", "lo", "up")
	// Only established traffic is dropped, so the handshake never waits for a SYN timeout.
	run(t, fmt.Sprintf(`table inet gostitch_loss {
	chain input {
		type filter hook input priority 0; policy accept;
		tcp dport %d ct state established numgen random mod 100 < %d drop
	}
}
`, port, lossPercent), "ip", "netns", "exec", ns, "nft", "-f", "-")

	p := &lossyPeer{addr: fmt.Sprintf("%s:%d", nsAddr, port)}
	p.cmd = exec.Command("ip", "netns", "exec", ns, os.Args[0], "-test.run=^TestHelperSink$", "-test.count=1")
	p.cmd.Env = append(os.Environ(), "GOSTITCH_SINK="+p.addr)
	p.cmd.Stderr = os.Stderr
	var err error
	if p.stdin, err = p.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	stdout, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		p.stdin.Close()
		if err := p.cmd.Wait(); err != nil {
			t.Errorf("sink in %s: %v", ns, err)
		}
	})
	if line, err := bufio.NewReader(stdout).ReadString('\n'); err != nil || line != "ready\n" {
		t.Fatalf("sink in %s did not start: %q, %v", ns, line, err)
	}
	return p
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
	fmt.Println("ready")
	_, _ = io.Copy(io.Discard, os.Stdin)
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
	lossyCookie, loopCookie := send(lossy.addr), send(ln.Addr().String())

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
