package stitch

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	rtrace "runtime/trace"
	"slices"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"golang.org/x/exp/trace"
	"golang.org/x/sys/unix"

	"github.com/gostitch/gostitch/internal/roottest"
	"github.com/gostitch/gostitch/receiver/internal/ebpfsrc"
	"github.com/gostitch/gostitch/receiver/internal/metadata"
	"github.com/gostitch/gostitch/receiver/internal/tracesrc"
)

// serverRequest is one line of testdata/otelserver's -truth file.
type serverRequest struct {
	Proto       string `json:"proto"`
	ClientPort  int64  `json:"client_port"`
	Goroutine   int64  `json:"goroutine"`
	StartMonoNS int64  `json:"start_mono_ns"`
	EndMonoNS   int64  `json:"end_mono_ns"`
}

// serverRun is one real window of testdata/otelserver under its own HTTP/1.1 and gRPC load:
// its execution trace, the kernel's socket events over the same time and its ground truth.
type serverRun struct {
	trace              []byte
	batch              ebpfsrc.Batch
	requests           []serverRequest
	httpPort, grpcPort uint16
}

// runOTelServer builds and starts testdata/otelserver, opens the eBPF source on its pid with a
// 1µs read-wait threshold (so nearly every read is an event), fetches a 2 s execution trace
// under load, collects the socket events and stops it.
func runOTelServer(t *testing.T) serverRun {
	roottest.Need(t, "loading eBPF programs")
	dir := t.TempDir()
	bin, truthPath := filepath.Join(dir, "otelserver"), filepath.Join(dir, "truth.jsonl")
	if out, err := exec.Command("go", "build", "-o", bin, "./testdata/otelserver").CombinedOutput(); err != nil {
		t.Fatalf("go build otelserver: %v\n%s", err, out)
	}
	cmd := exec.Command(bin, "-truth", truthPath)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	var httpAddr, grpcAddr, pprofAddr string
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if _, scanErr := fmt.Sscanf(line, "http %s grpc %s pprof %s", &httpAddr, &grpcAddr, &pprofAddr); err != nil || scanErr != nil {
		t.Fatalf("otelserver did not start: %q, %v, %v", line, err, scanErr)
	}
	var run serverRun
	if _, err := fmt.Sscanf(httpAddr, "127.0.0.1:%d", &run.httpPort); err != nil {
		t.Fatal(err)
	}
	if _, err := fmt.Sscanf(grpcAddr, "127.0.0.1:%d", &run.grpcPort); err != nil {
		t.Fatal(err)
	}

	pid := uint32(cmd.Process.Pid)
	src, stop := watchSockets(t, ebpfsrc.Options{ReadWaitThreshold: time.Microsecond}, pid)
	defer stop()
	resp, err := http.Get("http://" + pprofAddr + "/debug/pprof/trace?seconds=2")
	if err != nil {
		t.Fatal(err)
	}
	run.trace, err = io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("execution trace: %s, %v", resp.Status, err)
	}
	if run.batch, err = src.Collect(pid, time.Now()); err != nil {
		t.Fatal(err)
	}
	stdin.Close()
	if err := cmd.Wait(); err != nil {
		t.Fatalf("otelserver: %v", err)
	}
	f, err := os.Open(truthPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for dec := json.NewDecoder(f); dec.More(); {
		var r serverRequest
		if err := dec.Decode(&r); err != nil {
			t.Fatal(err)
		}
		run.requests = append(run.requests, r)
	}
	return run
}

// servedWindow is a serverRun converted: the task spans, the socket spans and, per server socket,
// its protocol and client port.
type servedWindow struct {
	run      serverRun
	tasks    map[pcommon.SpanID]ptrace.Span // task and region spans by id
	sockets  ptrace.SpanSlice
	protocol map[int64]string // server socket cookie → "http" or "grpc"
	offset   int64            // CLOCK_MONOTONIC → Unix ns
	start    int64            // the trace's first event, CLOCK_MONOTONIC
	end      int64            // the trace's last event, CLOCK_MONOTONIC
	// byGoroutine holds the outermost task spans by the goroutine that began them.
	byGoroutine map[int64][]ptrace.Span
}

func serveWindow(t *testing.T) *servedWindow {
	run := runOTelServer(t)
	out, err := convertWindow(t, NewTraceConverter(testIdentity, TraceOptions{Threads: tracesrc.TaskThreadIntervals}),
		run.trace, &run.batch)
	if err != nil {
		t.Fatal(err)
	}
	td, stats := out.sockets, out.res.Stats.Sockets
	t.Logf("%d requests, %d spans of the trace, %d socket events: join %+v", len(run.requests), len(out.spans),
		len(run.batch.Events), stats)
	w := &servedWindow{run: run, tasks: out.byID, sockets: td.ResourceSpans().At(0).ScopeSpans().At(0).Spans(),
		protocol: map[int64]string{}, offset: out.res.tl.MonoWallOffset(),
		start: out.res.tl.Mono(out.res.tl.Start), end: out.res.tl.Mono(out.res.tl.End)}
	w.byGoroutine = map[int64][]ptrace.Span{}
	for _, sp := range out.spans {
		if _, isTask := sp.Attributes().Get(metadata.AttributeTaskType); isTask {
			if _, nested := w.taskOf(sp); !nested {
				g := intAttr(sp, metadata.AttributeGoroutineID)
				w.byGoroutine[g] = append(w.byGoroutine[g], sp)
			}
		}
	}
	for _, e := range run.batch.Events {
		switch e.Local.Port() {
		case run.httpPort:
			w.protocol[int64(e.Cookie)] = "http"
		case run.grpcPort:
			w.protocol[int64(e.Cookie)] = "grpc"
		}
	}
	return w
}

// request returns the request of protocol proto from client port port that goroutine g served
// during task span task, as the server's truth has it; false when there is none. A goroutine
// serves one request at a time, so the overlap names it; a task span cut by the trace's bounds
// (gostitch.truncated, .start) may hold its request past them. On a loaded machine a task's
// times can read later than they were (the trace orders a thread's events after those of a
// thread the OS paused while it wrote them, each 1 ns after the last: a task of 51 ns 1.5 ms
// after its request, about 1 run in 10 beside four CPU hogs); such a task served the last
// request its goroutine began before it, when no other task of the goroutine overlaps that one.
func (w *servedWindow) request(proto string, port, g int64, task ptrace.Span) (serverRequest, bool) {
	start, end := w.taskBounds(task)
	var last serverRequest
	for _, r := range w.run.requests {
		if r.Proto != proto || r.ClientPort != port || r.Goroutine != g {
			continue
		}
		if start <= r.EndMonoNS && r.StartMonoNS <= end {
			return r, true
		}
		if r.StartMonoNS <= start && r.StartMonoNS > last.StartMonoNS {
			last = r
		}
	}
	if last.StartMonoNS == 0 {
		return serverRequest{}, false
	}
	for _, other := range w.byGoroutine[g] {
		if start, end := w.taskBounds(other); other.SpanID() != task.SpanID() && start <= last.EndMonoNS && last.StartMonoNS <= end {
			return serverRequest{}, false
		}
	}
	return last, true
}

// taskBounds are task span task's start and end (CLOCK_MONOTONIC), unbounded where the trace cut it.
func (w *servedWindow) taskBounds(task ptrace.Span) (start, end int64) {
	start, end = int64(task.StartTimestamp())-w.offset, int64(task.EndTimestamp())-w.offset
	if cut, _ := task.Attributes().Get(metadata.AttributeTruncatedStart); cut.Bool() {
		start = math.MinInt64
	}
	if cut, _ := task.Attributes().Get(metadata.AttributeTruncated); cut.Bool() {
		end = math.MaxInt64
	}
	return start, end
}

// requestsInTrace counts the task spans that served a request of proto from client port port
// (a task cut by the trace's bounds overlaps every request past them on its goroutine: one task).
func (w *servedWindow) requestsInTrace(proto string, port int64) int {
	served := map[int64]bool{} // the goroutines that served the port's requests
	for _, r := range w.run.requests {
		if r.Proto == proto && r.ClientPort == port {
			served[r.Goroutine] = true
		}
	}
	n := 0
	for g := range served {
		for _, task := range w.byGoroutine[g] {
			if _, ok := w.request(proto, port, g, task); ok {
				n++
			}
		}
	}
	return n
}

// near counts the requests of proto in progress at mono or begun within 20 ms after it: at the
// trace's start their goroutine may have been created before the trace (and waited to run that
// long on a loaded machine), so the trace does not say who created it; at its end their task
// may have begun in the trace while the handler began after it.
func (w *servedWindow) near(proto string, mono int64) int {
	n := 0
	for _, r := range w.run.requests {
		if r.Proto == proto && r.StartMonoNS <= mono+int64(20*time.Millisecond) && r.EndMonoNS >= mono {
			n++
		}
	}
	return n
}

// begunBetween counts the requests of proto from client port port that began after from and
// before to (CLOCK_MONOTONIC).
func (w *servedWindow) begunBetween(proto string, port, from, to int64) int {
	n := 0
	for _, r := range w.run.requests {
		if r.Proto == proto && r.ClientPort == port && from < r.StartMonoNS && r.StartMonoNS < to {
			n++
		}
	}
	return n
}

// open counts the requests of proto from client port port in progress at mono.
func (w *servedWindow) open(proto string, port, mono int64) int {
	n := 0
	for _, r := range w.run.requests {
		if r.Proto == proto && r.ClientPort == port && r.StartMonoNS <= mono && mono <= r.EndMonoNS {
			n++
		}
	}
	return n
}

// taskOf is the task span a joined span hangs from, directly or under one of its regions.
func (w *servedWindow) taskOf(sp ptrace.Span) (ptrace.Span, bool) {
	for p, ok := w.tasks[sp.ParentSpanID()]; ok; p, ok = w.tasks[p.ParentSpanID()] {
		if _, isTask := p.Attributes().Get(metadata.AttributeTaskType); isTask {
			return p, true
		}
	}
	return ptrace.Span{}, false
}

// TestServerConnections runs a real otelhttp HTTP/1.1 server and a real otelgrpc server under
// load on loopback with eBPF on. HTTP/1.1: the connection's goroutine runs the handler, so the
// read waits of a request's body join the task span the OTel SDK began for the request's server
// span, and a connection's own trace links to its requests. gRPC: one transport goroutine reads
// for every stream, so no read wait goes to a request, even while several streams were active;
// the connection's trace links to the requests it carried (their goroutines were created by
// its reader). Every link and every joined span is checked against the server's truth.
func TestServerConnections(t *testing.T) {
	w := serveWindow(t)
	joined, inConn, multiplexed, leading, woken := map[string]int{}, map[string]int{}, 0, 0, 0
	linked, links, carried, inTrace := map[string]int{}, map[string]int{}, map[string]int{}, map[string]int{}
	for i := range w.sockets.Len() {
		sp := w.sockets.At(i)
		proto := w.protocol[cookieOfSpan(sp)]
		if proto == "" {
			continue
		}
		port := intAttr(sp, metadata.AttributeNetworkPeerPort)
		switch sp.Name() {
		case spanTCPReadWait:
			task, ok := w.taskOf(sp)
			if !ok {
				inConn[proto]++
				if proto == "grpc" && w.open(proto, port, int64(sp.EndTimestamp())-w.offset) >= 2 {
					multiplexed++
				}
				continue
			}
			joined[proto]++
			if proto == "grpc" {
				t.Errorf("gRPC read wait at %v joined to task %s: the transport reads for every stream", sp.EndTimestamp(), task.Name())
				continue
			}
			if g := intAttr(sp, metadata.AttributeGoroutineID); g != intAttr(task, metadata.AttributeGoroutineID) {
				t.Errorf("read wait on goroutine %d joined to task %s of goroutine %d", g, task.Name(), intAttr(task, metadata.AttributeGoroutineID))
			}
			r, ok := w.request(proto, port, intAttr(task, metadata.AttributeGoroutineID), task)
			switch read := int64(sp.EndTimestamp()); {
			case !ok:
				t.Errorf("read wait of client port %d joined to task %s (%v–%v), which served no request of that connection",
					port, task.Name(), task.StartTimestamp(), task.EndTimestamp())
			case read > int64(task.EndTimestamp()):
				t.Errorf("read wait ending at %v joined to task %s, which ended before (%v)", sp.EndTimestamp(), task.Name(), task.EndTimestamp())
			case read < int64(task.StartTimestamp()):
				// A request's headers, read before its task began: no other request of the
				// connection began in between.
				leading++
				if _, ok := sp.Attributes().Get(metadata.AttributeTimeNetpollWakeup); ok {
					woken++
				}
				if n := w.begunBetween(proto, port, read-w.offset, r.StartMonoNS); n > 0 {
					t.Errorf("read wait of client port %d ending at %v joined to a task %d requests later", port, sp.EndTimestamp(), n)
				}
			}
		case spanTCPConnection:
			if sp.Links().Len() == 0 {
				continue
			}
			linked[proto]++
			carried[proto] += sp.Links().Len() + int(sp.DroppedLinksCount())
			inTrace[proto] += w.requestsInTrace(proto, port)
			for k := range sp.Links().Len() {
				l := sp.Links().At(k)
				links[proto]++
				task, ok := w.tasks[l.SpanID()]
				if rel, _ := l.Attributes().Get(metadata.AttributeLinkRelation); !ok || task.TraceID() != l.TraceID() ||
					rel.Str() != metadata.AttributeLinkRelationCarriedRequest {
					t.Errorf("%s connection of client port %d: link %d to %s/%s is no carried request's task span",
						proto, port, k, l.TraceID(), l.SpanID())
					continue
				}
				if _, ok := w.request(proto, port, intAttr(task, metadata.AttributeGoroutineID), task); !ok {
					t.Errorf("%s connection of client port %d links task %s (%v–%v), which served no request of that connection",
						proto, port, task.Name(), task.StartTimestamp(), task.EndTimestamp())
				}
			}
		}
	}
	t.Logf("read waits joined to a task: %v (HTTP headers read before their task: %d, %d with netpoller legs); in the connection's trace: %v "+
		"(gRPC with 2+ streams active: %d); "+
		"connection spans with links: %v, links: %v; requests linked or counted as dropped links: %v of %v with a task span",
		joined, leading, woken, inConn, multiplexed, linked, links, carried, inTrace)
	if woken == 0 {
		t.Error("no headers' read wait split at the netpoller's wakeup of the connection's goroutine")
	}
	if joined["http"] == leading || leading == 0 {
		t.Errorf("HTTP/1.1 read waits joined to their request's task span: %d, of which %d headers read before it; want both kinds",
			joined["http"], leading)
	}
	if multiplexed == 0 {
		t.Error("no gRPC read wait while several streams were active: the test shows nothing")
	}
	for _, proto := range []string{"http", "grpc"} {
		if linked[proto] == 0 {
			t.Errorf("no %s connection span links to the requests it carried", proto)
		}
		// Only requests at the trace's bounds may be linked without a task span in the trace
		// that overlaps them, or go unlinked (near); on a loaded machine a goroutine created
		// before the trace may wait longer to run, so up to 2 % more may go unlinked.
		early, late := w.near(proto, w.start), w.near(proto, w.end)
		if inTrace[proto]-carried[proto] > max(early, inTrace[proto]/50) || carried[proto]-inTrace[proto] > late {
			t.Errorf("%s: %d requests linked or counted as dropped links of %d with a task span; %d in progress as the trace began, %d as it ended",
				proto, carried[proto], inTrace[proto], early, late)
		}
	}
}

// carrierTrace is a real execution trace of a reader goroutine, locked to thread tid, that
// begins a task "conn" and creates three goroutines, each beginning a root task "req"; it runs
// at busy, while the req tasks are open, and at alone, after they ended (a read there would be
// its).
type carrierTrace struct {
	data        []byte
	tid         uint32
	busy, alone uint64
}

func recordCarrierTrace(t *testing.T) carrierTrace {
	// A garbage collection stopping the reader while it spins would leave a read at busy
	// outside its running interval: none runs while the trace is recorded.
	defer debug.SetGCPercent(debug.SetGCPercent(-1))
	var buf bytes.Buffer
	if err := rtrace.Start(&buf); err != nil {
		t.Fatal(err)
	}
	var ct carrierTrace
	spin := func(at *uint64) {
		*at = monoNow(t)
		for monoNow(t) < *at+200_000 { // stay on the thread, running
		}
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		_, conn := rtrace.NewTask(context.Background(), "conn")
		var began, ended sync.WaitGroup
		// The req tasks end only after the spin at busy: a sleep of theirs could end first
		// when this thread waits for a CPU (it did, about 1 run in 400 beside two CPU hogs).
		busyDone := make(chan struct{})
		for range 3 {
			began.Add(1)
			ended.Add(1)
			go func() {
				defer ended.Done()
				_, task := rtrace.NewTask(context.Background(), "req")
				began.Done()
				<-busyDone
				task.End()
			}()
		}
		began.Wait()
		ct.tid = uint32(unix.Gettid())
		spin(&ct.busy)
		close(busyDone)
		ended.Wait()
		spin(&ct.alone)
		conn.End()
	}()
	<-done
	time.Sleep(2 * time.Millisecond)
	rtrace.Stop()
	ct.data = buf.Bytes()
	return ct
}

// carrierWindow converts a carrierTrace and makes the socket spans of read waits on its reader's
// thread at the given times and cookies.
type carrierWindow struct {
	ct  carrierTrace
	out *converted
}

func newCarrierWindow(t *testing.T) carrierWindow {
	ct := recordCarrierTrace(t)
	out, err := convert(t, NewTraceConverter(testIdentity, TraceOptions{Threads: tracesrc.TaskThreadIntervals}), ct.data)
	if err != nil {
		t.Fatal(err)
	}
	return carrierWindow{ct, out}
}

func (w carrierWindow) sockets(t *testing.T, reads map[uint64][]uint64) (ptrace.SpanSlice, JoinStats) {
	peer := netip.MustParseAddrPort("127.0.0.1:4000")
	var events []ebpfsrc.Event
	for cookie, monos := range reads {
		for _, mono := range monos {
			events = append(events, ebpfsrc.Event{Kind: ebpfsrc.KindReadWait, Cookie: cookie, PID: 42, TID: w.ct.tid,
				Mono: mono, Since: mono - 1000, Peer: peer})
		}
	}
	slices.SortFunc(events, func(x, y ebpfsrc.Event) int { return cmp.Compare(x.Mono, y.Mono) })
	b := &ebpfsrc.Batch{PID: 42, BootID: "boot", Start: 1, End: w.ct.alone + 1_000_000, Events: events}
	td, _, stats := sockets(b, socketIdentity, w.out.res.index)
	return td.ResourceSpans().At(0).ScopeSpans().At(0).Spans(), stats
}

func (w carrierWindow) taskSpans(name string) map[pcommon.SpanID]ptrace.Span {
	spans := map[pcommon.SpanID]ptrace.Span{}
	for _, sp := range w.out.spans {
		if sp.Name() == name {
			spans[sp.SpanID()] = sp
		}
	}
	return spans
}

// TestCarriedLinks: a connection read by a goroutine links to the task it began and to the
// tasks of the goroutines it created; when the same goroutine read two connections, it is
// neither's reader: no links.
func TestCarriedLinks(t *testing.T) {
	w := newCarrierWindow(t)
	reqs, conns := w.taskSpans("req"), w.taskSpans("conn")
	if len(reqs) != 3 || len(conns) != 1 {
		t.Fatalf("%d req and %d conn task spans, want 3 and 1", len(reqs), len(conns))
	}
	linksOf := func(reads map[uint64][]uint64) map[int64]ptrace.SpanLinkSlice {
		spans, _ := w.sockets(t, reads)
		links := map[int64]ptrace.SpanLinkSlice{}
		for i := range spans.Len() {
			if sp := spans.At(i); sp.Name() == spanTCPConnection {
				links[cookieOfSpan(sp)] = sp.Links()
			}
		}
		return links
	}

	one, ok := linksOf(map[uint64][]uint64{21: {w.ct.busy + 50_000}})[21]
	if !ok {
		t.Fatalf("no %s span for the connection read at busy+50µs", spanTCPConnection)
	}
	if one.Len() != 4 {
		t.Fatalf("connection read by a goroutine that began 1 task and created 3 goroutines that did has %d links, want 4", one.Len())
	}
	for i := range one.Len() {
		l := one.At(i)
		rel, _ := l.Attributes().Get(metadata.AttributeLinkRelation)
		_, req := reqs[l.SpanID()]
		_, conn := conns[l.SpanID()]
		if !req && !conn || rel.Str() != metadata.AttributeLinkRelationCarriedRequest {
			t.Errorf("link %d to span %s (%q), want a req or conn task span as carried_request", i, l.SpanID(), rel.Str())
		}
	}
	for cookie, links := range linksOf(map[uint64][]uint64{21: {w.ct.busy + 50_000}, 22: {w.ct.busy + 100_000}}) {
		if links.Len() != 0 {
			t.Errorf("connection %d, read by a goroutine that read two connections, has %d links, want none", cookie, links.Len())
		}
	}
}

// TestMultiplexedReadJoinsNoRequest: a read on a goroutine working for its own task joins that
// task, except while goroutines it created were working for other requests (a transport reading
// for several streams): then the read is no one request's.
func TestMultiplexedReadJoinsNoRequest(t *testing.T) {
	w := newCarrierWindow(t)
	conns := w.taskSpans("conn")
	spans, stats := w.sockets(t, map[uint64][]uint64{21: {w.ct.busy + 50_000, w.ct.alone + 50_000}})
	if stats.ByThread != 1 || stats.Unjoined != 1 {
		t.Errorf("join stats %+v, want the read after the requests ended joined, the one during them not", stats)
	}
	for i := range spans.Len() {
		sp := spans.At(i)
		if sp.Name() != spanTCPReadWait {
			continue
		}
		_, underConn := conns[sp.ParentSpanID()]
		during := int64(sp.EndTimestamp()) < int64(w.ct.alone)+w.out.res.tl.MonoWallOffset()
		if during == underConn {
			t.Errorf("read wait ending at %v (during the requests: %v) under the conn task: %v", sp.EndTimestamp(), during, underConn)
		}
	}
}

// leadRead is one goroutine of recordLeadTrace: locked to thread tid, it ran at mono outside any
// task, then did what its name says and began a task of that name.
type leadRead struct {
	name string
	tid  uint32
	mono uint64
}

// recordLeadTrace records goroutines that each begin and end a task, run outside tasks at a
// time a read would have returned, then begin a task: "direct" at once, "syscall" after a
// syscall, "blocked" after a sleep.
func recordLeadTrace(t *testing.T) (data []byte, reads []leadRead) {
	// A garbage collection would stop the "direct" goroutine between its read and its task
	// (its stack scanned, about 1 run in 20 beside two CPU hogs). The scheduler can still
	// preempt it when its thread waits over 10 ms for a CPU, and then the read is rightly no
	// task's: such a recording is made again.
	recordAgain(t, func() string {
		if data, reads = recordLeads(t); !ranUntilTask(t, data, "direct", reads[0].mono) {
			return `the "direct" goroutine stopped before its task`
		}
		return ""
	})
	return data, reads
}

// ranUntilTask says whether the goroutine that began the task name ran from before mono
// (CLOCK_MONOTONIC, the trace's clock on Linux) until it began the task.
func ranUntilTask(t *testing.T, data []byte, name string, mono uint64) bool {
	r, err := trace.NewReader(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	lastStopped := map[trace.GoID]trace.Time{} // when each goroutine last stopped running
	for {
		ev, err := r.ReadEvent()
		if err != nil {
			t.Fatalf("no %s task in the trace: %v", name, err)
		}
		switch ev.Kind() {
		case trace.EventStateTransition:
			st := ev.StateTransition()
			if st.Resource.Kind != trace.ResourceGoroutine {
				continue
			}
			if from, to := st.Goroutine(); from == trace.GoRunning && to != trace.GoRunning {
				lastStopped[st.Resource.Goroutine()] = ev.Time()
			}
		case trace.EventTaskBegin:
			if ev.Task().Type == name {
				return uint64(lastStopped[ev.Goroutine()]) < mono
			}
		}
	}
}

// recordLeads records the goroutines of recordLeadTrace once.
func recordLeads(t *testing.T) ([]byte, []leadRead) {
	var buf bytes.Buffer
	if err := rtrace.Start(&buf); err != nil {
		t.Fatal(err)
	}
	between := map[string]func(){
		"direct":  func() {},
		"syscall": func() { _, _ = os.Stat("/") },
		"blocked": func() { time.Sleep(time.Millisecond) },
	}
	var reads []leadRead
	for _, name := range []string{"direct", "syscall", "blocked"} {
		r := leadRead{name: name}
		done := make(chan struct{})
		go func() {
			defer close(done)
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			_, warm := rtrace.NewTask(context.Background(), "warm") // a carrier from here on
			warm.End()
			r.tid, r.mono = uint32(unix.Gettid()), monoNow(t)
			for start := time.Now(); time.Since(start) < 100*time.Microsecond; { // runs, no syscall
			}
			between[name]()
			_, task := rtrace.NewTask(context.Background(), name)
			task.End()
		}()
		<-done
		reads = append(reads, r)
	}
	rtrace.Stop()
	return buf.Bytes(), reads
}

// TestReadLeadsToTask: a read on a goroutine working for no task joins the task the goroutine
// began next when in between it neither made another syscall nor stopped (HTTP/1.x headers read
// before the request's task), and no task otherwise.
func TestReadLeadsToTask(t *testing.T) {
	data, reads := recordLeadTrace(t)
	out, err := convert(t, NewTraceConverter(testIdentity, TraceOptions{Threads: tracesrc.TaskThreadIntervals}), data)
	if err != nil {
		t.Fatal(err)
	}
	tasks := map[string]ptrace.Span{}
	for _, sp := range out.spans {
		tasks[sp.Name()] = sp
	}
	peer := netip.MustParseAddrPort("127.0.0.1:4000")
	var events []ebpfsrc.Event
	for i, r := range reads {
		events = append(events, ebpfsrc.Event{Kind: ebpfsrc.KindReadWait, Cookie: uint64(31 + i), PID: 42, TID: r.tid,
			Mono: r.mono + 20_000, Since: r.mono, Peer: peer})
	}
	b := &ebpfsrc.Batch{PID: 42, BootID: "boot", Start: 1, End: reads[len(reads)-1].mono + 10_000_000, Events: events}
	td, _, _ := sockets(b, socketIdentity, out.res.index)
	spans := td.ResourceSpans().At(0).ScopeSpans().At(0).Spans()
	for i, r := range reads {
		task, ok := tasks[r.name]
		if !ok {
			t.Fatalf("no %s task span", r.name)
		}
		found := 0
		for k := range spans.Len() {
			sp := spans.At(k)
			if sp.Name() != spanTCPReadWait || cookieOfSpan(sp) != int64(31+i) {
				continue
			}
			found++
			if joined := sp.ParentSpanID() == task.SpanID(); joined != (r.name == "direct") {
				t.Errorf("read before the %s task: joined it %v, want %v", r.name, joined, r.name == "direct")
			}
		}
		if found != 1 {
			t.Errorf("read before the %s task: %d read wait spans, want 1", r.name, found)
		}
	}
}
