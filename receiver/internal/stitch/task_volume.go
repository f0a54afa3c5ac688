package stitch

import (
	"fmt"

	"github.com/gostitch/gostitch/receiver/internal/tracesrc"
)

// TaskSpans selects which tasks make spans. Every task is observed in the task metrics either
// way; a task without a span has its CPU samples, eBPF events and child task spans hang from
// its nearest ancestor that has a span (or from the parent its own span would have had).
type TaskSpans uint8

const (
	// AllTaskSpans makes a span for every task.
	AllTaskSpans TaskSpans = iota
	// NotableTaskSpans makes a span only for a task that says something: it lasted longer than
	// the p95 of its type so far in the trace (once 20 of the type were seen), or it holds a
	// blocking or syscall episode of at least TraceOptions.MinSpanDuration, or GC (assist or
	// stop-the-world) took at least that much of it.
	NotableTaskSpans
)

// Config values of TaskSpans.
const (
	TaskSpansAll     = "all"
	TaskSpansNotable = "notable"
)

// ParseTaskSpans reads a TaskSpans from its config value.
func ParseTaskSpans(s string) (TaskSpans, error) {
	switch s {
	case TaskSpansAll:
		return AllTaskSpans, nil
	case TaskSpansNotable:
		return NotableTaskSpans, nil
	}
	return 0, fmt.Errorf("trace.task_spans must be %q or %q, got %q", TaskSpansAll, TaskSpansNotable, s)
}

// minNotableSample is how many tasks of a type the trace must have shown before a task's
// duration alone makes it notable: with fewer, the nearest-rank p95 is the slowest one.
const minNotableSample = 20

// markNoSpan marks (in tracesrc.Task.Mark) a task that makes no span because it is not notable.
const markNoSpan = 1

// markDecided marks a task whose span was decided (it was handed over): makesSpan is final.
const markDecided = 2

// makesSpan says whether task t has a span of its own: not a wrapper (see wrapper), and not
// left out by NotableTaskSpans. It holds once t was handed over.
func makesSpan(t *tracesrc.Task) bool {
	return t.Mark&markNoSpan == 0 && !wrapper(t)
}

// decideSpan marks task t, being handed over, when NotableTaskSpans leaves it without a span.
func (conv *conversion) decideSpan(t *tracesrc.Task) {
	t.Mark |= markDecided
	if conv.c.opts.TaskSpans != NotableTaskSpans || wrapper(t) || conv.notable(t) {
		return
	}
	t.Mark |= markNoSpan
}

// notable says whether task t says something (see NotableTaskSpans). It is asked before t's
// duration joins the running distribution of its type.
func (conv *conversion) notable(t *tracesrc.Task) bool {
	minSpan := conv.c.opts.MinSpanDuration
	if len(t.Episodes) > 0 || t.Time.GCAssist >= max(minSpan, 1) {
		return true
	}
	for _, s := range t.STWs {
		if s.GC > 0 && min(s.End, t.End).Sub(max(s.Start, t.Start)) >= max(minSpan, 1) {
			return true
		}
	}
	sk := conv.diag.sketch(t.Type)
	return sk.n+1 >= minNotableSample && t.End.Sub(t.Start) > sk.p95()
}
