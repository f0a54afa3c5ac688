package stitch

import (
	"compress/gzip"
	"encoding/json"
	"flag"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/gostitch/gostitch/internal/gziptest"
	"github.com/gostitch/gostitch/receiver/internal/ebpfsrc"
	"github.com/gostitch/gostitch/receiver/internal/metadata"
	"github.com/gostitch/gostitch/receiver/internal/target"
	"github.com/gostitch/gostitch/receiver/internal/tracesrc"
)

// update rewrites the network fixtures (testdata/syncnet.*) from TestNetWaitsOnSyncnode's run.
var update = flag.Bool("update", false, "rewrite testdata/syncnet.trace and syncnet.batch.json from a live syncnode run (root)")

// Network fixtures: a 2 s window of syncnode -tls -reconnect-every 2 with a slow peer (20 ms a
// reply and a handshake), its execution trace and the socket events the network waits and
// handshakes read (connects and read idles), as the eBPF source gave them.
const (
	netTraceFixture = "testdata/syncnet.trace"
	netBatchFixture = "testdata/syncnet.batch.json.gz"
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
	// An importer that keeps up (no GC pressure, verifying once), so that slow imports are the
	// ones that waited on the slow peer.
	run := runSyncnode(t, "-slow-peer-delay", "20ms", "-tls", "-reconnect-every", "2", "-verify-cost", "1", "-gc-pressure=false")
	if *update {
		writeNetFixtures(t, run)
	}
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

// writeNetFixtures writes run's trace and the socket events the network waits and handshakes
// read.
func writeNetFixtures(t *testing.T, run syncnodeRun) {
	b := run.batch
	b.Sockets, b.Events = nil, nil
	for _, e := range run.batch.Events {
		if e.Kind == ebpfsrc.KindConnect || e.Kind == ebpfsrc.KindReadWait {
			b.Events = append(b.Events, e)
		}
	}
	js, err := json.Marshal(b)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(netTraceFixture, run.trace, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(netBatchFixture, gziptest.Compress(t, js), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestREADMEDiagnosisNetwork keeps README's diagnosis lines on network waits and TLS handshakes
// true: each quoted diagnosis that names a peer's reply or a handshake is one the code makes of
// the network fixtures, and there is one of each.
func TestREADMEDiagnosisNetwork(t *testing.T) {
	readme, err := os.ReadFile("../../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(netBatchFixture)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	var b ebpfsrc.Batch
	if err := json.NewDecoder(zr).Decode(&b); err != nil {
		t.Fatal(err)
	}
	id := target.Identity{Name: "syncnode", PID: int(b.PID), Host: "h"}
	c := NewTraceConverter(id, TraceOptions{MinSpanDuration: time.Millisecond, Threads: tracesrc.TaskThreadIntervals, MaxGoroutineSpans: 5000})
	data, err := os.ReadFile(netTraceFixture)
	if err != nil {
		t.Fatal(err)
	}
	out, err := convertWindow(t, c, data, &b)
	if err != nil {
		t.Fatal(err)
	}
	made := map[string]bool{}
	for _, s := range diagnoses(t, out) {
		made[s] = true
	}
	var waits, handshakes int
	quoted := strings.Split(string(readme), "`")
	for i := 1; i < len(quoted); i += 2 {
		q := strings.Join(strings.Fields(quoted[i]), " ") // a quote may wrap across lines
		wait, handshake := strings.Contains(q, ": the reply reached the kernel after "), strings.Contains(q, " handshake ")
		if !wait && !handshake {
			continue
		}
		if !made[q] {
			t.Errorf("README quotes the diagnosis %q, which the code does not make of %s; it makes %v", q, netTraceFixture, made)
		}
		if wait {
			waits++
		}
		if handshake {
			handshakes++
		}
	}
	if waits == 0 || handshakes == 0 {
		t.Errorf("README quotes %d diagnoses naming a peer's reply and %d naming a handshake, want one of each at least", waits, handshakes)
	}
}
