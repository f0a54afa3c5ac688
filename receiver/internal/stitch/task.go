package stitch

import (
	"io"
	"time"

	"go.opentelemetry.io/collector/pdata/ptrace"
	"golang.org/x/exp/trace"

	"github.com/gostitch/gostitch/internal/appspans"
	"github.com/gostitch/gostitch/receiver/internal/ebpfsrc"
	"github.com/gostitch/gostitch/receiver/internal/metadata"
	"github.com/gostitch/gostitch/receiver/internal/otelid"
	"github.com/gostitch/gostitch/receiver/internal/target"
	"github.com/gostitch/gostitch/receiver/internal/tracesrc"
)

// Defaults of TraceOptions.
const (
	DefaultBatchSpans      = 8192
	DefaultHoldTasks       = 4096
	DefaultCPUSamplePeriod = 10 * time.Millisecond // runtime/pprof's 100 Hz
)

// TraceOptions configure the conversion of execution traces.
type TraceOptions struct {
	// MinSpanDuration is the shortest blocking or syscall episode that becomes a span.
	MinSpanDuration time.Duration
	// StackDepth is how many top frames code.stacktrace holds; 0 means tracesrc.DefaultStackDepth.
	StackDepth int
	// BatchSpans is how many spans are handed to emit at a time; 0 means DefaultBatchSpans.
	BatchSpans int
	// HoldTasks is how many task spans are held back for their exact diagnosis (about 1.5 KB
	// each; see diagnosis.go); 0 means DefaultHoldTasks.
	HoldTasks int
	// CPUSamplePeriod is the CPU time one CPU profile sample stands for; 0 means DefaultCPUSamplePeriod.
	CPUSamplePeriod time.Duration
	// Threads selects the goroutine intervals kept per OS thread (for the eBPF join).
	Threads tracesrc.ThreadIntervals
	// TaskSpans selects the tasks that make spans; the zero value makes one for every task.
	TaskSpans TaskSpans
	// MaxGoroutineSpans bounds the spans of work outside tasks per trace (goroutine_spans.go);
	// 0 makes none and leaves the CPU samples outside tasks out of the profile.
	MaxGoroutineSpans int
	// Metrics builds the metrics the receiver's config turns on (zero: metadata.yaml's defaults).
	Metrics metadata.Builder
}

// TraceConverter turns the windows of one target into spans, metrics and profiles
// (ConvertWindow), joining each window's execution trace and socket events. It carries
// the tasks still open at the end of one trace into the next, so that a task spanning two
// consecutive collection windows keeps its type, start and trace. Traces that do not follow
// each other (FlightRecorder snapshots, which overlap, or unrelated files) each want a fresh
// converter. It is not safe for concurrent use.
type TraceConverter struct {
	id    target.Identity
	opts  TraceOptions
	carry map[trace.TaskID]carried
	// blockedKeys caches the breakdown attribute key of each block reason.
	blockedKeys map[string]string
	// ids is the buffer of id derivations; idPath remembers the ids of the conversion's
	// last tasks.
	ids    otelid.Hash
	idPath taskIDPath
	// app hangs the SDK's tasks under the app's spans.
	app appJoin
}

// NewTraceConverter returns a converter for the traces of the process id.
func NewTraceConverter(id target.Identity, opts TraceOptions) *TraceConverter {
	if opts.BatchSpans <= 0 {
		opts.BatchSpans = DefaultBatchSpans
	}
	if opts.HoldTasks <= 0 {
		opts.HoldTasks = DefaultHoldTasks
	}
	if opts.CPUSamplePeriod <= 0 {
		opts.CPUSamplePeriod = DefaultCPUSamplePeriod
	}
	return &TraceConverter{id: id, opts: opts, blockedKeys: make(map[string]string)}
}

// readTrace reads one execution trace into a conversion: its spans go to emit in batches as
// their tasks complete, except for up to TraceOptions.HoldTasks task spans, held until the
// trace is read so that those slower than the p95 of their type get their diagnosis (see
// diagnosis.go) and memory stays bounded by the open tasks. The conversion is nil when not
// even the trace's header could be read.
func (c *TraceConverter) readTrace(r io.Reader, app appspans.Matcher, b *ebpfsrc.Batch, emit Emit) (*conversion, error) {
	conv := &conversion{c: c, next: make(map[trace.TaskID]carried), diag: newDiagnoser(c.opts.HoldTasks),
		cpu: cpuProfile{period: c.opts.CPUSamplePeriod.Nanoseconds()}, net: newNetReads(b)}
	conv.out = spanWriter{pid: c.id.PID, blockedKeys: c.blockedKeys, batch: spanBatch{id: c.id, size: c.opts.BatchSpans,
		emit: func(td ptrace.Traces) error { return emit(metadata.AttributeSourceGoTrace, td) }}}
	if c.opts.Threads != tracesrc.NoThreadIntervals {
		conv.join = newJoinIndex()
	}
	c.app.spans = app
	c.idPath = c.idPath[:0]
	tl, err := tracesrc.Read(r, tracesrc.Options{
		MinSpanDuration: c.opts.MinSpanDuration,
		StackDepth:      c.opts.StackDepth,
		Threads:         c.opts.Threads,
		Earlier:         c.earlier(),

		MaxGoroutineSpans: c.opts.MaxGoroutineSpans,
	}, conv)
	if tl == nil {
		return nil, err
	}
	conv.tl = tl
	if conv.join != nil {
		conv.join.tl = tl
	}
	return conv, err
}

// finish completes a read trace: the spans of work outside tasks and of the runtime, the held
// task spans diagnosed with their kernel waits (j joins b's events; both nil without socket
// events), the metrics and the CPU profile; it counts them in res and carries the open tasks
// into the next trace.
func (c *TraceConverter) finish(conv *conversion, b *ebpfsrc.Batch, j *joined, res *Result) {
	tl := conv.tl
	conv.goroutineRoots()
	conv.runtimeRoot()
	conv.diag.emitHeld(&conv.out.batch, kernelWaits(b, j))
	conv.out.batch.flush()
	res.Metrics, res.Profiles, res.EmitErr = conv.metrics.build(c, tl), conv.cpu.result(c, tl), conv.out.batch.err
	conv.netMetrics.build(histogramWriter{c: c, tl: tl, metrics: res.Metrics.ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics()})
	res.tl, res.index = tl, conv.join
	res.Stats = Stats{Trace: true, Events: tl.Events, Spans: conv.out.batch.emitted, Refused: conv.out.batch.refused,
		CPUSamples: tl.CPUSamples, TaskCPUSamples: conv.cpu.count - conv.cpu.outside,
		GoroutineCut: tl.GoroutineCut, AppSpans: c.app.stats}
	c.carry = conv.next
}

// conversion is the state of one trace's conversion; it receives the model from tracesrc.
type conversion struct {
	c  *TraceConverter
	tl *tracesrc.Timeline
	// out renders the spans into batches; metrics, cpu, diag and join are the other parts the
	// handler feeds (docs/design.md, "One window").
	out     spanWriter
	metrics traceMetrics
	cpu     cpuProfile
	diag    diagnoser
	// join indexes the tasks for the eBPF join, nil when not asked for.
	join *joinIndex
	// net indexes the window's reads and connects for the network waits and TLS handshakes
	// (net_waits.go, tls_spans.go), nil without socket events; netMetrics holds their histograms.
	net        *netReads
	netMetrics netMetrics
	// next collects the tasks to carry into the next trace.
	next map[trace.TaskID]carried
	// goroutines holds the work outside tasks whose root spans are still to be built.
	goroutines map[trace.GoID]*goroutineWork
}

// Begin implements tracesrc.Handler.
func (conv *conversion) Begin(tl *tracesrc.Timeline) {
	conv.tl, conv.out.tl = tl, tl
	conv.c.beginAppJoin(tl)
}

// Task implements tracesrc.Handler: the task's spans are built (for a task that makes a span,
// see TaskSpans) and its duration observed. An idle task carried over gets neither: its span
// would say nothing but "untracked" for the whole window, and skew its type's durations. A
// wrapper task (see wrapper) is not observed: its child is.
func (conv *conversion) Task(t *tracesrc.Task) {
	if !t.Idle {
		conv.decideSpan(t)
		conv.taskSpans(t)
		if !wrapper(t) {
			conv.observeTask(t)
		}
	}
	conv.carryTask(t)
}

// STW implements tracesrc.Handler.
func (conv *conversion) STW(s tracesrc.STW) {
	conv.stwSpan(s)
}

// Wait implements tracesrc.Handler.
func (conv *conversion) Wait(w tracesrc.Wait) {
	conv.observeWait(w)
}
