package stitch

import (
	"cmp"
	"strings"

	"github.com/gostitch/gostitch/receiver/internal/metadata"
	"github.com/gostitch/gostitch/receiver/internal/tracesrc"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"golang.org/x/exp/trace"
)

// spanWriter renders the execution trace's spans into batches (docs/design.md, "One window":
// span rendering): times on the trace's wall clock, the attributes every span carries, stacks
// and block reasons rendered once. It is one conversion's; blockedKeys is the converter's,
// kept across traces.
type spanWriter struct {
	batch       spanBatch
	tl          *tracesrc.Timeline
	pid         int
	stacks      map[*trace.StackFrame]renderedStack
	blockedKeys map[string]string
	// blockNames holds the name of the block spans of each reason.
	blockNames map[string]string
	// regionIDs is reused for the region span ids of each task; stws counts the stop-the-world
	// spans of the runtime trace, whose root is built when it has some.
	regionIDs []pcommon.SpanID
	stws      int
}

// fillRegion sets the name, times and attributes of the span of region r.
func (w *spanWriter) fillRegion(sp ptrace.Span, r *tracesrc.Region) {
	sp.SetName(r.Type)
	sp.SetKind(ptrace.SpanKindInternal)
	w.setTimes(sp, r.Start, r.End)
	attrs := sp.Attributes()
	attrs.EnsureCapacity(w.commonAttrs(r.Goroutine) + truncationAttrs(r.Continued, !r.Ended))
	w.common(attrs, r.Goroutine)
	w.truncation(attrs, r.Continued, !r.Ended)
}

// fillEpisode sets the name, times and attributes of the span of episode e; the caller adds
// extra attributes after, held in the same allocation.
func (w *spanWriter) fillEpisode(sp ptrace.Span, e *tracesrc.Episode, extra int) {
	sp.SetName(w.episodeName(e))
	sp.SetKind(ptrace.SpanKindInternal)
	w.setTimes(sp, e.Start, e.End)
	attrs := sp.Attributes()
	attrs.EnsureCapacity(w.commonAttrs(e.Goroutine) + episodeAttrs(e) + extra)
	w.common(attrs, e.Goroutine)
	attrs.PutInt(metadata.AttributeThreadID, int64(e.Thread))
	if e.Kind == tracesrc.Blocked {
		attrs.PutStr(metadata.AttributeBlockReason, e.Reason)
	} else if e.Reason != "" {
		attrs.PutStr(metadata.AttributeSyscallName, e.Reason)
	}
	if len(e.Stack) > 0 {
		st := w.stack(e.Stack)
		attrs.PutStr(metadata.AttributeCodeFunctionName, st.function)
		attrs.PutStr(metadata.AttributeCodeStacktrace, st.text)
	}
	if e.Partial {
		attrs.PutBool(metadata.AttributeTruncated, true)
	}
}

// episodeAttrs counts the attributes fillEpisode sets on the span of episode e beyond common's.
func episodeAttrs(e *tracesrc.Episode) int {
	n := 1 // thread id
	if e.Kind == tracesrc.Blocked || e.Reason != "" {
		n++
	}
	if len(e.Stack) > 0 {
		n += 2
	}
	if e.Partial {
		n++
	}
	return n
}

// episodeName names the span of episode e: "block <reason>" (rendered once per reason), or the
// syscall's span name.
func (w *spanWriter) episodeName(e *tracesrc.Episode) string {
	if e.Kind == tracesrc.Syscall {
		return cmp.Or(syscallSpanNames[e.Reason], syscallSpanName)
	}
	if name, ok := w.blockNames[e.Reason]; ok {
		return name
	}
	if w.blockNames == nil {
		w.blockNames = make(map[string]string)
	}
	name := blockSpanPrefix + e.Reason
	w.blockNames[e.Reason] = name
	return name
}

// common sets the attributes every execution-trace span carries.
func (w *spanWriter) common(attrs pcommon.Map, g trace.GoID) {
	attrs.PutStr(metadata.AttributeSource, metadata.AttributeSourceGoTrace)
	if w.pid > 0 {
		attrs.PutInt(metadata.AttributeProcessPID, int64(w.pid))
	}
	if g > 0 {
		attrs.PutInt(metadata.AttributeGoroutineID, int64(g))
	}
}

// commonAttrs counts the attributes common sets for goroutine g.
func (w *spanWriter) commonAttrs(g trace.GoID) int {
	return 1 + b2i(w.pid > 0) + b2i(g > 0)
}

// truncation marks a span cut by the start or the end of the trace.
func (w *spanWriter) truncation(attrs pcommon.Map, start, end bool) {
	if start {
		attrs.PutBool(metadata.AttributeTruncatedStart, true)
	}
	if end {
		attrs.PutBool(metadata.AttributeTruncated, true)
	}
}

// truncationAttrs counts the attributes truncation sets.
func truncationAttrs(start, end bool) int { return b2i(start) + b2i(end) }

// b2i is 1 for true, 0 for false.
func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// breakdownAttrs is how many attributes breakdown sets besides one per block reason.
const breakdownAttrs = 6

// breakdown sets the task's time breakdown attributes (ns).
func (w *spanWriter) breakdown(attrs pcommon.Map, b tracesrc.Breakdown) {
	attrs.PutInt(metadata.AttributeTimeRunning, int64(b.Running))
	attrs.PutInt(metadata.AttributeTimeRunnable, int64(b.Runnable))
	attrs.PutInt(metadata.AttributeTimeSyscall, int64(b.Syscall))
	attrs.PutInt(metadata.AttributeTimeGCAssist, int64(b.GCAssist))
	attrs.PutInt(metadata.AttributeTimeSTW, int64(b.STW))
	attrs.PutInt(metadata.AttributeTimeUntracked, int64(b.Untracked))
	for _, bt := range b.Blocked {
		attrs.PutInt(w.blockedKey(bt.Reason), int64(bt.Time))
	}
}

// blockedKey is the gostitch.time.blocked.<reason> key of a block reason, e.g. chan_receive.
func (w *spanWriter) blockedKey(reason string) string {
	if k, ok := w.blockedKeys[reason]; ok {
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
	w.blockedKeys[reason] = k
	return k
}

// logEvents adds the task's trace.Log calls as span events named by their category.
func (w *spanWriter) logEvents(sp ptrace.Span, logs []tracesrc.Log) {
	events := sp.Events()
	events.EnsureCapacity(len(logs))
	for _, l := range logs {
		ev := events.AppendEmpty()
		ev.SetName(l.Category)
		if l.Category == "" {
			ev.SetName("log")
		}
		ev.SetTimestamp(w.ts(l.Time))
		ev.Attributes().EnsureCapacity(2)
		ev.Attributes().PutStr(metadata.AttributeLogMessage, l.Message)
		ev.Attributes().PutInt(metadata.AttributeGoroutineID, int64(l.Goroutine))
	}
}

// setTimes sets a span's start and end from trace times.
func (w *spanWriter) setTimes(sp ptrace.Span, start, end trace.Time) {
	sp.SetStartTimestamp(w.ts(start))
	sp.SetEndTimestamp(w.ts(end))
}

// ts converts a trace time to an OTLP timestamp.
func (w *spanWriter) ts(t trace.Time) pcommon.Timestamp {
	return pcommon.Timestamp(w.tl.UnixNano(t))
}

// stack renders a stack once: tracesrc shares one frames slice per stack and trace generation.
func (w *spanWriter) stack(frames []trace.StackFrame) renderedStack {
	key := &frames[0]
	if st, ok := w.stacks[key]; ok {
		return st
	}
	if w.stacks == nil || len(w.stacks) >= maxRenderedStacks {
		w.stacks = make(map[*trace.StackFrame]renderedStack)
	}
	st := renderedStack{function: relevantFunction(frames), text: stacktrace(frames)}
	w.stacks[key] = st
	return st
}

// renderedStack is a stack as the code.* attributes show it.
type renderedStack struct{ function, text string }

// maxRenderedStacks bounds the cache of rendered stacks.
const maxRenderedStacks = 4096
