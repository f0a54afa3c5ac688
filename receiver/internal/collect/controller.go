package collect

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/gostitch/gostitch/receiver/internal/selftel"
	"github.com/gostitch/gostitch/receiver/internal/target"
)

// TargetSpec is one target as the controller sees it.
type TargetSpec struct {
	Name     string
	Endpoint string       // net/http/pprof base URL; empty for file-only targets
	Client   *http.Client // used when Endpoint is set
	// Timeout is the allowance added to each request's own duration.
	Timeout    time.Duration
	PID        int // 0: resolve from the endpoint's listening socket
	PprofFiles []string
	TraceFiles []string
}

// Settings are the collection parameters shared by all targets.
type Settings struct {
	Interval      time.Duration
	CPUDuration   time.Duration
	TraceDuration time.Duration // 0: no execution trace
	// TraceBudgetBytes shortens a target's execution trace so that, at the byte rate of its
	// last trace, it holds about this many bytes (see traceLength); 0 never shortens it.
	TraceBudgetBytes int64
	// Profiles are the profile kinds to scrape (cpu, heap, allocs, goroutine, block, mutex).
	Profiles []string
	Limits   Limits
	// SpoolDir holds traces while a window is consumed; os.TempDir() when empty.
	SpoolDir string
	Host     string
	// ProcRoot is where /proc is mounted.
	ProcRoot string
	// OnTraceStart is called before each execution trace of a target is scraped; the window
	// calls the release it returns once it has been consumed (nil: not called).
	OnTraceStart func(target string) (release func())
	// OnPID is called when a target's pid becomes known: at Start for each configured pid, then
	// from the target's goroutine when its pid is resolved or changes, with 0 when the process is
	// gone and none took its place. pids holds every target's current pid (none of them 0). The
	// calls are serialised, so the last one holds the latest set (nil: not called).
	OnPID func(target string, pid int, pids []int)
}

// Controller runs one collection loop per target and hands each window to the sink. It holds
// each target's current pid, which the loops resolve and OnPID reports.
type Controller struct {
	settings Settings
	targets  []TargetSpec
	sink     Sink
	logger   *zap.Logger
	tel      *selftel.Telemetry
	resolver *PIDResolver

	pidsMu sync.Mutex
	pids   map[string]int // target name → current pid (0 or absent: unknown)

	cancel context.CancelFunc
	wg     sync.WaitGroup
	done   chan struct{} // closed when the loops have ended
}

// New creates a controller; Start runs it.
func New(settings Settings, targets []TargetSpec, sink Sink, logger *zap.Logger, tel *selftel.Telemetry) *Controller {
	if settings.ProcRoot == "" {
		settings.ProcRoot = "/proc"
	}
	return &Controller{settings: settings, targets: targets, sink: sink, logger: logger, tel: tel,
		resolver: NewPIDResolver(settings.ProcRoot), pids: map[string]int{}}
}

// Start begins collecting. The targets' first windows are spread over the interval, in the
// order of the targets, the first starting now, so that their scrapes and conversions do not
// all coincide.
func (c *Controller) Start() {
	ctx, cancel := context.WithCancel(context.Background())
	c.cancel, c.done = cancel, make(chan struct{})
	for _, spec := range c.targets {
		if spec.PID > 0 {
			c.setPID(spec.Name, spec.PID)
		}
	}
	for i, spec := range c.targets {
		t := c.newTargetLoop(spec)
		t.firstDelay = staggered(i, len(c.targets), c.settings.Interval)
		c.wg.Go(func() { t.run(ctx) })
	}
	go func() {
		c.wg.Wait()
		close(c.done)
	}()
}

// Shutdown stops all loops, aborting the requests and conversions in flight (the sink's
// context is cancelled), and waits for them until ctx is done. Done says when they have ended.
func (c *Controller) Shutdown(ctx context.Context) error {
	if c.cancel == nil {
		return nil
	}
	c.cancel()
	select {
	case <-c.done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("stop collection: windows still being converted: %w", ctx.Err())
	}
}

// Done is closed once every loop of a started controller has ended.
func (c *Controller) Done() <-chan struct{} { return c.done }

// staggered is the delay of the first window of target i of n: i/n of the interval.
func staggered(i, n int, interval time.Duration) time.Duration {
	return interval * time.Duration(i) / time.Duration(n)
}

// targetLoop collects the windows of one target.
type targetLoop struct {
	c          *Controller
	spec       TargetSpec
	firstDelay time.Duration // from Start to the first window
	scraper    *scraper
	pprofFiles *fileTracker
	traceFiles *fileTracker
	logger     *zap.Logger
	// traceRate is the byte rate of the target's last execution trace, 0 before the first.
	traceRate float64
	// shortened says whether the last trace was shorter than TraceDuration.
	shortened bool
}

// newTargetLoop prepares the loop of one target; its files are tracked from now on.
func (c *Controller) newTargetLoop(spec TargetSpec) *targetLoop {
	logger := c.logger.With(zap.String("target", spec.Name))
	t := &targetLoop{c: c, spec: spec, logger: logger,
		pprofFiles: newFileTracker(spec.PprofFiles, logger), traceFiles: newFileTracker(spec.TraceFiles, logger)}
	if spec.Endpoint != "" {
		t.scraper = &scraper{client: spec.Client, base: spec.Endpoint, timeout: spec.Timeout,
			limits: c.settings.Limits, spoolDir: c.settings.SpoolDir}
	}
	return t
}

// run collects the target's windows. A second goroutine finishes each window (point-in-time
// profiles, files, conversion) while this one starts the next CPU profile and execution trace
// on the tick, so a trace as long as the interval leaves no gap however long conversion takes.
// The hand-off is unbuffered: at most one window is finished while the next is gathered.
// The first window starts after firstDelay.
func (t *targetLoop) run(ctx context.Context) {
	first := time.NewTimer(t.firstDelay)
	defer first.Stop()
	select {
	case <-ctx.Done():
		return
	case <-first.C:
	}
	windows := make(chan *Window)
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		for w := range windows {
			t.finish(ctx, w)
		}
	}()
	defer func() {
		close(windows)
		<-finished
	}()
	ticker := time.NewTicker(t.c.settings.Interval)
	defer ticker.Stop()
	for {
		w := t.begin(ctx)
		select {
		case windows <- w:
		case <-ctx.Done():
			w.Release(t.logger)
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
	}
}

// begin gathers what spans a window: it resolves the pid, then runs the CPU profile and the
// execution trace; End is when they are done.
func (t *targetLoop) begin(ctx context.Context) *Window {
	w := &Window{Target: target.Identity{Name: t.spec.Name, Host: t.c.settings.Host}, Start: time.Now()}
	if t.scraper != nil {
		w.Origin = OriginScrape
		t.resolvePID()
		t.scrapeSpan(ctx, w)
	}
	w.End = time.Now()
	w.Target.PID = t.c.PID(t.spec.Name)
	return w
}

// finish adds the point-in-time profiles and the files to a window, hands it to the sink and
// releases it. Failures of single inputs are logged and counted; whatever was gathered is
// still delivered.
func (t *targetLoop) finish(ctx context.Context, w *Window) {
	defer w.Release(t.logger)
	if t.scraper != nil {
		t.scrapeSnapshots(ctx, w)
	}
	if len(t.spec.PprofFiles)+len(t.spec.TraceFiles) > 0 {
		if w.Origin == "" {
			w.Origin = OriginFile
		}
		t.readFiles(ctx, w)
	}
	if ctx.Err() != nil || (len(w.Profiles) == 0 && len(w.Traces) == 0) {
		return
	}
	if err := t.c.sink.ConsumeWindow(ctx, w); err != nil && ctx.Err() == nil {
		t.logger.Warn("Window not fully converted", zap.Error(err))
	}
}

// resolvePID finds the process behind the endpoint when no pid is configured, and follows
// restarts: a pid that no longer exists is resolved again.
func (t *targetLoop) resolvePID() {
	old := t.c.PID(t.spec.Name)
	if t.spec.PID != 0 || (old != 0 && ProcessAlive(t.c.settings.ProcRoot, old)) {
		return
	}
	pid, err := t.c.resolver.ListenerPID(t.spec.Endpoint)
	if err != nil {
		if old != 0 {
			t.logger.Warn("Target process is gone and no process listens on its endpoint", zap.Int("old_pid", old), zap.Error(err))
			t.c.setPID(t.spec.Name, 0)
		} else {
			t.logger.Debug("Cannot resolve the target's pid; eBPF and pid attributes stay off", zap.Error(err))
		}
		return
	}
	if pid != old {
		t.logger.Info("Resolved target pid", zap.Int("pid", pid))
		t.c.setPID(t.spec.Name, pid)
	}
}

// PID returns target's current pid, 0 when unknown.
func (c *Controller) PID(target string) int {
	c.pidsMu.Lock()
	defer c.pidsMu.Unlock()
	return c.pids[target]
}

// setPID records target's pid (0: none) and tells OnPID, holding the lock so that the calls
// are serialised.
func (c *Controller) setPID(target string, pid int) {
	c.pidsMu.Lock()
	defer c.pidsMu.Unlock()
	c.pids[target] = pid
	if c.settings.OnPID == nil {
		return
	}
	var pids []int
	for _, p := range c.pids {
		if p > 0 {
			pids = append(pids, p)
		}
	}
	c.settings.OnPID(target, pid, pids)
}

// scrapeSpan runs the CPU profile and the execution trace together, so the trace carries the
// CPU samples.
func (t *targetLoop) scrapeSpan(ctx context.Context, w *Window) {
	s := t.c.settings
	var wg sync.WaitGroup
	var cpu Profile
	var cpuErr error
	wantCPU := slices.Contains(s.Profiles, "cpu")
	if wantCPU {
		wg.Go(func() { cpu, cpuErr = t.scraper.profile(ctx, "cpu", s.CPUDuration) })
	}
	if s.TraceDuration > 0 {
		if s.OnTraceStart != nil {
			w.releases = append(w.releases, s.OnTraceStart(t.spec.Name))
		}
		d := t.traceLength(ctx)
		tr, err := t.scraper.trace(ctx, d)
		t.record(ctx, "trace", tr.Size, err)
		if err == nil {
			w.Traces = append(w.Traces, tr)
			t.traceRate = float64(tr.Size) / d.Seconds()
		}
	}
	wg.Wait()
	if wantCPU {
		t.record(ctx, "cpu", int64(len(cpu.Data)), cpuErr)
		if cpuErr == nil {
			w.Profiles = append(w.Profiles, cpu)
		}
	}
}

// minTraceLength is the shortest execution trace a budget shortens a trace to: the runtime
// starts a new generation of the trace about every second, and a shorter trace holds little
// more than the goroutine states every generation begins with.
const minTraceLength = time.Second

// traceLength is the length of the target's next execution trace: TraceDuration, shortened
// when the last trace's byte rate would take it over TraceBudgetBytes, to a multiple of 100 ms
// and no less than minTraceLength. It logs when a target's trace is first shortened, and when
// it is no longer, and records the length in the self-telemetry.
func (t *targetLoop) traceLength(ctx context.Context) time.Duration {
	s := t.c.settings
	d := s.TraceDuration
	if s.TraceBudgetBytes > 0 && t.traceRate > 0 {
		fits := time.Duration(float64(s.TraceBudgetBytes) / t.traceRate * float64(time.Second)).Truncate(100 * time.Millisecond)
		d = min(d, max(fits, minTraceLength))
	}
	if shortened := d < s.TraceDuration; shortened != t.shortened {
		t.shortened = shortened
		t.logger.Info("Execution trace length set by trace.budget_bytes",
			zap.Duration("length", d), zap.Duration("trace_duration", s.TraceDuration),
			zap.Int64("budget_bytes", s.TraceBudgetBytes), zap.Float64("last_trace_bytes_per_second", t.traceRate))
	}
	t.c.tel.TraceLength(ctx, t.spec.Name, d)
	return d
}

// scrapeSnapshots fetches the point-in-time profiles (all but cpu) at the end of a window.
func (t *targetLoop) scrapeSnapshots(ctx context.Context, w *Window) {
	for _, kind := range t.c.settings.Profiles {
		if kind == "cpu" || ctx.Err() != nil {
			continue
		}
		p, err := t.scraper.profile(ctx, kind, 0)
		t.record(ctx, kind, int64(len(p.Data)), err)
		if err == nil {
			w.Profiles = append(w.Profiles, p)
		}
	}
}

// readFiles adds the pprof and trace files of the target that are new or changed and whole.
func (t *targetLoop) readFiles(ctx context.Context, w *Window) {
	limits := t.c.settings.Limits
	files, err := t.pprofFiles.changed()
	t.recordErr(ctx, "pprof_file", err)
	for _, f := range files {
		data, whole, err := readWhole(f, limits.MaxProfileBytes, "limits.max_profile_bytes")
		if err == nil && !whole {
			t.logger.Debug("File changed while read; read again next window", zap.String("path", f.path))
			t.pprofFiles.unread(f.path)
			continue
		}
		t.record(ctx, "pprof_file", int64(len(data)), err)
		if err == nil {
			w.Profiles = append(w.Profiles, Profile{From: f.path, Data: data})
		}
	}
	files, err = t.traceFiles.changed()
	t.recordErr(ctx, "trace_file", err)
	for _, f := range files {
		if f.size > limits.MaxTraceBytes {
			t.record(ctx, "trace_file", 0, fmt.Errorf("trace file %s: larger than limits.max_trace_bytes (%d)", f.path, limits.MaxTraceBytes))
			continue
		}
		t.record(ctx, "trace_file", f.size, nil)
		w.Traces = append(w.Traces, NewFileTrace(f.path, f.size))
	}
}

// record counts one collection step and logs its failure with the target's name.
func (t *targetLoop) record(ctx context.Context, kind string, n int64, err error) {
	t.c.tel.Collection(ctx, t.spec.Name, kind, err)
	if err == nil {
		t.c.tel.BytesRead(ctx, t.spec.Name, kind, n)
		return
	}
	if errors.Is(err, context.Canceled) && ctx.Err() != nil {
		return // shutting down
	}
	t.logger.Warn("Collection failed", zap.String("kind", kind), zap.Error(err))
}

// recordErr counts and logs a failed step that read nothing; a nil err records nothing.
func (t *targetLoop) recordErr(ctx context.Context, kind string, err error) {
	if err != nil {
		t.record(ctx, kind, 0, err)
	}
}
