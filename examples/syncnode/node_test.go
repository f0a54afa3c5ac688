package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/pprof/profile"
	"golang.org/x/exp/trace"
)

// End-to-end tests: build the real binary, run it as a separate process, and look at it from
// the outside the way gostitch does: /debug/pprof, the execution trace, the truth file.

// build holds the binary built once for all tests that need it.
var build struct {
	once sync.Once
	dir  string
	path string
	err  error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if build.dir != "" {
		os.RemoveAll(build.dir)
	}
	os.Exit(code)
}

func nodeBinary(t *testing.T) string {
	t.Helper()
	build.once.Do(func() {
		if build.dir, build.err = os.MkdirTemp("", "syncnode-test-"); build.err != nil {
			return
		}
		build.path = filepath.Join(build.dir, "syncnode")
		out, err := exec.Command("go", "build", "-o", build.path, ".").CombinedOutput()
		if err != nil {
			build.err = fmt.Errorf("go build: %w\n%s", err, out)
		}
	})
	if build.err != nil {
		t.Fatal(build.err)
	}
	return build.path
}

// testNode is a syncnode process started by a test.
type testNode struct {
	cmd      *exec.Cmd
	pprofURL string
	peers    []string
	truth    string
	monoLo   int64 // CLOCK_MONOTONIC before the process started

	mu     sync.Mutex
	lines  []string // stdout so far
	stderr bytes.Buffer
	exited chan struct{} // closed when Wait returned
	err    error         // Wait's result
}

var (
	pprofLine = regexp.MustCompile(`^pprof listening on http://(\S+)$`)
	peerLine  = regexp.MustCompile(`^peer \d+ listening on (\S+)`)
)

// runNode runs the binary with args plus -pprof-addr 127.0.0.1:0 and -truth, and waits
// until it is syncing.
func runNode(t *testing.T, args ...string) *testNode {
	t.Helper()
	n := &testNode{truth: filepath.Join(t.TempDir(), "truth.jsonl"), exited: make(chan struct{})}
	args = append([]string{"-pprof-addr", "127.0.0.1:0", "-truth", n.truth, "-log-every", "50"}, args...)
	n.cmd = exec.Command(nodeBinary(t), args...)
	n.cmd.Stderr = &lockedWriter{mu: &n.mu, w: &n.stderr}
	stdout, err := n.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	n.monoLo = monoNow()
	if err := n.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	started := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			line := sc.Text()
			n.mu.Lock()
			n.lines = append(n.lines, line)
			n.mu.Unlock()
			if strings.HasPrefix(line, "syncnode pid ") {
				close(started)
			}
		}
		n.err = n.cmd.Wait() // only after stdout is drained
		close(n.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-n.exited:
		default:
			n.cmd.Process.Kill()
			<-n.exited
		}
		if t.Failed() {
			t.Logf("syncnode %v\nstdout:\n%s\nstderr:\n%s", args, n.stdout(), n.stderrText())
		}
	})
	select {
	case <-started:
	case <-n.exited:
		t.Fatalf("syncnode exited during startup: %v", n.err)
	case <-time.After(30 * time.Second):
		t.Fatal("syncnode did not start within 30s")
	}
	for _, l := range n.stdoutLines() {
		if m := pprofLine.FindStringSubmatch(l); m != nil {
			n.pprofURL = "http://" + m[1]
		}
		if m := peerLine.FindStringSubmatch(l); m != nil {
			n.peers = append(n.peers, m[1])
		}
	}
	if n.pprofURL == "" || len(n.peers) == 0 {
		t.Fatalf("no pprof address or peers in the startup output:\n%s", n.stdout())
	}
	return n
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func (n *testNode) stdoutLines() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]string(nil), n.lines...)
}

func (n *testNode) stdout() string { return strings.Join(n.stdoutLines(), "\n") }

func (n *testNode) stderrText() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.stderr.String()
}

// waitExit waits for the process to end by itself and checks it exited 0 after printing its
// summary. It returns CLOCK_MONOTONIC after the exit.
func (n *testNode) waitExit(t *testing.T, timeout time.Duration) int64 {
	t.Helper()
	select {
	case <-n.exited:
	case <-time.After(timeout):
		t.Fatalf("syncnode still running after %v", timeout)
	}
	if n.err != nil {
		t.Fatalf("syncnode: %v", n.err)
	}
	lines := n.stdoutLines()
	if last := lines[len(lines)-1]; !strings.HasPrefix(last, "summary: imported ") {
		t.Errorf("last line %q is not the summary", last)
	}
	return monoNow()
}

// interrupt sends SIGINT and waits for a clean exit.
func (n *testNode) interrupt(t *testing.T) int64 {
	t.Helper()
	if err := n.cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	return n.waitExit(t, 15*time.Second)
}

// get fetches path from the node's pprof server.
func (n *testNode) get(t *testing.T, path string) []byte {
	t.Helper()
	resp, err := http.Get(n.pprofURL + path)
	if err != nil {
		t.Error(err)
		return nil
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err == nil && resp.StatusCode != http.StatusOK {
		err = fmt.Errorf("%s: %s: %s", path, resp.Status, body)
	}
	if err != nil {
		t.Error(err)
		return nil
	}
	return body
}

// collect fetches a 1s CPU profile and a 1s execution trace at the same time.
func (n *testNode) collect(t *testing.T) (*profile.Profile, *traceSummary) {
	t.Helper()
	var prof, tr []byte
	var wg sync.WaitGroup
	wg.Go(func() { prof = n.get(t, "/debug/pprof/profile?seconds=1") })
	wg.Go(func() { tr = n.get(t, "/debug/pprof/trace?seconds=1") })
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	p, err := profile.ParseData(prof)
	if err != nil {
		t.Fatalf("parsing the CPU profile: %v", err)
	}
	return p, parseTrace(t, tr)
}

// traceSummary is what the tests need from an execution trace.
type traceSummary struct {
	tasks   map[trace.TaskID]bool              // importBlock tasks begun in the trace
	regions map[string]int                     // region begins by type
	logs    map[trace.TaskID]map[string]string // per task: category → message
}

func parseTrace(t *testing.T, data []byte) *traceSummary {
	t.Helper()
	r, err := trace.NewReader(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("reading the execution trace: %v", err)
	}
	s := &traceSummary{
		tasks:   make(map[trace.TaskID]bool),
		regions: make(map[string]int),
		logs:    make(map[trace.TaskID]map[string]string),
	}
	for {
		ev, err := r.ReadEvent()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("reading the execution trace: %v", err)
		}
		switch ev.Kind() {
		case trace.EventTaskBegin:
			if task := ev.Task(); task.Type == "importBlock" {
				s.tasks[task.ID] = true
			}
		case trace.EventRegionBegin:
			s.regions[ev.Region().Type]++
		case trace.EventLog:
			l := ev.Log()
			if s.logs[l.Task] == nil {
				s.logs[l.Task] = make(map[string]string)
			}
			s.logs[l.Task][l.Category] = l.Message
		}
	}
	return s
}

// checkTrace checks the importBlock tasks, their regions and height logs.
func checkTrace(t *testing.T, s *traceSummary) {
	t.Helper()
	if len(s.tasks) == 0 {
		t.Fatal("no importBlock task in the execution trace")
	}
	for _, r := range []string{"fetch", "deserialize", "verify", "store", "broadcast"} {
		if s.regions[r] == 0 {
			t.Errorf("no %s region in the execution trace (regions: %v)", r, s.regions)
		}
	}
	withHeight := 0
	for id := range s.tasks {
		if s.logs[id]["height"] != "" && s.logs[id]["peer"] != "" {
			withHeight++
		}
	}
	if withHeight == 0 {
		t.Error("no importBlock task logs its height and peer")
	}
}

// checkProfile checks that the CPU profile has samples labeled with the block's height, peer
// and message type.
func checkProfile(t *testing.T, p *profile.Profile) {
	t.Helper()
	if len(p.Sample) == 0 {
		t.Fatal("CPU profile has no samples")
	}
	labeled := 0
	for _, s := range p.Sample {
		if len(s.Label["height"]) > 0 && len(s.Label["peer_id"]) > 0 && len(s.Label["msg_type"]) > 0 {
			labeled++
		}
	}
	if labeled == 0 {
		t.Errorf("none of %d CPU samples has height, peer_id and msg_type labels", len(p.Sample))
	}
}

func readTruth(t *testing.T, path string) []TruthRecord {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var recs []TruthRecord
	dec := json.NewDecoder(bytes.NewReader(data))
	for dec.More() {
		var r TruthRecord
		if err := dec.Decode(&r); err != nil {
			t.Fatalf("truth file line %d: %v", len(recs)+1, err)
		}
		recs = append(recs, r)
	}
	return recs
}

// checkTruth checks the truth file of n, which exited before monoHi, and returns its records.
func checkTruth(t *testing.T, n *testNode, monoHi int64) []TruthRecord {
	t.Helper()
	recs := readTruth(t, n.truth)
	if len(recs) == 0 {
		t.Fatal("truth file is empty")
	}
	peers := make(map[string]bool)
	for _, p := range n.peers {
		peers[p] = true
	}
	for i, r := range recs {
		if r.Height != uint64(i+1) {
			t.Fatalf("record %d has height %d, want %d", i, r.Height, i+1)
		}
		if r.PID != n.cmd.Process.Pid {
			t.Errorf("block %d: pid %d, want %d", r.Height, r.PID, n.cmd.Process.Pid)
		}
		if !(n.monoLo < r.StartMonoNS && r.StartMonoNS < r.EndMonoNS && r.EndMonoNS < monoHi) {
			t.Errorf("block %d: start %d end %d outside the test's clock range [%d, %d]",
				r.Height, r.StartMonoNS, r.EndMonoNS, n.monoLo, monoHi)
		}
		if !(r.StartMonoNS < r.FetchEndMonoNS && r.FetchEndMonoNS <= r.ImportStartMonoNS && r.ImportStartMonoNS < r.EndMonoNS) {
			t.Errorf("block %d: fetch [%d, %d] and import [%d, %d] out of order",
				r.Height, r.StartMonoNS, r.FetchEndMonoNS, r.ImportStartMonoNS, r.EndMonoNS)
		}
		if i > 0 && (r.StartMonoNS < recs[i-1].FetchEndMonoNS || r.ImportStartMonoNS < recs[i-1].EndMonoNS) {
			t.Errorf("block %d: its fetch or import overlaps block %d's", r.Height, recs[i-1].Height)
		}
		if !peers[r.Peer] {
			t.Errorf("block %d: peer %s is not one of the listeners %v", r.Height, r.Peer, n.peers)
		}
		if r.TIDFirst <= 0 {
			t.Errorf("block %d: tid_first %d", r.Height, r.TIDFirst)
		}
		if len(r.Cookies) != len(n.peers) {
			t.Errorf("block %d: %d cookies, want one per peer connection (%d)", r.Height, len(r.Cookies), len(n.peers))
			continue
		}
		seen := make(map[uint64]bool)
		for _, c := range r.Cookies {
			if c == 0 || seen[c] {
				t.Errorf("block %d: cookies %v: zero or repeated", r.Height, r.Cookies)
			}
			seen[c] = true
		}
	}
	return recs
}

// checkFetchConns checks, over records in height order, that each peer's blocks were fetched
// over one connection (reconnectEvery 0) or a new one after every reconnectEvery blocks, and
// that no connection serves two peers or comes back after it was replaced.
func checkFetchConns(t *testing.T, recs []TruthRecord, reconnectEvery int) {
	t.Helper()
	type conn struct {
		cookie uint64
		blocks int
	}
	current := make(map[string]*conn) // peer → the syncer's fetch conn to it
	owner := make(map[uint64]string)  // cookie → peer
	for _, r := range recs {
		if len(r.Cookies) == 0 {
			t.Fatalf("block %d: no cookies", r.Height)
		}
		cookie := r.Cookies[0]
		c := current[r.Peer]
		switch {
		case c != nil && c.cookie == cookie:
			c.blocks++
			if reconnectEvery > 0 && c.blocks > reconnectEvery {
				t.Errorf("block %d: conn %d to %s fetched %d blocks, want a redial after %d", r.Height, cookie, r.Peer, c.blocks, reconnectEvery)
			}
			continue
		case c != nil && reconnectEvery == 0:
			t.Errorf("block %d: fetch conn to %s changed from %d to %d without -reconnect-every", r.Height, r.Peer, c.cookie, cookie)
		case c != nil && c.blocks < reconnectEvery:
			t.Errorf("block %d: fetch conn to %s redialed after %d blocks, want %d", r.Height, r.Peer, c.blocks, reconnectEvery)
		}
		if p, ok := owner[cookie]; ok {
			t.Errorf("block %d: conn %d to %s was already a conn to %s", r.Height, cookie, r.Peer, p)
		}
		owner[cookie] = r.Peer
		current[r.Peer] = &conn{cookie: cookie, blocks: 1}
	}
}

func TestNodeProfilesTraceAndInterrupt(t *testing.T) {
	n := runNode(t, "-peers", "3", "-slow-peer", "1", "-slow-peer-delay", "5ms",
		"-gc-pressure", "-verify-cost", "2", "-queue", "4", "-fsync-every", "2")
	p, tr := n.collect(t)
	checkProfile(t, p)
	checkTrace(t, tr)
	monoHi := n.interrupt(t)
	recs := checkTruth(t, n, monoHi)
	checkFetchConns(t, recs, 0)
	if len(recs) < 5 {
		t.Errorf("only %d blocks imported in over a second", len(recs))
	}
	for _, r := range recs {
		if r.TraceID != "" {
			t.Fatalf("block %d has trace id %s without OTel", r.Height, r.TraceID)
		}
	}
}

func TestNodeStopsAfterBlocks(t *testing.T) {
	const blocks = 40
	n := runNode(t, "-peers", "3", "-blocks", fmt.Sprint(blocks), "-queue", "2", "-fsync-every", "4")
	monoHi := n.waitExit(t, 60*time.Second)
	recs := checkTruth(t, n, monoHi)
	if len(recs) != blocks {
		t.Errorf("%d truth records, want %d", len(recs), blocks)
	}
	checkFetchConns(t, recs, 0)
	if out := n.stdout(); !strings.Contains(out, fmt.Sprintf("summary: imported %d blocks", blocks)) {
		t.Errorf("no summary of %d blocks in:\n%s", blocks, out)
	}
}

func TestNodeOTelMode(t *testing.T) {
	// A port nobody listens on: exports fail, the node must not care.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	ln.Close()

	n := runNode(t, "-peers", "3", "-otlp-endpoint", closed)
	p, tr := n.collect(t)
	checkTrace(t, tr)
	monoHi := n.interrupt(t)
	recs := checkTruth(t, n, monoHi)
	checkFetchConns(t, recs, 0)

	hex32 := regexp.MustCompile(`^[0-9a-f]{32}$`)
	hex16 := regexp.MustCompile(`^[0-9a-f]{16}$`)
	byHeight := make(map[string]TruthRecord)
	traceIDs := make(map[string]bool)
	for _, r := range recs {
		if !hex32.MatchString(r.TraceID) || !hex16.MatchString(r.SpanID) {
			t.Fatalf("block %d: trace id %q span id %q", r.Height, r.TraceID, r.SpanID)
		}
		if traceIDs[r.TraceID] {
			t.Errorf("block %d reuses trace id %s", r.Height, r.TraceID)
		}
		traceIDs[r.TraceID] = true
		byHeight[fmt.Sprint(r.Height)] = r
	}

	matched := 0
	for id := range tr.tasks {
		logs := tr.logs[id]
		r, ok := byHeight[logs["height"]]
		if !ok || logs["otel.trace_id"] == "" {
			continue // not imported before the interrupt, or begun before the trace
		}
		if logs["otel.trace_id"] != r.TraceID || logs["otel.span_id"] != r.SpanID {
			t.Errorf("block %s: trace logs ids %s/%s, truth has %s/%s",
				logs["height"], logs["otel.trace_id"], logs["otel.span_id"], r.TraceID, r.SpanID)
		}
		matched++
	}
	if matched == 0 {
		t.Error("no importBlock task in the trace logs an otel.trace_id found in the truth file")
	}

	labeled := 0
	for _, s := range p.Sample {
		ids, heights := s.Label["otel.trace_id"], s.Label["height"]
		if len(ids) == 0 || len(heights) == 0 {
			continue
		}
		if r, ok := byHeight[heights[0]]; ok && r.TraceID != ids[0] {
			t.Errorf("sample of block %s labeled with trace id %s, truth has %s", heights[0], ids[0], r.TraceID)
		}
		labeled++
	}
	if labeled == 0 {
		t.Errorf("none of %d CPU samples has an otel.trace_id label", len(p.Sample))
	}
}
