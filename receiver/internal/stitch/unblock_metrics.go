package stitch

import (
	"go.opentelemetry.io/collector/pdata/pmetric"
	"golang.org/x/exp/trace"

	"github.com/gostitch/gostitch/receiver/internal/metadata"
	"github.com/gostitch/gostitch/receiver/internal/tracesrc"
)

// releaseKey is one series of gostitch.goroutine.unblock.duration: a block reason and the
// call site that released such waits. Call sites are bounded by the program's code.
type releaseKey struct{ reason, function string }

// releaseSeries holds the histograms of gostitch.goroutine.unblock.duration, in first-seen order.
type releaseSeries struct {
	m     map[releaseKey]*histogram
	order []releaseKey
	// text caches the rendered call site per program counter.
	text map[uint64]string
}

// observeRelease records a block that a goroutine of the program released, when it makes a
// span (an episode of a task): only those have their unblock stack read.
func (conv *conversion) observeRelease(w tracesrc.Wait) {
	if w.Kind != tracesrc.Blocking || w.Task == nil || w.Episode < 0 {
		return
	}
	e := &w.Task.Episodes[w.Episode]
	if e.Release.Goroutine == 0 {
		return
	}
	s := &conv.metrics.release
	k := releaseKey{e.Reason, s.callSite(e.Release.Frame)}
	h := s.m[k]
	if h == nil {
		if s.m == nil {
			s.m = make(map[releaseKey]*histogram)
		}
		h = &histogram{}
		s.m[k] = h
		s.order = append(s.order, k)
	}
	h.observe(e.End.Sub(e.Start), e.End, spanRef{task: w.Task, episode: w.Episode})
}

// callSite renders a releasing frame as gostitch.unblock.function shows it, once per program
// counter (a call site's text is the same in every trace of the program).
func (s *releaseSeries) callSite(f *trace.StackFrame) string {
	if t, ok := s.text[f.PC]; ok {
		return t
	}
	if s.text == nil {
		s.text = make(map[uint64]string)
	}
	t := frameText(*f)
	s.text[f.PC] = t
	return t
}

// write renders gostitch.goroutine.unblock.duration.
func (s *releaseSeries) write(w histogramWriter) {
	var points pmetric.HistogramDataPointSlice
	for _, k := range s.order {
		if points == (pmetric.HistogramDataPointSlice{}) {
			var ok bool
			if points, ok = w.c.opts.Metrics.Histograms(w.metrics, metadata.MetricGostitchGoroutineUnblockDuration); !ok {
				return
			}
		}
		dp := points.AppendEmpty()
		dp.Attributes().PutStr(metadata.AttributeBlockReason, k.reason)
		dp.Attributes().PutStr(metadata.AttributeUnblockFunction, k.function)
		w.point(dp, s.m[k])
	}
}
