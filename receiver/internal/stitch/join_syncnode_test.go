package stitch

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/gostitch/gostitch/internal/roottest"
	"github.com/gostitch/gostitch/internal/syncnodetest"
	"github.com/gostitch/gostitch/receiver/internal/ebpfsrc"
	"github.com/gostitch/gostitch/receiver/internal/metadata"
	"github.com/gostitch/gostitch/receiver/internal/target"
	"github.com/gostitch/gostitch/receiver/internal/tracesrc"
)

// truthBlock is the part of a syncnode -truth line the accuracy test reads.
type truthBlock struct {
	Height      uint64   `json:"height"`
	Cookies     []uint64 `json:"cookies"`
	StartMonoNS uint64   `json:"start_mono_ns"`
	EndMonoNS   uint64   `json:"end_mono_ns"`
	// The fetch goroutine works for the block until FetchEndMonoNS, the importer from ImportStartMonoNS.
	FetchEndMonoNS    uint64 `json:"fetch_end_mono_ns"`
	ImportStartMonoNS uint64 `json:"import_start_mono_ns"`
}

// syncnodeRun is one real window of syncnode: its execution trace, the kernel's socket events
// over the same time, and its ground truth.
type syncnodeRun struct {
	pid    int
	trace  []byte
	batch  ebpfsrc.Batch
	blocks []truthBlock
}

// runSyncnode starts syncnode with GC pressure, a slow peer and args (none: zero-code), opens
// the eBPF source on its pid with a 1µs read-wait threshold (so nearly every read is an event),
// fetches a 2 s execution trace while a CPU profile runs (so the trace holds CPU samples),
// collects the socket events and stops it.
func runSyncnode(t *testing.T, args ...string) syncnodeRun {
	roottest.Need(t, "loading eBPF programs")
	truthPath := filepath.Join(t.TempDir(), "truth.jsonl")
	node := syncnodetest.Start(t, append([]string{"-truth", truthPath, "-fsync-every", "0", "-duration", "30s",
		"-gc-pressure", "-slow-peer", "1", "-slow-peer-delay", "2ms", "-verify-cost", "3"}, args...)...)
	run := syncnodeRun{pid: node.PID}
	src, stop := watchSockets(t, ebpfsrc.Options{ReadWaitThreshold: time.Microsecond}, uint32(run.pid))
	defer stop()
	profiled := make(chan error, 1)
	go func() {
		resp, err := http.Get("http://" + node.Addr + "/debug/pprof/profile?seconds=3")
		if err == nil {
			_, err = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		profiled <- err
	}()
	run.trace = node.Get(t, "/debug/pprof/trace?seconds=2")
	var err error
	if run.batch, err = src.Collect(uint32(run.pid), time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := <-profiled; err != nil {
		t.Fatalf("CPU profile: %v", err)
	}
	if err := node.Stop(); err != nil {
		t.Fatal(err)
	}
	run.blocks = readTruth(t, truthPath)
	return run
}

func readTruth(t *testing.T, path string) []truthBlock {
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var blocks []truthBlock
	dec := json.NewDecoder(bytes.NewReader(data))
	for dec.More() {
		var b truthBlock
		if err := dec.Decode(&b); err != nil {
			t.Fatal(err)
		}
		blocks = append(blocks, b)
	}
	return blocks
}

// accuracy counts the measured events: on the syncer's sockets, inside a block that lies wholly
// within the trace, in the reading or connecting thread's context (read waits, connects): their
// block is known. Softirq-context events (retransmits, resets received) are counted apart: the
// truth does not say which block's write a retransmitted segment carried.
type accuracy struct {
	events, right, wrong int
	// softirq counts the softirq-context events; inTask those of them in a block's trace.
	softirq, inTask int
}

func (a *accuracy) add(b accuracy) {
	a.events += b.events
	a.right += b.right
	a.wrong += b.wrong
	a.softirq += b.softirq
	a.inTask += b.inTask
}

func (a accuracy) String() string {
	return fmt.Sprintf("%d events: %d (%.2f%%) in the right block's trace, %d (%.3f%%) in another's; "+
		"%d softirq events, %d in a block's trace", a.events, a.right, 100*float64(a.right)/float64(a.events),
		a.wrong, 100*float64(a.wrong)/float64(a.events), a.softirq, a.inTask)
}

// wholeBlocks returns the trace id of each block whose importBlock task the trace shows from
// begin to end: its span, named by the task's type and logging the block's height, truncated at
// neither end. Only these blocks are wholly within the trace. The truth's clock alone cannot say
// so: the trace's first timestamp is not when it began recording the app's events (on a loaded
// machine a block whose truth began 12 ms after it was missing from the trace altogether), and
// the truth's StartMonoNS is read just after the task begins. It fails t if a truth block
// between two whole blocks is not whole itself: blocks are imported one after another.
func wholeBlocks(t *testing.T, run syncnodeRun, spans []ptrace.Span) map[uint64]pcommon.TraceID {
	whole := map[uint64]pcommon.TraceID{}
	for _, sp := range spans {
		if sp.Name() != "importBlock" {
			continue
		}
		_, cut := sp.Attributes().Get(metadata.AttributeTruncatedStart)
		_, cutEnd := sp.Attributes().Get(metadata.AttributeTruncated)
		for i := range sp.Events().Len() {
			if ev := sp.Events().At(i); ev.Name() == "height" && !cut && !cutEnd {
				v, _ := ev.Attributes().Get(metadata.AttributeLogMessage)
				var h uint64
				if _, err := fmt.Sscan(v.Str(), &h); err == nil {
					whole[h] = sp.TraceID()
				}
			}
		}
	}
	lo, hi := uint64(math.MaxUint64), uint64(0)
	for h := range whole {
		lo, hi = min(lo, h), max(hi, h)
	}
	for _, b := range run.blocks {
		if _, ok := whole[b.Height]; !ok && lo < b.Height && b.Height < hi {
			t.Errorf("block %d lies between blocks %d and %d of the trace but has no whole importBlock span", b.Height, lo, hi)
		}
	}
	return whole
}

// measure checks each measured event's span against the truth: its block is the last one
// whose import began by the event among those that used the socket (fetches are sequential);
// events whose block is not wholly within the trace (whole, from wholeBlocks; by the truth's
// clock too) are not measured.
func measure(run syncnodeRun, spans []ptrace.Span, tl *tracesrc.Timeline, whole map[uint64]pcommon.TraceID) accuracy {
	blockTraces := map[pcommon.TraceID]bool{}
	byID := map[pcommon.SpanID]ptrace.Span{}
	for _, sp := range spans {
		byID[sp.SpanID()] = sp
		if sp.Name() == "importBlock" {
			blockTraces[sp.TraceID()] = true
		}
	}
	from, to := uint64(tl.Mono(tl.Start)), uint64(tl.Mono(tl.End))
	var a accuracy
	for i := range run.batch.Events {
		e := &run.batch.Events[i]
		name, inThread := measuredSpanName(e.Kind)
		if name == "" {
			continue
		}
		var want *truthBlock
		for j := range run.blocks {
			b := &run.blocks[j]
			if b.StartMonoNS <= e.Mono && e.Mono <= b.EndMonoNS && slices.Contains(b.Cookies, e.Cookie) &&
				(want == nil || b.StartMonoNS > want.StartMonoNS) {
				want = b
			}
		}
		if want == nil || want.StartMonoNS < from || want.EndMonoNS > to {
			continue
		}
		wantTrace, ok := whole[want.Height]
		if !ok {
			continue
		}
		sp, found := byID[socketEventSpanID(&run.batch, name, e)]
		if !inThread {
			a.softirq++
			if found && blockTraces[sp.TraceID()] {
				a.inTask++
			}
			continue
		}
		a.events++
		switch {
		case !found: // not a span of its own
		case sp.TraceID() == wantTrace:
			a.right++
		case sp.TraceID() != socketTraceID(&run.batch, e.Cookie):
			a.wrong++
		}
	}
	return a
}

// measuredSpanName is the name of the span an event makes in a task's trace, and whether the
// event runs in the context of the thread that used the socket; empty for events that only
// shape their connection's span.
func measuredSpanName(k ebpfsrc.Kind) (string, bool) {
	switch k {
	case ebpfsrc.KindReadWait:
		return spanTCPReadWait, true
	case ebpfsrc.KindEstablished:
		return spanTCPConnect, true
	case ebpfsrc.KindRetransmit:
		return eventTCPRetransmit, false
	case ebpfsrc.KindResetReceived:
		return eventTCPResetReceived, false
	}
	return "", false
}

// TestJoinAccuracyOnSyncnode measures the zero-code join on a real syncnode window against
// its -truth file: goal ≥ 99% of the socket events in the right block's trace, ≤ 0.1% in another.
func TestJoinAccuracyOnSyncnode(t *testing.T) { testJoinAccuracy(t, "zero-code", 0.99) }

// TestJoinAccuracyWithHelper measures the join when the app logs each fetch conn's socket
// cookie into its task (syncnode -log-conn, instrument.LogConn): goal ≥ 99.9% right.
func TestJoinAccuracyWithHelper(t *testing.T) { testJoinAccuracy(t, "helper", 0.999, "-log-conn") }

// maxSyncnodeRounds bounds how many syncnode windows (2 s of trace each) testJoinAccuracy
// runs to measure enough events: one suffices on an idle machine, a loaded one imports fewer
// blocks per window.
const maxSyncnodeRounds = 5

func testJoinAccuracy(t *testing.T, mode string, goal float64, args ...string) {
	if testing.Short() {
		t.Skip("skipped in -short: runs syncnode for a few seconds")
	}
	var (
		a   accuracy
		cpu cpuAccuracy
	)
	for round := 1; round <= maxSyncnodeRounds && (a.events < 50 || cpu.events < 20); round++ {
		ra, rcpu := measureSyncnodeRound(t, mode, args...)
		a.add(ra)
		cpu.add(rcpu)
	}
	t.Logf("%s join on syncnode: %s", mode, a)
	t.Logf("%s CPU samples on syncnode: %s", mode, cpu)
	if cpu.events < 20 {
		t.Errorf("only %d measured CPU samples: too few to measure", cpu.events)
	}
	if syncnodetest.RefutesRate(cpu.events-cpu.right, cpu.events, 0.01) || syncnodetest.RefutesRate(cpu.wrong, cpu.events, 0.001) {
		t.Errorf("CPU samples: %s; refutes the goal of ≥ 99%% right, ≤ 0.1%% in another block's trace", cpu)
	}
	if a.events < 50 {
		t.Fatalf("only %d measured events: too few to measure", a.events)
	}
	if syncnodetest.RefutesRate(a.events-a.right, a.events, 1-goal) {
		t.Errorf("%s: %s; refutes the goal of ≥ %.1f%% right", mode, a, 100*goal)
	}
	if syncnodetest.RefutesRate(a.wrong, a.events, 0.001) {
		t.Errorf("misattributed: %s; refutes the goal of ≤ 0.1%%", a)
	}
}

// measureSyncnodeRound runs one syncnode window, joins it and measures its socket events and
// CPU samples.
func measureSyncnodeRound(t *testing.T, mode string, args ...string) (accuracy, cpuAccuracy) {
	run := runSyncnode(t, args...)
	id := target.Identity{Name: "syncnode", PID: run.pid, Host: "h"}
	out, err := convert(t, NewTraceConverter(id, TraceOptions{Threads: tracesrc.TaskThreadIntervals}), run.trace)
	if err != nil {
		t.Fatal(err)
	}
	td, _, _ := sockets(&run.batch, id, out.res.index)
	spans := slices.Clone(out.spans)
	rss := td.ResourceSpans()
	for i := range rss.Len() {
		ss := rss.At(i).ScopeSpans().At(0).Spans()
		for j := range ss.Len() {
			spans = append(spans, ss.At(j))
		}
	}
	whole := wholeBlocks(t, run, out.spans)
	a := measure(run, spans, out.res.tl, whole)
	t.Logf("%s round (%d blocks, %d eBPF events, %d lost): %s", mode, len(run.blocks), len(run.batch.Events), run.batch.Lost, a)
	cpu := measureCPU(t, run, out, whole)
	t.Logf("%s round CPU samples: %s", mode, cpu)
	return a, cpu
}
