package stitch

import (
	"cmp"
	"fmt"
	"net/netip"
	"path"
	"slices"
	"strings"
	"time"

	"go.opentelemetry.io/collector/pdata/ptrace"
	"golang.org/x/exp/trace"

	"github.com/gostitch/gostitch/receiver/internal/ebpfsrc"
	"github.com/gostitch/gostitch/receiver/internal/metadata"
	"github.com/gostitch/gostitch/receiver/internal/tracesrc"
)

// eventDiagnosis is the span event a task span slower than the p95 of its type gets.
const eventDiagnosis = "gostitch.diagnosis"

// Diagnosis (issue 6 item 3). A task's span gets a gostitch.diagnosis event when the task
// lasted longer than the p95 of the tasks of its type in the same execution trace (nearest
// rank: with fewer than 20 tasks of a type, none is slower than its p95).
//
// The p95 needs every task of the window, while task spans are built as their tasks complete.
// The conversion therefore holds back the task spans themselves (one per task; their regions and
// episodes still go out in batches as before), with a compact diagnosisInput each, and emits
// them diagnosed once the trace is read: exact, and with the eBPF events of the window
// the diagnosis also names the data that waited in the kernel. Holding costs
// about 1.5 KB a task (TestDiagnosisOnFixtures measures it), so at most TraceOptions.HoldTasks
// are held: when a trace has more, the held ones are diagnosed against the p95 of all tasks so
// far and emitted, and each later task is diagnosed when it completes against a running p95
// of its type (durationSketch: bounded memory, within 4.4%), without the kernel's part.
// Memory then stays flat in the trace's size.

// Dominant causes: the breakdown parts of at least minCauseShare of the task's wall time,
// largest first, at most maxCauses of them (at least the largest one).
const (
	minCauseShare = 0.1
	maxCauses     = 3
)

// diagnosisInput is what the diagnosis of one held task span needs.
type diagnosisInput struct {
	id   trace.TaskID
	typ  string
	dur  time.Duration
	time tracesrc.Breakdown
	// longest is the longest blocked episode of the task: its reason and top non-runtime frame.
	longest struct {
		reason string
		frame  trace.StackFrame
		d      time.Duration
		// released says who released it (unblock_diagnosis.go).
		released releaseInput
	}
	// queued is the task's longest hand-off between two goroutines (unblock_diagnosis.go).
	queued queuedInput
	// syscall is the task's longest syscall episode (syscalls.go).
	syscall longestSyscall
	// stw is the wall time stop-the-world phases overlapped the task; gcOnly says they were all GC's.
	stw    time.Duration
	gcOnly bool
}

// newDiagnosisInput summarizes task t for its diagnosis.
func newDiagnosisInput(t *tracesrc.Task) diagnosisInput {
	in := diagnosisInput{id: t.ID, typ: t.Type, dur: t.End.Sub(t.Start), time: t.Time, gcOnly: true}
	for i := range t.Episodes {
		e := &t.Episodes[i]
		in.syscall.note(e)
		if d := e.End.Sub(e.Start); e.Kind == tracesrc.Blocked && d > in.longest.d && len(e.Stack) > 0 {
			in.longest.reason, in.longest.d = e.Reason, d
			in.longest.frame = appFrame(e.Stack)
			if e.Reason == tracesrc.FlowControl {
				in.longest.frame = flowControlFrame(e.Stack)
			}
			in.longest.released = newReleaseInput(e)
		}
	}
	in.queued = newQueuedInput(&t.Time, t.Handoffs)
	for _, s := range t.STWs {
		in.stw += min(s.End, t.End).Sub(max(s.Start, t.Start))
		in.gcOnly = in.gcOnly && s.GC > 0
	}
	return in
}

// appFrame is the innermost frame of the application (a package outside the standard library),
// or else the stack's relevantFrame: a network read blocks deep in internal/poll and net, while
// the place to look at is the code that called them.
func appFrame(stack []trace.StackFrame) trace.StackFrame {
	for _, f := range stack {
		pkg, _, _ := strings.Cut(f.Func, "/")
		if pkg == f.Func {
			pkg, _, _ = strings.Cut(f.Func, ".")
		}
		if pkg == "main" || strings.Contains(pkg, ".") {
			return f
		}
	}
	return relevantFrame(stack)
}

// diagnoser holds task spans back for their diagnosis and adds it. It is one conversion's.
type diagnoser struct {
	// hold is TraceOptions.HoldTasks.
	hold int
	// held holds the task spans until the trace is read, inputs their diagnosis inputs;
	// overflow is set once more than hold completed; sketches holds the running durations per
	// type.
	held     ptrace.SpanSlice
	inputs   heldInputs
	overflow bool
	sketches map[string]*durationSketch
	// quiet holds, per type, the durations of the tasks that make no span (task_volume.go)
	// while task spans are held, quietN their number, for the p95 of the diagnosis.
	quiet  map[string][]time.Duration
	quietN int
	// net is the network note of the task span taskSpan gave last, notes those of the held
	// ones by index (net_waits.go): kept apart from the inputs, as few tasks have one.
	net   netNote
	notes netNotes
}

// heldInputs holds the diagnosis inputs of the held task spans, in chunks: a growing slice
// would copy thousands of them over and over.
type heldInputs struct {
	chunks [][]diagnosisInput
	n      int
}

// inputChunk is how many diagnosis inputs a chunk holds (about 70 KB).
const inputChunk = 256

// add appends a copy of in.
func (h *heldInputs) add(in *diagnosisInput) {
	if h.n%inputChunk == 0 {
		h.chunks = append(h.chunks, make([]diagnosisInput, 0, inputChunk))
	}
	last := &h.chunks[len(h.chunks)-1]
	*last = append(*last, *in)
	h.n++
}

// at returns input i.
func (h *heldInputs) at(i int) *diagnosisInput { return &h.chunks[i/inputChunk][i%inputChunk] }

func newDiagnoser(hold int) diagnoser {
	return diagnoser{hold: hold, held: ptrace.NewSpanSlice(), sketches: make(map[string]*durationSketch)}
}

// taskSpan returns the span to build task t's span in, and t's diagnosis input: the span is
// held until the end of the conversion, or, past hold held tasks, in the current batch of b
// (now is then set); diagnose finishes it.
func (d *diagnoser) taskSpan(t *tracesrc.Task, b *spanBatch, net netNote) (sp ptrace.Span, in diagnosisInput, now bool) {
	in = newDiagnosisInput(t)
	d.sketch(in.typ).add(in.dur)
	d.net = net
	if d.overflow {
		return b.span(), in, true
	}
	d.notes.add(d.inputs.n, net)
	d.inputs.add(&in)
	return d.held.AppendEmpty(), in, false
}

// diagnose finishes the task span sp that taskSpan gave with in and now: one not held is
// diagnosed against the running p95 of its type; the held spans are handed to b when there are
// hold of them.
func (d *diagnoser) diagnose(sp ptrace.Span, in *diagnosisInput, now bool, b *spanBatch) {
	if now {
		if p95 := d.sketch(in.typ).p95(); in.dur > p95 {
			addDiagnosis(sp, in, p95, kernelWait{}, d.net)
		}
		return
	}
	if d.inputs.n >= d.hold {
		d.emitHeld(b, nil)
		d.overflow = true
	}
}

// quietTask keeps what the diagnosis of the other tasks needs of task t, which makes no span:
// its duration joins the p95 of its type.
func (d *diagnoser) quietTask(t *tracesrc.Task, b *spanBatch) {
	dur := t.End.Sub(t.Start)
	d.sketch(t.Type).add(dur)
	if d.overflow {
		return
	}
	if d.quiet == nil {
		d.quiet = make(map[string][]time.Duration)
	}
	d.quiet[t.Type] = append(d.quiet[t.Type], dur)
	if d.quietN++; d.inputs.n+d.quietN >= d.hold {
		d.emitHeld(b, nil)
		d.overflow = true
	}
}

// sketch returns the running duration distribution of a task type.
func (d *diagnoser) sketch(typ string) *durationSketch {
	s := d.sketches[typ]
	if s == nil {
		s = new(durationSketch)
		d.sketches[typ] = s
	}
	return s
}

// kernelWait is the time the data of a task's reads waited in the kernel, on its peer that
// kept it waiting longest, and the lossiest peer of the task's sockets (socket_loss.go).
type kernelWait struct {
	peer netip.AddrPort
	d    time.Duration
	loss peerLoss
}

// kernelWaits sums, per task and peer, the kernel queue time (data ready → read) of the read
// waits in b that the window's join j attributed to the task, counting time that two reads'
// waits share once (b's events are in time order), and keeps per task its peer with the most;
// it adds the lossiest peer among the sockets with events joined to the task. Nil without j.
func kernelWaits(b *ebpfsrc.Batch, j *joined) map[trace.TaskID]kernelWait {
	if j == nil {
		return nil
	}
	type key struct {
		task trace.TaskID
		peer netip.AddrPort
	}
	type sum struct {
		d    time.Duration
		last uint64
	}
	sums := make(map[key]sum)
	losses, lossy := lossyPeers(b), make(map[trace.TaskID]peerLoss)
	for i := range b.Events {
		e := &b.Events[i]
		a, ok := j.of(i)
		if !ok {
			continue
		}
		if l, lost := losses[e.Cookie]; lost && l.worse(lossy[a.task.id]) {
			lossy[a.task.id] = l
		}
		if e.Kind == ebpfsrc.KindReadWait {
			k := key{a.task.id, e.Peer}
			s := sums[k]
			if from := max(e.Since, s.last); from < e.Mono {
				s.d += time.Duration(e.Mono - from)
			}
			s.last = max(s.last, e.Mono)
			sums[k] = s
		}
	}
	out := make(map[trace.TaskID]kernelWait)
	for k, s := range sums {
		if w, d := out[k.task], s.d; d > w.d || d == w.d && k.peer.Compare(w.peer) < 0 {
			out[k.task] = kernelWait{peer: k.peer, d: d}
		}
	}
	for task, l := range lossy {
		w := out[task]
		w.loss = l
		out[task] = w
	}
	return out
}

// emitHeld diagnoses the held task spans against the p95 of their types and hands them to b;
// kernel holds the tasks' kernel waits (nil without eBPF events).
func (d *diagnoser) emitHeld(b *spanBatch, kernel map[trace.TaskID]kernelWait) {
	p95 := make(map[string]time.Duration)
	byType := make(map[string][]time.Duration)
	for i := range d.inputs.n {
		in := d.inputs.at(i)
		byType[in.typ] = append(byType[in.typ], in.dur)
	}
	for typ, ds := range d.quiet { // tasks without a span count in their type's p95
		byType[typ] = append(byType[typ], ds...)
	}
	d.quiet, d.quietN = nil, 0
	for typ, ds := range byType {
		slices.Sort(ds)
		p95[typ] = ds[(len(ds)*95+99)/100-1]
	}
	for i := range d.held.Len() {
		if in := d.inputs.at(i); in.dur > p95[in.typ] {
			addDiagnosis(d.held.At(i), in, p95[in.typ], kernel[in.id], d.notes[i])
		}
	}
	b.take(d.held)
	d.inputs, d.notes = heldInputs{}, nil
}

// addDiagnosis adds the gostitch.diagnosis event to task span sp, slower than p95.
func addDiagnosis(sp ptrace.Span, in *diagnosisInput, p95 time.Duration, kernel kernelWait, net netNote) {
	ev := sp.Events().AppendEmpty()
	ev.SetName(eventDiagnosis)
	ev.SetTimestamp(sp.EndTimestamp())
	ev.Attributes().PutStr(metadata.AttributeDiagnosisSummary, in.summary(kernel, net))
	ev.Attributes().PutInt(metadata.AttributeDiagnosisThreshold, int64(p95))
}

// untrackedCause names the time no goroutine worked for the task, queuedCause the part of it
// the task waited between two goroutines (unblock_diagnosis.go).
const (
	untrackedCause = "no goroutine working for it"
	queuedCause    = "queued"
)

// cause is one part of a task's time in its diagnosis.
type cause struct {
	what string
	d    time.Duration
	// reason is the block reason of a blocked part.
	reason string
}

// summary names the task's dominant causes with their shares of its wall time, then the time
// its reads' data waited in the kernel and the stop-the-world time that overlapped it, when
// any, and a lossy peer: these overlap the breakdown's parts (data waits in the kernel while its
// reader is blocked on network or busy), so they come without a share. E.g. "blocked on chan receive 62% at fetcher.go:88; running 20%;
// 25ms data waiting in the kernel on peer 127.0.0.1:30303; 3ms GC stop-the-world".
func (in *diagnosisInput) summary(kernel kernelWait, net netNote) string {
	b := &in.time
	causes := []cause{{"running", b.Running, ""}, {"GC assist", b.GCAssist, ""}, {inSyscalls, b.Syscall, ""},
		{"runnable, waiting to run", b.Runnable, ""}, {untrackedCause, b.Untracked - in.queued.total, ""}, {queuedCause, in.queued.total, ""}}
	for _, bt := range b.Blocked {
		causes = append(causes, cause{"blocked on " + bt.Reason, bt.Time, bt.Reason})
	}
	slices.SortStableFunc(causes, func(x, y cause) int { return cmp.Compare(y.d, x.d) })
	var parts []string
	for i, c := range causes {
		share := float64(c.d) / float64(max(in.dur, 1))
		if i == maxCauses || c.d <= 0 || i > 0 && share < minCauseShare {
			break
		}
		p := fmt.Sprintf("%s %.0f%%", c.what, 100*share)
		if c.reason != "" && c.reason == in.longest.reason {
			p += fmt.Sprintf(" at %s:%d", path.Base(in.longest.frame.File), in.longest.frame.Line) + in.longest.released.text()
		}
		if c.what == queuedCause {
			p += in.queued.text()
		}
		if c.what == inSyscalls && in.syscall.d > 0 {
			p += ": " + in.syscall.String()
		}
		parts = append(parts, p)
	}
	if kernel.d > 0 {
		parts = append(parts, fmt.Sprintf("%v data waiting in the kernel on peer %s", roundDuration(kernel.d), kernel.peer))
	}
	if kernel.loss.ratio > 0 {
		parts = append(parts, kernel.loss.String())
	}
	parts = net.appendTo(parts, in.dur, &in.time)
	if in.stw > 0 {
		what := "stop-the-world"
		if in.gcOnly {
			what = "GC stop-the-world"
		}
		parts = append(parts, fmt.Sprintf("%v %s", roundDuration(in.stw), what))
	}
	return strings.Join(parts, "; ")
}

// roundDuration rounds d to three significant digits or so, for reading.
func roundDuration(d time.Duration) time.Duration {
	switch {
	case d >= time.Second:
		return d.Round(10 * time.Millisecond)
	case d >= time.Millisecond:
		return d.Round(10 * time.Microsecond)
	}
	return d.Round(time.Microsecond)
}
