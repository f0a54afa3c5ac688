package stitch

import (
	"path"
	"strconv"
	"strings"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"golang.org/x/exp/trace"

	"github.com/gostitch/gostitch/receiver/internal/metadata"
	"github.com/gostitch/gostitch/receiver/internal/tracesrc"
)

// Blocking chains and hand-offs (issue 14 items 1 and 7). tracesrc names who released each
// kept block (Episode.Release: the unblocking goroutine, its program frame, its task and
// region) and the stretches a task waited between two goroutines (Task.Handoffs). A block span
// carries the releaser (gostitch.unblock.goroutine.id, gostitch.unblock.function) and links
// the releaser's task or region span; a task span carries its queued time; the diagnosis
// follows the chain one step (diagnosis.go); gostitch.goroutine.unblock.duration sums the
// block time by reason and releasing call site (unblock_metrics.go).

// releaseOf adds to block span sp who released its wait: the goroutine, the function and line
// (releaseAttrs counts them), and a link to the releaser's task or region span when it has
// one. A wait the runtime released (netpoller, timer, GC) or the trace does not show released
// gets nothing.
func (conv *conversion) releaseOf(sp ptrace.Span, r *tracesrc.Release) {
	if r.Goroutine == 0 {
		return
	}
	attrs := sp.Attributes()
	attrs.PutInt(metadata.AttributeUnblockGoroutineID, int64(r.Goroutine))
	attrs.PutStr(metadata.AttributeUnblockFunction, conv.metrics.release.callSite(r.Frame))
	if rt := r.Task; rt != nil && (conv.c.opts.TaskSpans == AllTaskSpans || rt.Mark&markDecided != 0) {
		tid, _ := conv.c.taskIDs(rt)
		if sid := conv.c.parentSpanID(rt, r.Region); !sid.IsEmpty() {
			l := sp.Links().AppendEmpty()
			l.SetTraceID(tid)
			l.SetSpanID(sid)
			l.Attributes().EnsureCapacity(2)
			l.Attributes().PutStr(metadata.AttributeLinkRelation, metadata.AttributeLinkRelationReleasedBy)
			l.Attributes().PutInt(metadata.AttributeTaskID, int64(rt.ID))
		}
	}
}

// releaseAttrs counts the attributes releaseOf sets for r.
func releaseAttrs(r *tracesrc.Release) int { return 2 * b2i(r.Goroutine != 0) }

// queued sets gostitch.time.queued, d, the time the task waited in hand-offs between two
// goroutines (queuedTime), as a part of the breakdown: it comes out of gostitch.time.untracked
// (b's).
func queued(attrs pcommon.Map, b *tracesrc.Breakdown, d time.Duration) {
	if d > 0 {
		attrs.PutInt(metadata.AttributeTimeUntracked, int64(b.Untracked-d))
		attrs.PutInt(metadata.AttributeTimeQueued, int64(d))
	}
}

// queuedTime sums the hand-offs, within the untracked time of b they are part of.
func queuedTime(b *tracesrc.Breakdown, hs []tracesrc.Handoff) time.Duration {
	var d time.Duration
	for _, h := range hs {
		d += h.End.Sub(h.Start)
	}
	return min(d, b.Untracked)
}

// frameText renders a frame as "function file:line", the file by its base name.
func frameText(f trace.StackFrame) string {
	return f.Func + " " + fileLine(f)
}

// fileLine renders a frame's place as "file:line", the file by its base name.
func fileLine(f trace.StackFrame) string {
	return path.Base(f.File) + ":" + strconv.FormatUint(f.Line, 10)
}

// shortFunc is a function's name without its package and receiver, e.g. broadcast for
// main.(*peer).broadcast, importBlock.func5 for main.(*Syncer).importBlock.func5.
func shortFunc(fn string) string {
	if i := strings.LastIndexByte(fn, '/'); i >= 0 {
		fn = fn[i+1:]
	}
	if i := strings.Index(fn, ")."); i >= 0 {
		return fn[i+2:]
	}
	if i := strings.IndexByte(fn, '.'); i >= 0 {
		return fn[i+1:]
	}
	return fn
}
