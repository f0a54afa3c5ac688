package stitch

import (
	"golang.org/x/exp/trace"

	"go.opentelemetry.io/collector/pdata/pcommon"

	"github.com/gostitch/gostitch/internal/appspans"
	"github.com/gostitch/gostitch/receiver/internal/tracesrc"
)

// appJoin hangs the tasks the OTel Go SDK began for the app's spans under those spans
// (docs/design.md, "Trace ids" rule A), for one conversion at a time.
type appJoin struct {
	// spans finds a task's span; nil leaves every task where the other rules put it.
	spans appspans.Matcher
	tl    *tracesrc.Timeline
	// memo holds each task's match, decided once per conversion: a task's children ask again.
	memo  map[trace.TaskID]appspans.Span
	stats AppSpanStats
}

// AppSpanStats counts the tasks of one conversion by how they met the app's spans.
type AppSpanStats struct {
	// Matched tasks went under their span; Unmatched tasks fit none; Ambiguous tasks fit
	// several and stayed where the other rules put them.
	Matched, Unmatched, Ambiguous int
}

// beginAppJoin starts the join of one conversion reading timeline tl.
func (c *TraceConverter) beginAppJoin(tl *tracesrc.Timeline) {
	c.app.tl, c.app.stats = tl, AppSpanStats{}
	clear(c.app.memo)
	if c.app.memo == nil && c.app.spans != nil {
		c.app.memo = make(map[trace.TaskID]appspans.Span)
	}
}

// appSpan returns the app span the task was begun for: one of the target's service (its
// name is the app's service.name) named like the task, starting and ending just before it,
// and the child of its parent task's span when that task has one. Only a task the trace
// shows from begin to end can be matched.
func (c *TraceConverter) appSpan(t *tracesrc.Task) (appspans.Span, bool) {
	j := &c.app
	if j.spans == nil || j.tl == nil || t.Continued || !t.Ended || t.Type == "" {
		return appspans.Span{}, false
	}
	if s, ok := j.memo[t.ID]; ok {
		return s, !s.SpanID.IsEmpty()
	}
	var parent pcommon.SpanID
	if t.Parent != nil {
		if p, ok := c.appSpan(t.Parent); ok {
			parent = p.SpanID
		}
	}
	s, res := j.spans.Match(c.id.Name, appspans.Task{Name: t.Type,
		Start: j.tl.UnixNano(t.Start), End: j.tl.UnixNano(t.End), Parent: parent})
	switch res {
	case appspans.Matched:
		j.stats.Matched++
	case appspans.Ambiguous:
		j.stats.Ambiguous++
	default:
		j.stats.Unmatched++
	}
	j.memo[t.ID] = s
	return s, res == appspans.Matched
}
