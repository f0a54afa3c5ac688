package collect

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/pprof"
	"os"
	"path/filepath"
	"runtime"
	rpprof "runtime/pprof"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.uber.org/goleak"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/gostitch/gostitch/receiver/internal/selftel"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// chanSink hands each window's inputs to the test, reading traces before they are removed.
type chanSink chan recorded

type recorded struct {
	w         *Window
	traceHead [][]byte
	tracePath []string
}

func (s chanSink) ConsumeWindow(_ context.Context, w *Window) error {
	rec := recorded{w: w}
	for _, tr := range w.Traces {
		rc, err := tr.Open()
		if err != nil {
			return err
		}
		head := make([]byte, 16)
		n, _ := io.ReadFull(rc, head)
		rc.Close()
		rec.traceHead = append(rec.traceHead, head[:n])
		rec.tracePath = append(rec.tracePath, tr.path)
	}
	s <- rec
	return nil
}

// sinkFunc consumes windows with a function.
type sinkFunc func(ctx context.Context, w *Window) error

func (f sinkFunc) ConsumeWindow(ctx context.Context, w *Window) error { return f(ctx, w) }

// pprofServer serves this test process's own net/http/pprof on loopback: real profiles and traces.
func pprofServer(t *testing.T) *httptest.Server {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

func newTestController(t *testing.T, settings Settings, targets []TargetSpec, sink Sink) (*Controller, *observer.ObservedLogs) {
	core, logs := observer.New(zap.DebugLevel)
	tel, err := selftel.New(componenttest.NewNopTelemetrySettings())
	require.NoError(t, err)
	if settings.Limits == (Limits{}) {
		settings.Limits = Limits{MaxProfileBytes: 64 << 20, MaxTraceBytes: 64 << 20}
	}
	if settings.SpoolDir == "" {
		settings.SpoolDir = t.TempDir()
	}
	c := New(settings, targets, sink, zap.New(core), tel)
	return c, logs
}

func receive(t *testing.T, sink chanSink, within time.Duration) recorded {
	t.Helper()
	select {
	case rec := <-sink:
		return rec
	case <-time.After(within):
		t.Fatalf("no window within %v", within)
		return recorded{}
	}
}

func TestScrapeWindowCarriesEveryInput(t *testing.T) {
	runtime.SetBlockProfileRate(1)
	runtime.SetMutexProfileFraction(1)
	t.Cleanup(func() { runtime.SetBlockProfileRate(0); runtime.SetMutexProfileFraction(0) })
	srv := pprofServer(t)
	sink := make(chanSink, 4)
	var resolved []int
	c, _ := newTestController(t, Settings{
		Interval: 10 * time.Second, CPUDuration: time.Second, TraceDuration: time.Second,
		Profiles: []string{"cpu", "heap", "allocs", "goroutine", "block", "mutex"},
		OnPID:    func(_ string, pid int, _ []int) { resolved = append(resolved, pid) },
	}, []TargetSpec{{Name: "self", Endpoint: srv.URL, Client: srv.Client(), Timeout: 5 * time.Second}}, sink)
	c.Start()
	rec := receive(t, sink, 20*time.Second)
	require.NoError(t, c.Shutdown(context.Background()))

	w := rec.w
	assert.Equal(t, "self", w.Target.Name)
	assert.Equal(t, OriginScrape, w.Origin)
	assert.Equal(t, os.Getpid(), w.Target.PID, "pid resolved from the listening socket")
	assert.Equal(t, []int{os.Getpid()}, resolved)
	assert.GreaterOrEqual(t, w.End.Sub(w.Start), time.Second, "the window spans the CPU profile")
	var kinds []string
	for _, p := range w.Profiles {
		kinds = append(kinds, p.Kind)
		assert.True(t, bytes.HasPrefix(p.Data, []byte{0x1f, 0x8b}), "%s profile is gzip-compressed pprof", p.Kind)
	}
	assert.Equal(t, []string{"cpu", "heap", "allocs", "goroutine", "block", "mutex"}, kinds)
	require.Len(t, rec.traceHead, 1)
	assert.True(t, bytes.HasPrefix(rec.traceHead[0], []byte("go 1.")), "execution trace header, got %q", rec.traceHead[0])
	assert.NoFileExists(t, rec.tracePath[0], "spooled trace removed after the window was consumed")
}

func TestFailingTargetsDoNotStopOthers(t *testing.T) {
	good := pprofServer(t)
	html := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		io.WriteString(w, "<html>not pprof</html>")
	}))
	defer html.Close()
	missing := httptest.NewServer(http.NotFoundHandler())
	defer missing.Close()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	down := "http://" + l.Addr().String()
	l.Close()

	sink := make(chanSink, 8)
	c, logs := newTestController(t, Settings{Interval: 10 * time.Second, Profiles: []string{"heap", "goroutine"}},
		[]TargetSpec{ // first windows 2.5s apart
			{Name: "good", Endpoint: good.URL, Client: good.Client(), Timeout: 2 * time.Second},
			{Name: "down", Endpoint: down, Client: http.DefaultClient, Timeout: 2 * time.Second},
			{Name: "html", Endpoint: html.URL, Client: html.Client(), Timeout: 2 * time.Second},
			{Name: "missing", Endpoint: missing.URL, Client: missing.Client(), Timeout: 2 * time.Second},
		}, sink)
	c.Start()
	rec := receive(t, sink, 10*time.Second)
	// Two profiles of each of the three failing targets.
	require.Eventually(t, func() bool { return logs.FilterMessage("Collection failed").Len() == 6 }, 10*time.Second, 20*time.Millisecond)
	require.NoError(t, c.Shutdown(context.Background()))
	assert.Equal(t, "good", rec.w.Target.Name)
	assert.Len(t, rec.w.Profiles, 2)

	failures := map[string]string{}
	for _, e := range logs.FilterMessage("Collection failed").All() {
		failures[e.ContextMap()["target"].(string)] = e.ContextMap()["error"].(string)
	}
	assert.Contains(t, failures["down"], "connection refused")
	assert.Contains(t, failures["html"], "answered text/html, not profile data")
	assert.Contains(t, failures["missing"], "status 404 Not Found")
	assert.NotContains(t, failures, "good")
}

func TestScrapeTimeoutIsNamed(t *testing.T) {
	block := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-block:
		case <-r.Context().Done():
		}
	}))
	defer slow.Close()
	defer close(block)
	sink := make(chanSink, 1)
	c, logs := newTestController(t, Settings{Interval: time.Minute, Profiles: []string{"heap"}},
		[]TargetSpec{{Name: "slow", Endpoint: slow.URL, Client: slow.Client(), Timeout: 300 * time.Millisecond}}, sink)
	c.Start()
	require.Eventually(t, func() bool { return logs.FilterMessage("Collection failed").Len() > 0 }, 10*time.Second, 20*time.Millisecond)
	require.NoError(t, c.Shutdown(context.Background()))
	assert.Contains(t, logs.FilterMessage("Collection failed").All()[0].ContextMap()["error"], "no complete answer within 300ms")
	assert.Empty(t, sink, "a window with nothing in it is not delivered")
}

func TestTraceOverLimitIsRejected(t *testing.T) {
	srv := pprofServer(t)
	sink := make(chanSink, 1)
	c, logs := newTestController(t, Settings{Interval: time.Minute, TraceDuration: 500 * time.Millisecond,
		Limits: Limits{MaxProfileBytes: 1 << 20, MaxTraceBytes: 64}},
		[]TargetSpec{{Name: "self", Endpoint: srv.URL, Client: srv.Client(), Timeout: 5 * time.Second}}, sink)
	c.Start()
	require.Eventually(t, func() bool { return logs.FilterMessage("Collection failed").Len() > 0 }, 10*time.Second, 20*time.Millisecond)
	require.NoError(t, c.Shutdown(context.Background()))
	assert.Contains(t, logs.FilterMessage("Collection failed").All()[0].ContextMap()["error"], "trace larger than limits.max_trace_bytes (64)")
}

// TestTraceBudgetShortensTheNextTrace: once a trace of the target has shown its byte rate, the
// next trace asks net/http/pprof for only as long as trace.budget_bytes allows (here less than
// the floor, so minTraceLength), and the change is logged once.
func TestTraceBudgetShortensTheNextTrace(t *testing.T) {
	srv := pprofServer(t)
	sink := make(chanSink, 2)
	c, logs := newTestController(t, Settings{Interval: 2500 * time.Millisecond, TraceDuration: 2 * time.Second, TraceBudgetBytes: 1},
		[]TargetSpec{{Name: "self", Endpoint: srv.URL, Client: srv.Client(), Timeout: 5 * time.Second}}, sink)
	c.Start()
	first, second := receive(t, sink, 10*time.Second), receive(t, sink, 10*time.Second)
	require.NoError(t, c.Shutdown(context.Background()))
	require.Len(t, first.w.Traces, 1)
	require.Len(t, second.w.Traces, 1)
	assert.Contains(t, first.w.Traces[0].From, "seconds=2", "the first trace has no rate to go by")
	assert.Contains(t, second.w.Traces[0].From, "seconds=1", "the second trace is cut to the floor")
	changed := logs.FilterMessage("Execution trace length set by trace.budget_bytes").All()
	require.Len(t, changed, 1)
	assert.Equal(t, time.Second, changed[0].ContextMap()["length"])
}

// TestTraceStartHeldUntilReleased: OnTraceStart is called for the target before each trace, and
// what it returns is called once the window has been consumed.
func TestTraceStartHeldUntilReleased(t *testing.T) {
	srv := pprofServer(t)
	var mu sync.Mutex
	var started []string
	held := 0
	heldWhenConsumed := make(chan int, 1)
	sink := sinkFunc(func(context.Context, *Window) error {
		mu.Lock()
		defer mu.Unlock()
		select {
		case heldWhenConsumed <- held:
		default:
		}
		return nil
	})
	c, _ := newTestController(t, Settings{Interval: time.Minute, TraceDuration: 500 * time.Millisecond,
		OnTraceStart: func(target string) func() {
			mu.Lock()
			defer mu.Unlock()
			started = append(started, target)
			held++
			return func() {
				mu.Lock()
				defer mu.Unlock()
				held--
			}
		}},
		[]TargetSpec{{Name: "self", Endpoint: srv.URL, Client: srv.Client(), Timeout: 5 * time.Second}}, sink)
	c.Start()
	select {
	case n := <-heldWhenConsumed:
		assert.Equal(t, 1, n, "held while the window is consumed")
	case <-time.After(10 * time.Second):
		t.Fatal("no window within 10s")
	}
	require.Eventually(t, func() bool { mu.Lock(); defer mu.Unlock(); return held == 0 }, 5*time.Second, 10*time.Millisecond,
		"released once the window was consumed")
	require.NoError(t, c.Shutdown(context.Background()))
	mu.Lock()
	defer mu.Unlock()
	assert.Equal(t, []string{"self"}, started)
}

// TestTraceLength: the next trace holds about trace.budget_bytes at the last trace's byte rate,
// in steps of 100 ms, between minTraceLength and trace.duration; without a budget or a rate
// it is trace.duration. Each change between full and shortened is logged.
func TestTraceLength(t *testing.T) {
	for _, tc := range []struct {
		name   string
		budget int64
		rate   float64
		want   time.Duration
	}{
		{"first trace", 8 << 20, 0, 10 * time.Second},
		{"no budget", 0, 50e6, 10 * time.Second},
		{"quiet target", 8 << 20, 100e3, 10 * time.Second},
		{"busy target", 8 << 20, 2e6, 4100 * time.Millisecond}, // 8,388,608 B at 2 MB/s: 4.19 s
		{"very busy target", 8 << 20, 1e9, minTraceLength},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, _ := newTestController(t, Settings{TraceDuration: 10 * time.Second, TraceBudgetBytes: tc.budget}, nil, nil)
			loop := c.newTargetLoop(TargetSpec{Name: "app"})
			loop.traceRate = tc.rate
			assert.Equal(t, tc.want, loop.traceLength(context.Background()))
		})
	}
	c, logs := newTestController(t, Settings{TraceDuration: 10 * time.Second, TraceBudgetBytes: 8 << 20}, nil, nil)
	loop := c.newTargetLoop(TargetSpec{Name: "app"})
	for _, rate := range []float64{2e6, 3e6, 100e3, 100e3, 2e6} {
		loop.traceRate = rate
		loop.traceLength(context.Background())
	}
	var lengths []time.Duration
	for _, e := range logs.FilterMessage("Execution trace length set by trace.budget_bytes").All() {
		lengths = append(lengths, e.ContextMap()["length"].(time.Duration))
	}
	assert.Equal(t, []time.Duration{4100 * time.Millisecond, 10 * time.Second, 4100 * time.Millisecond}, lengths,
		"logged when shortened, when full again, and when shortened again; not for every window")
}

func TestFilesAreReadOnceAndAgainWhenChanged(t *testing.T) {
	dir := t.TempDir()
	var buf bytes.Buffer
	require.NoError(t, rpprof.Lookup("heap").WriteTo(&buf, 0))
	heap := filepath.Join(dir, "a.pprof")
	require.NoError(t, os.WriteFile(heap, buf.Bytes(), 0o644))
	traceFile := filepath.Join(dir, "x.trace")
	require.NoError(t, os.WriteFile(traceFile, []byte("go 1.26 trace\x00\x00\x00"), 0o644))

	sink := make(chanSink, 4)
	c, _ := newTestController(t, Settings{Interval: 100 * time.Millisecond},
		[]TargetSpec{{Name: "offline", PID: 42, PprofFiles: []string{filepath.Join(dir, "*.pprof")}, TraceFiles: []string{filepath.Join(dir, "*.trace")}}}, sink)
	c.Start()
	first := receive(t, sink, 5*time.Second)
	assert.Equal(t, OriginFile, first.w.Origin)
	assert.Equal(t, 42, first.w.Target.PID)
	require.Len(t, first.w.Profiles, 1)
	assert.Equal(t, buf.Bytes(), first.w.Profiles[0].Data)
	require.Len(t, first.w.Traces, 1)
	assert.Equal(t, traceFile, first.w.Traces[0].From)

	time.Sleep(300 * time.Millisecond)
	assert.Empty(t, sink, "unchanged files are not read again")

	require.NoError(t, os.WriteFile(heap, append(buf.Bytes(), buf.Bytes()...), 0o644))
	second := receive(t, sink, 5*time.Second)
	require.NoError(t, c.Shutdown(context.Background()))
	require.Len(t, second.w.Profiles, 1)
	assert.Len(t, second.w.Profiles[0].Data, 2*buf.Len())
	assert.Empty(t, second.w.Traces)
	assert.FileExists(t, traceFile, "the user's trace file is never removed")
}

// TestRewrittenFileIsReadOnceWhole: a program rewrites a watched profile (truncate, then write in
// two chunks); the collections in between emit nothing for it, the one after it stopped changing
// reads it whole, once.
func TestRewrittenFileIsReadOnceWhole(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a.pprof")
	written := func(data string) {
		t.Helper()
		require.NoError(t, os.WriteFile(path, []byte(data), 0o644))
		// A write in progress has an mtime after the last look: the file system's clock is
		// coarser than time.Now, so set it to be sure.
		later := time.Now().Add(time.Second)
		require.NoError(t, os.Chtimes(path, later, later))
	}
	require.NoError(t, os.WriteFile(path, []byte("v1"), 0o644))
	c, logs := newTestController(t, Settings{}, nil, nil)
	loop := c.newTargetLoop(TargetSpec{Name: "offline", PprofFiles: []string{path}})
	collect := func() (got []string) {
		t.Helper()
		w := &Window{}
		loop.readFiles(context.Background(), w)
		for _, p := range w.Profiles {
			got = append(got, string(p.Data))
		}
		return got
	}
	assert.Equal(t, []string{"v1"}, collect(), "a file last written before the loop started is read at once")

	require.NoError(t, os.Truncate(path, 0))
	assert.Empty(t, collect(), "an empty file is no window input")
	assert.Empty(t, collect(), "nor is it one later")
	written("v2, first chunk")
	assert.Empty(t, collect(), "a file written since the last look may be cut")
	written("v2, first chunk, second chunk")
	assert.Empty(t, collect(), "still changing")
	assert.Equal(t, []string{"v2, first chunk, second chunk"}, collect(), "unchanged since the last look: read whole")
	assert.Empty(t, collect(), "and only once")

	held := logs.FilterMessage("File is empty or being written; looked at again next window").All()
	require.Len(t, held, 3, "one debug line per state held back")
	assert.Equal(t, path, held[0].ContextMap()["path"])
}

func TestListenerPID(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	pid, err := NewPIDResolver("/proc").ListenerPID("http://" + l.Addr().String())
	require.NoError(t, err)
	assert.Equal(t, os.Getpid(), pid)

	addr := l.Addr().String()
	l.Close()
	_, err = NewPIDResolver("/proc").ListenerPID("http://" + addr)
	assert.ErrorContains(t, err, "no process listens on TCP port")
}

// TestListenerPIDShared: many targets resolving at once through one resolver (as at start)
// each find their process, also for sockets opened after the resolver's last scan.
func TestListenerPIDShared(t *testing.T) {
	r := NewPIDResolver("/proc")
	for round := range 2 { // the second round's sockets are new to the index the first built
		var addrs []string
		for range 16 {
			l, err := net.Listen("tcp", "127.0.0.1:0")
			require.NoError(t, err)
			defer l.Close()
			addrs = append(addrs, "http://"+l.Addr().String())
		}
		var wg sync.WaitGroup
		for _, a := range addrs {
			wg.Go(func() {
				pid, err := r.ListenerPID(a)
				assert.NoError(t, err, "round %d: %s", round, a)
				assert.Equal(t, os.Getpid(), pid, "round %d: %s", round, a)
			})
		}
		wg.Wait()
	}
}

// slowSink is a chanSink whose conversion takes delay (or until shutdown).
type slowSink struct {
	chanSink
	delay time.Duration
}

func (s slowSink) ConsumeWindow(ctx context.Context, w *Window) error {
	err := s.chanSink.ConsumeWindow(ctx, w)
	select {
	case <-time.After(s.delay):
	case <-ctx.Done():
	}
	return err
}

// TestSlowConversionLeavesNoGap: with a trace as long as the interval, the next window starts
// as soon as the last one's trace ended, while the last one is still being converted.
func TestSlowConversionLeavesNoGap(t *testing.T) {
	srv := pprofServer(t)
	sink := slowSink{chanSink: make(chanSink, 4), delay: 3 * time.Second}
	c, _ := newTestController(t, Settings{Interval: time.Second, TraceDuration: time.Second, Profiles: []string{"heap"}},
		[]TargetSpec{{Name: "self", Endpoint: srv.URL, Client: srv.Client(), Timeout: 5 * time.Second}}, sink)
	c.Start()
	first := receive(t, sink.chanSink, 10*time.Second)
	second := receive(t, sink.chanSink, 10*time.Second)
	require.NoError(t, c.Shutdown(context.Background()))

	require.Len(t, first.w.Traces, 1)
	require.Len(t, second.w.Traces, 1)
	assert.Equal(t, "heap", first.w.Profiles[0].Kind, "point-in-time profiles still come with their window")
	assert.False(t, second.w.Start.Before(first.w.End), "windows do not overlap")
	assert.Less(t, second.w.Start.Sub(first.w.End), 1500*time.Millisecond,
		"the second window started while the first was converted (3s), not after")
}

// BenchmarkListenerPID resolves 50 endpoints of this process, through one shared resolver (as
// the controller does) or a fresh resolver each (one fd scan per target).
func BenchmarkListenerPID(b *testing.B) {
	var addrs []string
	for range 50 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(b, err)
		defer l.Close()
		addrs = append(addrs, "http://"+l.Addr().String())
	}
	for _, shared := range []bool{true, false} {
		b.Run(fmt.Sprintf("shared=%v", shared), func(b *testing.B) {
			for b.Loop() {
				r := NewPIDResolver("/proc")
				for _, a := range addrs {
					if !shared {
						r = NewPIDResolver("/proc")
					}
					if _, err := r.ListenerPID(a); err != nil {
						b.Fatal(err)
					}
				}
			}
		})
	}
}

// blockingSink signals each window it gets on started, then blocks until ctx is done, or,
// when stubborn, until release is closed whatever ctx says.
type blockingSink struct {
	started  chan struct{}
	release  chan struct{}
	stubborn bool
}

func (s blockingSink) ConsumeWindow(ctx context.Context, _ *Window) error {
	s.started <- struct{}{}
	if s.stubborn {
		<-s.release
		return nil
	}
	<-ctx.Done()
	return ctx.Err()
}

// TestShutdownCancelsConversionsWithinItsDeadline: Shutdown cancels the context of the window
// being converted and returns once the conversion ended; a conversion that ignores it does not
// hold Shutdown past its context's deadline, and Done tells when it ended.
func TestShutdownCancelsConversionsWithinItsDeadline(t *testing.T) {
	for _, stubborn := range []bool{false, true} {
		t.Run(fmt.Sprintf("stubborn=%v", stubborn), func(t *testing.T) {
			dir := t.TempDir()
			require.NoError(t, os.WriteFile(filepath.Join(dir, "a.pprof"), []byte("profile"), 0o644))
			sink := blockingSink{started: make(chan struct{}, 1), release: make(chan struct{}), stubborn: stubborn}
			c, _ := newTestController(t, Settings{Interval: time.Hour},
				[]TargetSpec{{Name: "files", PprofFiles: []string{filepath.Join(dir, "*.pprof")}}}, sink)
			c.Start()
			<-sink.started

			ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
			defer cancel()
			start := time.Now()
			err := c.Shutdown(ctx)
			assert.Less(t, time.Since(start), 2*time.Second, "Shutdown returns by its deadline")
			if !stubborn {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, context.DeadlineExceeded)
			select {
			case <-c.Done():
				t.Fatal("Done before the conversion ended")
			default:
			}
			close(sink.release)
			<-c.Done()
		})
	}
}
