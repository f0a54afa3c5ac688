package stitch

import (
	"strconv"
	"strings"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"golang.org/x/exp/trace"

	"github.com/gostitch/gostitch/receiver/internal/metadata"
	"github.com/gostitch/gostitch/receiver/internal/tracesrc"
)

// Span names.
const (
	unknownTaskName = "unknown task"
	syscallSpanName = "syscall"
	blockSpanPrefix = "block "
)

// taskSpans builds the spans of one task: the task span with its logs and stop-the-world
// phases as events, and child spans for its regions and long episodes.
func (conv *conversion) taskSpans(t *tracesrc.Task) {
	conv.out.batch.boundary()
	c := conv.c
	e := c.taskEntry(t)
	traceID, parent := e.trace, e.parent
	if !makesSpan(t) {
		// No span (a wrapper, or a task that is not notable): the join and the CPU samples take
		// the parent span instead, for the task and its regions alike.
		ids := taskSpanIDs{task: parent, regions: conv.out.regionIDs[:0]}
		for range t.Regions {
			ids.regions = append(ids.regions, parent)
		}
		conv.out.regionIDs = ids.regions
		if !wrapper(t) {
			conv.diag.quietTask(t, &conv.out.batch)
		}
		if conv.join != nil {
			conv.join.add(t, traceID, &ids)
		}
		conv.cpu.add(t, traceID, &ids, conv.tl)
		for i := range t.Episodes {
			conv.episodeSpan(t, traceID, &ids, i)
		}
		conv.handshakeSpans(t, traceID, &ids)
		return
	}
	ids := taskSpanIDs{task: e.span, regions: conv.out.regionIDs[:0]}
	for i := range t.Regions {
		ids.regions = append(ids.regions, c.regionSpanID(t, i))
	}
	conv.out.regionIDs = ids.regions

	sp, in, now := conv.diag.taskSpan(t, &conv.out.batch, conv.netNote(t))
	sp.SetTraceID(traceID)
	sp.SetSpanID(ids.task)
	sp.SetParentSpanID(parent)
	sp.SetName(t.Type)
	if t.Type == "" {
		sp.SetName(unknownTaskName)
	}
	sp.SetKind(ptrace.SpanKindInternal)
	conv.out.setTimes(sp, t.Start, t.End)
	conv.taskAttributes(sp.Attributes(), t, in.queued.total)
	conv.out.logEvents(sp, t.Logs)
	conv.stwEvents(sp, t.STWs)

	for i := range t.Regions {
		conv.regionSpan(t, traceID, &ids, i)
	}
	if conv.join != nil {
		conv.join.add(t, traceID, &ids)
	}
	conv.cpu.add(t, traceID, &ids, conv.tl)
	for i := range t.Episodes {
		conv.episodeSpan(t, traceID, &ids, i)
	}
	conv.handshakeSpans(t, traceID, &ids)
	conv.diag.diagnose(sp, &in, now, &conv.out.batch)
}

// taskAttributes sets the attributes of task t's span, in one allocation; queuedD is t's
// queued time (queuedTime).
func (conv *conversion) taskAttributes(attrs pcommon.Map, t *tracesrc.Task, queuedD time.Duration) {
	w := &conv.out
	attrs.EnsureCapacity(w.commonAttrs(t.Goroutine) + 1 + b2i(t.Type != "") + truncationAttrs(t.Continued, !t.Ended) +
		breakdownAttrs + len(t.Time.Blocked) + b2i(queuedD > 0) + b2i(len(t.Samples) > 0))
	w.common(attrs, t.Goroutine)
	attrs.PutInt(metadata.AttributeTaskID, int64(t.ID))
	if t.Type != "" {
		attrs.PutStr(metadata.AttributeTaskType, t.Type)
	}
	w.truncation(attrs, t.Continued, !t.Ended)
	w.breakdown(attrs, t.Time)
	queued(attrs, &t.Time, queuedD)
	if len(t.Samples) > 0 {
		attrs.PutInt(metadata.AttributeCPUTime, int64(len(t.Samples))*int64(conv.c.opts.CPUSamplePeriod))
	}
}

// taskSpanIDs holds the span ids of one task and its regions while its spans are built.
type taskSpanIDs struct {
	task    pcommon.SpanID
	regions []pcommon.SpanID
}

// parent is the span id of a region, or of the task for -1.
func (ids *taskSpanIDs) parent(region int) pcommon.SpanID {
	if region >= 0 {
		return ids.regions[region]
	}
	return ids.task
}

// regionSpan builds the span of region i of t.
func (conv *conversion) regionSpan(t *tracesrc.Task, traceID pcommon.TraceID, ids *taskSpanIDs, i int) {
	r := &t.Regions[i]
	sp := conv.out.batch.span()
	sp.SetTraceID(traceID)
	sp.SetSpanID(ids.regions[i])
	sp.SetParentSpanID(ids.parent(r.Parent))
	conv.out.fillRegion(sp, r)
}

// episodeSpan builds the "block <reason>" or "syscall" span of episode i of t.
func (conv *conversion) episodeSpan(t *tracesrc.Task, traceID pcommon.TraceID, ids *taskSpanIDs, i int) {
	e := &t.Episodes[i]
	w, net := conv.net.waitOf(conv.tl, e)
	sp := conv.out.batch.span()
	sp.SetTraceID(traceID)
	sp.SetSpanID(conv.c.episodeSpanID(t, i))
	sp.SetParentSpanID(ids.parent(e.Region))
	conv.out.fillEpisode(sp, e, releaseAttrs(&e.Release)+b2i(net)*netWaitAttrs)
	conv.releaseOf(sp, &e.Release)
	if net {
		conv.netEpisode(t, i, &w, sp.Attributes())
	}
}

// relevantFunction is the function of the stack's relevantFrame.
func relevantFunction(stack []trace.StackFrame) string { return relevantFrame(stack).Func }

// relevantFrame is the innermost frame outside the runtime package: the runtime's own frames
// (runtime.chanrecv1, runtime.selectgo) say less than their caller. stack is not empty.
func relevantFrame(stack []trace.StackFrame) trace.StackFrame {
	for _, f := range stack {
		if !strings.HasPrefix(f.Func, "runtime.") {
			return f
		}
	}
	return stack[0]
}

// stacktrace renders frames one per line as "function file:line".
func stacktrace(stack []trace.StackFrame) string {
	var sb strings.Builder
	for i, f := range stack {
		if i > 0 {
			sb.WriteByte('\n')
		}
		sb.WriteString(f.Func)
		sb.WriteByte(' ')
		sb.WriteString(f.File)
		sb.WriteByte(':')
		sb.WriteString(strconv.FormatUint(f.Line, 10))
	}
	return sb.String()
}
