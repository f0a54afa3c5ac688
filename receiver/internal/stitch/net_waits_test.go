package stitch

import (
	"strconv"
	"strings"
	"testing"

	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/gostitch/gostitch/receiver/internal/ebpfsrc"
	"github.com/gostitch/gostitch/receiver/internal/metadata"
	"github.com/gostitch/gostitch/receiver/internal/target"
	"github.com/gostitch/gostitch/receiver/internal/tracesrc"
)

// TestHandshakeSpansOnFixture converts a trace of syncnode -tls -reconnect-every 2 without
// socket events: each client handshake is a tls handshake span under its task's connect region,
// each server one in its peer goroutine's trace, with side and version and no peer; the
// histogram counts them by side and version.
func TestHandshakeSpansOnFixture(t *testing.T) {
	out := mustConvert(t, "synctls13.trace", TraceOptions{MaxGoroutineSpans: 1000})
	sides := map[string]int{}
	for _, sp := range out.spans {
		if sp.Name() != spanTLSHandshake {
			continue
		}
		side, _ := sp.Attributes().Get(metadata.AttributeTlsSide)
		version, _ := sp.Attributes().Get(metadata.AttributeTlsProtocolVersion)
		sides[side.Str()]++
		if version.Str() != "1.3" || spanDuration(sp) <= 0 {
			t.Errorf("tls handshake span: version %q, %v", version.Str(), spanDuration(sp))
		}
		if _, ok := sp.Attributes().Get(metadata.AttributeTlsResumed); ok {
			t.Error("a TLS 1.3 handshake claims tls.resumed")
		}
		if _, ok := sp.Attributes().Get(metadata.AttributeNetworkPeerAddress); ok {
			t.Error("a peer without socket events")
		}
		parent, ok := out.byID[sp.ParentSpanID()]
		switch {
		case !ok:
			t.Errorf("%s handshake's parent is no span of the trace", side.Str())
		case side.Str() == metadata.AttributeTlsSideClient && parent.Name() != "connect":
			t.Errorf("client handshake under %q, want the connect region", parent.Name())
		case side.Str() == metadata.AttributeTlsSideServer && parent.Name() != goroutineSpanName:
			t.Errorf("server handshake under %q, want its goroutine's span", parent.Name())
		}
	}
	if sides[metadata.AttributeTlsSideClient] < 10 || sides[metadata.AttributeTlsSideServer] < 10 {
		t.Fatalf("handshake spans by side %v, want the fixture's redials on both sides", sides)
	}
	m := metricByName(out.res.Metrics, metadata.MetricGostitchTlsHandshakeDuration.Name)
	if m.Type() != pmetric.MetricTypeHistogram {
		t.Fatalf("no %s histogram", metadata.MetricGostitchTlsHandshakeDuration.Name)
	}
	n := 0
	for i := range m.Histogram().DataPoints().Len() {
		dp := m.Histogram().DataPoints().At(i)
		side, _ := dp.Attributes().Get(metadata.AttributeTlsSide)
		if int(dp.Count()) != sides[side.Str()] {
			t.Errorf("%s: %d handshakes in the histogram, %d spans", side.Str(), dp.Count(), sides[side.Str()])
		}
		n++
	}
	if n != 2 {
		t.Errorf("%d series, want client and server", n)
	}
}

// TestNetWaitsOnSyncnode runs syncnode with a slow peer (20 ms a reply) over TLS, redialing every
// 2 blocks, with the eBPF source on: block network spans of its tasks' reads that lasted the
// source's idle threshold name their socket (a loopback peer whose socket the kernel saw) and
// split into the peer's and the host's legs; the
// slow peer's replies reach the kernel late; slow tasks' diagnoses say so; the client
// handshakes name the peer they dialed.
func TestNetWaitsOnSyncnode(t *testing.T) {
	if testing.Short() {
		t.Skip("skipped in -short: runs syncnode for a few seconds")
	}
	run := runSyncnode(t, "-slow-peer-delay", "20ms", "-tls", "-reconnect-every", "2")
	id := target.Identity{Name: "syncnode", PID: run.pid, Host: "h"}
	out, err := convertWindow(t, NewTraceConverter(id, TraceOptions{Threads: tracesrc.TaskThreadIntervals, MaxGoroutineSpans: 5000}), run.trace, &run.batch)
	if err != nil {
		t.Fatal(err)
	}
	peers := map[uint64]string{} // the kernel's sockets: cookie → peer
	for _, e := range append(run.batch.Events, run.batch.Reads...) {
		peers[e.Cookie] = e.Peer.String()
	}
	var blocks, named, slow int
	for _, sp := range out.spans {
		if sp.Name() != blockSpanPrefix+"network" {
			continue
		}
		// A wait of a read (not a dial's connect) that lasted the eBPF source's idle threshold.
		stack, _ := sp.Attributes().Get(metadata.AttributeCodeStacktrace)
		if !isTaskChild(out, sp) || !strings.HasPrefix(stack.Str(), "internal/poll.(*FD).Read ") || spanDuration(sp) < ebpfsrc.DefaultReadIdleThreshold {
			continue
		}
		blocks++
		cookie, ok := sp.Attributes().Get(metadata.AttributeSocketCookie)
		if !ok {
			continue
		}
		named++
		addr, _ := sp.Attributes().Get(metadata.AttributeNetworkPeerAddress)
		port, _ := sp.Attributes().Get(metadata.AttributeNetworkPeerPort)
		peer := addr.Str() + ":" + strconv.FormatInt(port.Int(), 10)
		if peers[uint64(cookie.Int())] != peer || addr.Str() != "127.0.0.1" {
			t.Errorf("block network span names socket %d with peer %s; the kernel's socket has peer %q", cookie.Int(), peer, peers[uint64(cookie.Int())])
		}
		reached, host := intAttr(sp, metadata.AttributeTimePeer), intAttr(sp, metadata.AttributeTimeHost)
		if reached < 0 || host < 0 || reached+host < int64(spanDuration(sp)) {
			t.Errorf("legs peer %d + host %d ns, span %v: the legs run to the read after the span", reached, host, spanDuration(sp))
		}
		if reached >= 10e6 {
			slow++
		}
	}
	t.Logf("%d block network spans of reads in tasks (1ms+), %d name their socket, %d waited 10ms+ for the peer", blocks, named, slow)
	if blocks == 0 || named < blocks*9/10 || slow == 0 {
		t.Errorf("%d block network spans, %d named, %d with the slow peer's leg", blocks, named, slow)
	}
	// A diagnosis that names network waits among the task's causes names the longest one's peer.
	said, network := 0, 0
	for sp, s := range diagnoses(t, out) {
		if strings.Contains(s, "blocked on network") {
			network++
		}
		if strings.Contains(s, "on peer 127.0.0.1:") && strings.Contains(s, ": the reply reached the kernel after ") {
			said++
		}
		t.Logf("%s of %v: %s", sp.Name(), spanDuration(sp), s)
	}
	if network > 0 && said == 0 {
		t.Errorf("%d diagnoses name network waits, none the peer one waited on", network)
	}
	if m := metricByName(out.res.Metrics, metadata.MetricGostitchTCPPeerWaitDuration.Name); m.Type() != pmetric.MetricTypeHistogram || m.Histogram().DataPoints().Len() == 0 {
		t.Errorf("no %s histogram", metadata.MetricGostitchTCPPeerWaitDuration.Name)
	}

	var clients, clientsNamed, servers, serversNamed int
	for _, sp := range out.spans {
		if sp.Name() != spanTLSHandshake {
			continue
		}
		side, _ := sp.Attributes().Get(metadata.AttributeTlsSide)
		cookie, ok := sp.Attributes().Get(metadata.AttributeSocketCookie)
		if side.Str() == metadata.AttributeTlsSideServer {
			servers++
			if ok {
				serversNamed++
			}
			continue
		}
		clients++
		if !ok {
			continue
		}
		clientsNamed++
		if _, known := peers[uint64(cookie.Int())]; !known {
			t.Errorf("client handshake names socket %d, which the kernel did not report", cookie.Int())
		}
	}
	t.Logf("tls handshakes: %d client (%d with their socket), %d server (%d)", clients, clientsNamed, servers, serversNamed)
	if clients == 0 || clientsNamed < clients*9/10 {
		t.Errorf("%d client handshakes, %d name their socket", clients, clientsNamed)
	}
}

// isTaskChild says whether sp hangs, directly or through regions, from a task span.
func isTaskChild(out *converted, sp ptrace.Span) bool {
	for p, ok := out.byID[sp.ParentSpanID()]; ok; p, ok = out.byID[p.ParentSpanID()] {
		if _, task := p.Attributes().Get(metadata.AttributeTaskID); task && p.Name() != goroutineSpanName {
			return true
		}
	}
	return false
}
