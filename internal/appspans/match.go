package appspans

import (
	"sort"
	"strings"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
)

// How far a task's start and end may lie from its span's, measured on the OTel Go SDK v1.47.0
// (BENCHMARKS.md): the SDK takes a span's start time, runs the span processors' OnStart, then
// begins the task, so the task starts after the span (median 0.7 µs, 99.9th percentile 50 µs
// on a loaded machine); it ends the task right after taking the end time (median 0.1 µs,
// 99.9th percentile 1 µs). Early absorbs the error of mapping trace time to wall time.
//
// Several spans of one name may fit a task: concurrent requests, or the client and the server
// span of one in-process call (the server span starts and ends within the client's lags). The
// task's own span fits within a few µs, the others by the network's or the scheduler's delays:
// the best fit is taken when every other misfits by Decisive more (the SDK's lags exceed that
// less than once in a thousand), otherwise none is.
const (
	StartLag = 250 * time.Microsecond
	EndLag   = 250 * time.Microsecond
	Early    = 50 * time.Microsecond
	Decisive = 50 * time.Microsecond
)

// Result is the outcome of a match.
type Result uint8

// Match results.
const (
	// Unmatched: no span fits the task.
	Unmatched Result = iota
	// Matched: exactly one span fits.
	Matched
	// Ambiguous: two or more spans fit; the task is left where it was, a wrong parent being
	// worse than none.
	Ambiguous
)

// Task is what the execution trace says of a task the OTel SDK began for a span.
type Task struct {
	// Name is the task's type, the span's name when the span began.
	Name string
	// Start and End are the task's start and end in Unix nanoseconds.
	Start, End int64
	// Parent is the span the task's parent task matched, empty when it matched none: a span
	// that fits must then be its child.
	Parent pcommon.SpanID
}

// Matcher finds the application span of a task.
type Matcher interface {
	Match(svc string, t Task) (Span, Result)
}

// Match returns the one span of service svc named like t whose start and end t's follow
// within StartLag and EndLag (or precede within Early), and that is a child of t.Parent when
// that is set. Named like t means named t, or, for a one-word t, t and more words: the span
// named after an HTTP method at its start and renamed with its route.
func (x *Index) Match(svc string, t Task) (Span, Result) {
	x.mu.Lock()
	defer x.mu.Unlock()
	var m matches
	if sv := x.services[svc]; sv != nil {
		m.scan(sv.byName[nameKey(t.Name)], t)
	}
	return m.result()
}

// matches collects the spans that fit a task: the best fit (the smallest misfit, see misfit),
// and how well the next best distinct span fits.
type matches struct {
	best             Span
	bestFit, nextFit int64
	n                int
}

func (m *matches) scan(spans []Span, t Task) {
	lo := t.Start - int64(StartLag)
	i := sort.Search(len(spans), func(i int) bool { return spans[i].Start >= lo })
	for ; i < len(spans) && spans[i].Start <= t.Start+int64(Early); i++ {
		s := spans[i]
		if !namedLike(s.Name, t.Name) || s.End < t.End-int64(EndLag) || s.End > t.End+int64(Early) {
			continue
		}
		if !t.Parent.IsEmpty() && s.Parent != t.Parent {
			continue
		}
		m.add(s, misfit(s, t))
	}
}

// misfit is how far a span's start and end lie from the task's: near 1 µs for the task's own span.
func misfit(s Span, t Task) int64 {
	return abs(t.Start-s.Start) + abs(t.End-s.End)
}

func abs(v int64) int64 {
	if v < 0 {
		return -v
	}
	return v
}

// namedLike reports whether a span named name may have started as taskName (see nameKey).
func namedLike(name, taskName string) bool {
	return name == taskName || strings.IndexByte(taskName, ' ') < 0 && strings.HasPrefix(name, taskName) && name[len(taskName)] == ' '
}

// add counts s unless it is a span already found (the same span indexed twice: an export
// retried, or two pipelines indexing it).
func (m *matches) add(s Span, fit int64) {
	if m.n > 0 && s.SpanID == m.best.SpanID && s.TraceID == m.best.TraceID {
		return
	}
	m.n++
	switch {
	case m.n == 1:
		m.best, m.bestFit = s, fit
	case fit < m.bestFit:
		m.best, m.bestFit, m.nextFit = s, fit, m.bestFit
	case m.n == 2 || fit < m.nextFit:
		m.nextFit = fit
	}
}

// result is the one span that fits, or the best of several when the others fit worse by
// Decisive or more; otherwise Ambiguous.
func (m *matches) result() (Span, Result) {
	switch {
	case m.n == 0:
		return Span{}, Unmatched
	case m.n == 1 || m.nextFit-m.bestFit >= int64(Decisive):
		return m.best, Matched
	}
	return Span{}, Ambiguous
}
