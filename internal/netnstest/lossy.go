package netnstest

import (
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"testing"
)

// sinkEnv names the address ServeSink listens on.
const sinkEnv = "GOSTITCH_SINK"

// LossyPeer starts a sink server in a network namespace and returns its address, reached over
// a veth pair whose namespace end drops lossPercent of the incoming segments (nftables numgen
// random). helper names the test function of the test binary that calls ServeSink. It builds
// namespace gst<pid> with veth gsth<pid> (host, 10.200.x.y+1/30) to gstn<pid> (namespace,
// 10.200.x.y+2/30) and removes it all when the test ends; one lossy peer per test process.
func LossyPeer(tb testing.TB, lossPercent int, helper string) string {
	tb.Helper()
	for _, tool := range []string{"ip", "nft"} {
		if _, err := exec.LookPath(tool); err != nil {
			tb.Fatalf("%s (iproute2, nftables) is needed to build the lossy path: %v", tool, err)
		}
	}
	pid := os.Getpid()
	ns, hostIf, nsIf := fmt.Sprintf("gst%d", pid), fmt.Sprintf("gsth%d", pid), fmt.Sprintf("gstn%d", pid)
	// A /30 per pid keeps concurrent runs apart.
	third, fourth := (pid>>6)&255, (pid&63)*4
	hostAddr, nsAddr := fmt.Sprintf("10.200.%d.%d", third, fourth+1), fmt.Sprintf("10.200.%d.%d", third, fourth+2)
	port := 7000 + pid%1000

	Add(tb, ns)
	Run(tb, "", "ip", "link", "add", hostIf, "type", "veth", "peer", "name", nsIf, "netns", ns)
	tb.Cleanup(func() {
		// Synchronous, unlike the namespace's teardown: the next run may reuse the names.
		if out, err := exec.Command("ip", "link", "del", hostIf).CombinedOutput(); err != nil {
			tb.Errorf("ip link del %s: %v\n%s", hostIf, err, out)
		}
	})
	// One segment per packet, so that the drop rule sees every segment (not 64 KiB GSO bursts).
	Run(tb, "", "ip", "link", "set", "dev", hostIf, "gso_max_segs", "1")
	Run(tb, "", "ip", "addr", "add", hostAddr+"/30", "dev", hostIf)
	Run(tb, "", "ip", "link", "set", hostIf, "up")
	Run(tb, "", "ip", "-n", ns, "addr", "add", nsAddr+"/30", "dev", nsIf)
	Run(tb, "", "ip", "-n", ns, "link", "set", nsIf, "up")
	Run(tb, "", "ip", "-n", ns, "link", "set", "lo", "up")
	// Only established traffic is dropped, so the handshake never waits for a SYN timeout.
	Run(tb, fmt.Sprintf(`table inet gostitch_loss {
	chain input {
		type filter hook input priority 0; policy accept;
		tcp dport %d ct state established numgen random mod 100 < %d drop
	}
}
`, port, lossPercent), "ip", "netns", "exec", ns, "nft", "-f", "-")

	addr := fmt.Sprintf("%s:%d", nsAddr, port)
	StartHelper(tb, ns, helper, sinkEnv+"="+addr)
	return addr
}

// ServeSink is the server of LossyPeer, run by its helper test function: it discards what each
// connection sends and closes it at EOF, until the test that started it ends. It skips t when
// not started by LossyPeer.
func ServeSink(t *testing.T) {
	addr := os.Getenv(sinkEnv)
	if addr == "" {
		t.Skip("helper process of LossyPeer")
	}
	ln, err := net.Listen("tcp4", addr)
	if err != nil {
		t.Fatal(err)
	}
	go Discard(ln)
	Serve()
}

// Discard accepts connections on ln until it closes, reading each to EOF and closing it.
func Discard(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go func() { _, _ = io.Copy(io.Discard, c); c.Close() }()
	}
}
