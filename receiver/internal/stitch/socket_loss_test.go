package stitch

import (
	"bytes"
	"context"
	"io"
	"net"
	"os"
	rtrace "runtime/trace"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gostitch/gostitch/internal/netnstest"
	"github.com/gostitch/gostitch/internal/roottest"
	"github.com/gostitch/gostitch/receiver/internal/ebpfsrc"
	"github.com/gostitch/gostitch/receiver/internal/metadata"
	"github.com/gostitch/gostitch/receiver/internal/tracesrc"
)

// TestHelperSink is the lossy peer's server (netnstest.LossyPeer).
func TestHelperSink(t *testing.T) { netnstest.ServeSink(t) }

func TestRetransmitRatio(t *testing.T) {
	for _, c := range []struct {
		sent, retransmitted uint64
		want                float64
		ok                  bool
	}{{0, 0, 0, false}, {0, 3, 0, false}, {200, 0, 0, true}, {200, 10, 0.05, true}, {2, 3, 1, true}} {
		if got, ok := retransmitRatio(c.sent, c.retransmitted); got != c.want || ok != c.ok {
			t.Errorf("retransmitRatio(%d, %d) = %v, %v; want %v, %v", c.sent, c.retransmitted, got, ok, c.want, c.ok)
		}
	}
}

// lossyWindow is one real window of this process: 38 quick "upload" tasks and one slow one to
// a loopback sink, one slow "upload" to a peer behind a path that drops lossPercent of the
// segments, the execution trace and the kernel's socket events of the same time.
type lossyWindow struct {
	trace    []byte
	batch    ebpfsrc.Batch
	lossy    string
	loopback string
}

func recordLossyWindow(t *testing.T, lossPercent int) lossyWindow {
	roottest.Need(t, "loading eBPF programs and building a network namespace")
	w := lossyWindow{lossy: netnstest.LossyPeer(t, lossPercent, "TestHelperSink")}
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go netnstest.Discard(ln)
	w.loopback = ln.Addr().String()

	pid := uint32(os.Getpid())
	src, stop := watchSockets(t, ebpfsrc.Options{}, pid)
	defer stop()
	var buf bytes.Buffer
	if err := rtrace.Start(&buf); err != nil {
		t.Fatal(err)
	}
	// An upload sends size bytes, half-closes and waits for the sink to close: until then every
	// byte reached the sink, retransmits included. The slow ones then stay in their task long
	// enough to be the two slowest of the 40, so each gets a diagnosis.
	upload := func(addr string, size int, slow bool) {
		_, task := rtrace.NewTask(context.Background(), "upload")
		defer task.End()
		c, err := net.Dial("tcp4", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if _, err := c.Write(make([]byte, size)); err != nil {
			t.Fatal(err)
		}
		if err := c.(*net.TCPConn).CloseWrite(); err != nil {
			t.Fatal(err)
		}
		if _, err := io.Copy(io.Discard, c); err != nil {
			t.Fatal(err)
		}
		if slow {
			time.Sleep(300 * time.Millisecond)
		}
	}
	for range 38 {
		upload(w.loopback, 4<<10, false)
	}
	upload(w.loopback, 4<<10, true)
	upload(w.lossy, 256<<10, true)
	rtrace.Stop()
	w.trace = buf.Bytes()
	if w.batch, err = src.Collect(pid, time.Now()); err != nil {
		t.Fatal(err)
	}
	return w
}

// TestDiagnosisNamesLossyPeer: on a real path that drops 10% of the segments, with eBPF on, the
// diagnosis of a slow task that sent to the lossy peer names it with its retransmit ratio; that
// of a slow task that only talked to loopback names no lossy peer.
func TestDiagnosisNamesLossyPeer(t *testing.T) {
	w := recordLossyWindow(t, 10)
	out, err := convertWindow(t, NewTraceConverter(testIdentity, TraceOptions{Threads: tracesrc.TaskThreadIntervals}),
		w.trace, &w.batch)
	if err != nil {
		t.Fatal(err)
	}
	var summaries []string
	for _, sp := range out.spans {
		for i := range sp.Events().Len() {
			if ev := sp.Events().At(i); sp.Name() == "upload" && ev.Name() == eventDiagnosis {
				s, _ := ev.Attributes().Get(metadata.AttributeDiagnosisSummary)
				summaries = append(summaries, s.Str())
			}
		}
	}
	if len(summaries) != 2 {
		t.Fatalf("%d diagnosed upload tasks, want the 2 slow ones: %q", len(summaries), summaries)
	}
	prefix := "peer " + w.lossy + " retransmitted "
	named := 0
	for _, s := range summaries {
		i := strings.Index(s, prefix)
		if i < 0 {
			if strings.Contains(s, "retransmitted") {
				t.Errorf("diagnosis %q names a lossy peer other than %s", s, w.lossy)
			}
			continue
		}
		named++
		pct, _, _ := strings.Cut(s[i+len(prefix):], "%")
		if r, err := strconv.ParseFloat(pct, 64); err != nil || r < 100*lossyRatio {
			t.Errorf("diagnosis %q: ratio %q, want at least %.0f%%", s, pct, 100*lossyRatio)
		}
		t.Logf("lossy upload: %s", s)
	}
	if named != 1 {
		t.Errorf("%d diagnoses name the lossy peer %s, want the one of its upload: %q", named, w.lossy, summaries)
	}

	// The metric: the lossy peer's ratio over the window, and none lost on loopback.
	md := out.res.SocketMetrics
	ratios := map[string]float64{}
	dps := metricByName(md, metadata.MetricGostitchTCPRetransmitRatio.Name).Gauge().DataPoints()
	for i := range dps.Len() {
		a := dps.At(i).Attributes().AsRaw()
		peer := a[metadata.AttributeNetworkPeerAddress].(string)
		if port, ok := a[metadata.AttributeNetworkPeerPort]; ok {
			peer = net.JoinHostPort(peer, strconv.FormatInt(port.(int64), 10))
		}
		ratios[peer] = dps.At(i).DoubleValue()
	}
	if r, ok := ratios[w.lossy]; !ok || r < lossyRatio || r > 0.5 {
		t.Errorf("retransmit ratio of the lossy peer %s: %v (%v), want from %v to 0.5 at a 10%% drop", w.lossy, r, ok, lossyRatio)
	}
	if r, ok := ratios[w.loopback]; !ok || r != 0 {
		t.Errorf("retransmit ratio of the loopback sink %s: %v (%v), want 0", w.loopback, r, ok)
	}
}
