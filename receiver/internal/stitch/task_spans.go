package stitch

import (
	"strconv"
	"strings"

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
	conv.batch.boundary()
	c := conv.c
	traceID, parent := c.taskIDs(t)
	if !makesSpan(t) {
		// No span (a wrapper, or a task that is not notable): the join and the CPU samples take
		// the parent span instead, for the task and its regions alike.
		ids := taskSpanIDs{task: parent, regions: conv.regionIDs[:0]}
		for range t.Regions {
			ids.regions = append(ids.regions, parent)
		}
		conv.regionIDs = ids.regions
		if !wrapper(t) {
			conv.diag.quietTask(t, &conv.batch)
		}
		if conv.join != nil {
			conv.join.add(t, traceID, &ids)
		}
		conv.cpu.add(t, traceID, &ids, conv.tl)
		for i := range t.Episodes {
			conv.episodeSpan(t, traceID, &ids, i)
		}
		return
	}
	ids := taskSpanIDs{task: c.taskSpanID(t), regions: conv.regionIDs[:0]}
	for i := range t.Regions {
		ids.regions = append(ids.regions, c.regionSpanID(t, i))
	}
	conv.regionIDs = ids.regions

	sp, in, now := conv.diag.taskSpan(t, &conv.batch)
	sp.SetTraceID(traceID)
	sp.SetSpanID(ids.task)
	sp.SetParentSpanID(parent)
	sp.SetName(t.Type)
	if t.Type == "" {
		sp.SetName(unknownTaskName)
	}
	sp.SetKind(ptrace.SpanKindInternal)
	conv.setTimes(sp, t.Start, t.End)
	attrs := sp.Attributes()
	attrs.EnsureCapacity(16 + len(t.Time.Blocked))
	conv.common(attrs, t.Goroutine)
	attrs.PutInt(metadata.AttributeTaskID, int64(t.ID))
	if t.Type != "" {
		attrs.PutStr(metadata.AttributeTaskType, t.Type)
	}
	conv.truncation(attrs, t.Continued, !t.Ended)
	conv.breakdown(attrs, t.Time)
	if len(t.Samples) > 0 {
		attrs.PutInt(metadata.AttributeCPUTime, int64(len(t.Samples))*int64(c.opts.CPUSamplePeriod))
	}
	conv.logEvents(sp, t.Logs)
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
	conv.diag.diagnose(sp, &in, now, &conv.batch)
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
	sp := conv.batch.span()
	sp.SetTraceID(traceID)
	sp.SetSpanID(ids.regions[i])
	sp.SetParentSpanID(ids.parent(r.Parent))
	conv.fillRegion(sp, r)
}

// fillRegion sets the name, times and attributes of the span of region r.
func (conv *conversion) fillRegion(sp ptrace.Span, r *tracesrc.Region) {
	sp.SetName(r.Type)
	sp.SetKind(ptrace.SpanKindInternal)
	conv.setTimes(sp, r.Start, r.End)
	attrs := sp.Attributes()
	attrs.EnsureCapacity(5)
	conv.common(attrs, r.Goroutine)
	conv.truncation(attrs, r.Continued, !r.Ended)
}

// episodeSpan builds the "block <reason>" or "syscall" span of episode i of t.
func (conv *conversion) episodeSpan(t *tracesrc.Task, traceID pcommon.TraceID, ids *taskSpanIDs, i int) {
	e := &t.Episodes[i]
	sp := conv.batch.span()
	sp.SetTraceID(traceID)
	sp.SetSpanID(conv.c.episodeSpanID(t, i))
	sp.SetParentSpanID(ids.parent(e.Region))
	conv.fillEpisode(sp, e)
}

// fillEpisode sets the name, times and attributes of the span of episode e.
func (conv *conversion) fillEpisode(sp ptrace.Span, e *tracesrc.Episode) {
	if e.Kind == tracesrc.Syscall {
		sp.SetName(syscallSpanName)
	} else {
		sp.SetName(blockSpanPrefix + e.Reason)
	}
	sp.SetKind(ptrace.SpanKindInternal)
	conv.setTimes(sp, e.Start, e.End)
	attrs := sp.Attributes()
	attrs.EnsureCapacity(8)
	conv.common(attrs, e.Goroutine)
	attrs.PutInt(metadata.AttributeThreadID, int64(e.Thread))
	if e.Kind == tracesrc.Blocked {
		attrs.PutStr(metadata.AttributeBlockReason, e.Reason)
	}
	if len(e.Stack) > 0 {
		st := conv.stack(e.Stack)
		attrs.PutStr(metadata.AttributeCodeFunctionName, st.function)
		attrs.PutStr(metadata.AttributeCodeStacktrace, st.text)
	}
	if e.Partial {
		attrs.PutBool(metadata.AttributeTruncated, true)
	}
}

// common sets the attributes every execution-trace span carries.
func (conv *conversion) common(attrs pcommon.Map, g trace.GoID) {
	attrs.PutStr(metadata.AttributeSource, metadata.AttributeSourceGoTrace)
	if conv.c.id.PID > 0 {
		attrs.PutInt(metadata.AttributeProcessPID, int64(conv.c.id.PID))
	}
	if g > 0 {
		attrs.PutInt(metadata.AttributeGoroutineID, int64(g))
	}
}

// truncation marks a span cut by the start or the end of the trace.
func (conv *conversion) truncation(attrs pcommon.Map, start, end bool) {
	if start {
		attrs.PutBool(metadata.AttributeTruncatedStart, true)
	}
	if end {
		attrs.PutBool(metadata.AttributeTruncated, true)
	}
}

// breakdown sets the task's time breakdown attributes (ns).
func (conv *conversion) breakdown(attrs pcommon.Map, b tracesrc.Breakdown) {
	attrs.PutInt(metadata.AttributeTimeRunning, int64(b.Running))
	attrs.PutInt(metadata.AttributeTimeRunnable, int64(b.Runnable))
	attrs.PutInt(metadata.AttributeTimeSyscall, int64(b.Syscall))
	attrs.PutInt(metadata.AttributeTimeGCAssist, int64(b.GCAssist))
	attrs.PutInt(metadata.AttributeTimeSTW, int64(b.STW))
	attrs.PutInt(metadata.AttributeTimeUntracked, int64(b.Untracked))
	for _, bt := range b.Blocked {
		attrs.PutInt(conv.blockedKey(bt.Reason), int64(bt.Time))
	}
}

// blockedKey is the gostitch.time.blocked.<reason> key of a block reason, e.g. chan_receive.
func (conv *conversion) blockedKey(reason string) string {
	if k, ok := conv.c.blockedKeys[reason]; ok {
		return k
	}
	var sb strings.Builder
	sb.WriteString(metadata.AttributeTimeBlockedPrefix)
	sep := false
	for _, r := range strings.ToLower(reason) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			if sep && sb.Len() > len(metadata.AttributeTimeBlockedPrefix) {
				sb.WriteByte('_')
			}
			sb.WriteRune(r)
			sep = false
		} else {
			sep = true
		}
	}
	if sb.Len() == len(metadata.AttributeTimeBlockedPrefix) {
		sb.WriteString("unknown")
	}
	k := sb.String()
	conv.c.blockedKeys[reason] = k
	return k
}

// logEvents adds the task's trace.Log calls as span events named by their category.
func (conv *conversion) logEvents(sp ptrace.Span, logs []tracesrc.Log) {
	events := sp.Events()
	events.EnsureCapacity(len(logs))
	for _, l := range logs {
		ev := events.AppendEmpty()
		ev.SetName(l.Category)
		if l.Category == "" {
			ev.SetName("log")
		}
		ev.SetTimestamp(conv.ts(l.Time))
		ev.Attributes().PutStr(metadata.AttributeLogMessage, l.Message)
		ev.Attributes().PutInt(metadata.AttributeGoroutineID, int64(l.Goroutine))
	}
}

// setTimes sets a span's start and end from trace times.
func (conv *conversion) setTimes(sp ptrace.Span, start, end trace.Time) {
	sp.SetStartTimestamp(conv.ts(start))
	sp.SetEndTimestamp(conv.ts(end))
}

// ts converts a trace time to an OTLP timestamp.
func (conv *conversion) ts(t trace.Time) pcommon.Timestamp {
	return pcommon.Timestamp(conv.tl.UnixNano(t))
}

// renderedStack is a stack as the code.* attributes show it.
type renderedStack struct{ function, text string }

// maxRenderedStacks bounds the cache of rendered stacks.
const maxRenderedStacks = 4096

// stack renders a stack once: tracesrc shares one frames slice per stack and trace generation.
func (conv *conversion) stack(frames []trace.StackFrame) renderedStack {
	key := &frames[0]
	if st, ok := conv.stacks[key]; ok {
		return st
	}
	if conv.stacks == nil || len(conv.stacks) >= maxRenderedStacks {
		conv.stacks = make(map[*trace.StackFrame]renderedStack)
	}
	st := renderedStack{function: relevantFunction(frames), text: stacktrace(frames)}
	conv.stacks[key] = st
	return st
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
