package stitch

import (
	"io"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/pprofile"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"golang.org/x/exp/trace"

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

// TraceConverter turns the execution traces of one target into spans and metrics. It carries
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
	// ids is the buffer of id derivations.
	ids otelid.Hash
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

// TraceResult is what one execution trace yields besides its spans. Its Metrics and Profiles
// are usable (empty) even when the trace could not be read at all.
type TraceResult struct {
	// Metrics holds the trace's histograms (delta temporality over the trace's time range).
	Metrics pmetric.Metrics
	// Profiles holds the CPU samples taken in tasks, each linked to its task or region span
	// (empty when the trace has none: CPU profiling was off or no task was running).
	Profiles pprofile.Profiles
	// Timeline holds the trace's clock, counts and per-thread goroutine intervals.
	Timeline *tracesrc.Timeline
	// Spans counts the spans emit took; Refused those it refused, EmitErr its first refusal.
	Spans, Refused int
	EmitErr        error
	// TaskCPUSamples counts the CPU samples taken in tasks (in Profiles, with those outside
	// tasks when TraceOptions.MaxGoroutineSpans is set); Timeline.CPUSamples counts all.
	TaskCPUSamples int
	// GoroutineCut counts the regions, logs and episodes outside tasks that made no span or
	// span event: over TraceOptions.MaxGoroutineSpans (or tracesrc.MaxGoroutineLogs).
	GoroutineCut int
	// Join indexes the trace's tasks for the eBPF join; nil unless TraceOptions.Threads keeps
	// thread intervals.
	Join *JoinIndex
}

// Convert reads one execution trace and hands its spans to emit in batches as their tasks
// complete, so memory stays bounded by the open tasks, except for up to TraceOptions.HoldTasks
// task spans: they are held until the trace is read, so those slower than the p95 of their
// type get their diagnosis (see diagnosis.go). A truncated or corrupt trace yields everything
// read before the damage and an error. A batch emit refuses does not stop the conversion: the
// result counts the refused spans and keeps emit's first error apart from the read error.
func (c *TraceConverter) Convert(r io.Reader, emit func(ptrace.Traces) error) (TraceResult, error) {
	return c.ConvertWindow(r, nil, emit)
}

// ConvertWindow is Convert with sockets, the eBPF socket events of the same window (nil for
// none): with TraceOptions.Threads, the diagnosis of a slow task then also names the time its
// reads' data waited in the kernel, by peer. The events still make their spans by Sockets.
func (c *TraceConverter) ConvertWindow(r io.Reader, sockets *ebpfsrc.Batch, emit func(ptrace.Traces) error) (TraceResult, error) {
	conv := &conversion{c: c, next: make(map[trace.TaskID]carried), held: ptrace.NewSpanSlice(),
		sketches: make(map[string]*durationSketch), cpu: cpuProfile{period: c.opts.CPUSamplePeriod.Nanoseconds()}}
	conv.batch = spanBatch{id: c.id, size: c.opts.BatchSpans, emit: emit}
	if c.opts.Threads != tracesrc.NoThreadIntervals {
		conv.join = newJoinIndex()
	}
	tl, readErr := tracesrc.Read(r, tracesrc.Options{
		MinSpanDuration: c.opts.MinSpanDuration,
		StackDepth:      c.opts.StackDepth,
		Threads:         c.opts.Threads,
		Earlier:         c.earlier(),

		MaxGoroutineSpans: c.opts.MaxGoroutineSpans,
	}, conv)
	if tl == nil {
		return TraceResult{Metrics: pmetric.NewMetrics(), Profiles: pprofile.NewProfiles()}, readErr
	}
	if conv.join != nil {
		conv.join.tl = tl
	}
	conv.goroutineRoots()
	conv.runtimeRoot()
	conv.emitHeld(conv.kernelWaits(sockets))
	conv.batch.flush()
	res := TraceResult{Metrics: conv.metrics.build(c, tl), Profiles: conv.cpu.result(c, tl), Timeline: tl,
		Spans: conv.batch.emitted, Refused: conv.batch.refused, EmitErr: conv.batch.err,
		TaskCPUSamples: conv.cpu.count - conv.cpu.outside, GoroutineCut: tl.GoroutineCut, Join: conv.join}
	c.carry = conv.next
	return res, readErr
}

// conversion is the state of one Convert call; it receives the model from tracesrc.
type conversion struct {
	c       *TraceConverter
	tl      *tracesrc.Timeline
	batch   spanBatch
	metrics traceMetrics
	// stws counts the stop-the-world spans of the runtime trace.
	stws int
	// regionIDs is reused for the region span ids of each task.
	regionIDs []pcommon.SpanID
	// stacks caches rendered episode stacks by their first frame.
	stacks map[*trace.StackFrame]renderedStack
	// next collects the tasks to carry into the next trace.
	next map[trace.TaskID]carried
	// join indexes the tasks for the eBPF join, nil when not asked for.
	join *JoinIndex
	// cpu collects the CPU samples taken in tasks.
	cpu cpuProfile
	// held holds the task spans until the trace is read, diagnosis their diagnosis inputs;
	// overflow is set once more than TraceOptions.HoldTasks completed, pending is then the
	// diagnosis input of the task span being built, sketches the running durations per type.
	held      ptrace.SpanSlice
	diagnosis []diagnosisInput
	overflow  bool
	pending   diagnosisInput
	sketches  map[string]*durationSketch
	// quiet holds, per type, the durations of the tasks that make no span (task_volume.go) while
	// task spans are held, quietN their number, for the p95 of the diagnosis.
	quiet  map[string][]time.Duration
	quietN int
	// goroutines holds the work outside tasks whose root spans are still to be built.
	goroutines map[trace.GoID]*goroutineWork
}

// Begin implements tracesrc.Handler.
func (conv *conversion) Begin(tl *tracesrc.Timeline) {
	conv.tl = tl
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
