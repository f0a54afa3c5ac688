package stitch

import (
	"cmp"
	"slices"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"golang.org/x/exp/trace"

	"github.com/gostitch/gostitch/receiver/internal/tracesrc"
)

// maxIdleTraces is how many traces in a row a task carried over may show no activity before
// it is forgotten (its end may have fallen between two traces).
const maxIdleTraces = 3

// carried is a task open at the end of the previous trace, with the ids decided for it.
type carried struct {
	earlier tracesrc.Earlier
	// traceID is the task's trace; parentSpan is the parent of its span; own is set when
	// they did not come from the parent task (see taskIDs).
	traceID    pcommon.TraceID
	parentSpan pcommon.SpanID
	own        bool
	idle       int
}

// earlier lists the carried tasks for the next read, by id.
func (c *TraceConverter) earlier() []tracesrc.Earlier {
	out := make([]tracesrc.Earlier, 0, len(c.carry))
	for _, e := range c.carry {
		out = append(out, e.earlier)
	}
	slices.SortFunc(out, func(a, b tracesrc.Earlier) int { return cmp.Compare(a.ID, b.ID) })
	return out
}

// carryTask remembers a task still open at the end of the trace for the next one.
func (conv *conversion) carryTask(t *tracesrc.Task) {
	if t.Ended {
		return
	}
	idle := 0
	if t.Idle {
		idle = conv.c.carry[t.ID].idle + 1
		if idle > maxIdleTraces {
			return
		}
	}
	e := carried{
		earlier: tracesrc.Earlier{ID: t.ID, Parent: trace.NoTask, Type: t.Type, Began: t.Began, Goroutine: t.Goroutine},
		own:     conv.c.ownIDs(t),
		idle:    idle,
	}
	e.traceID, e.parentSpan = conv.c.taskIDs(t)
	if t.Parent != nil {
		e.earlier.Parent = t.Parent.ID
	}
	conv.next[t.ID] = e
}
