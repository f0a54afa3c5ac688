package stitch

import (
	"go.opentelemetry.io/collector/pdata/pmetric"

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
	fn, ok := s.text[e.Release.Frame.PC]
	if !ok {
		if s.text == nil {
			s.text, s.m = make(map[uint64]string), make(map[releaseKey]*histogram)
		}
		fn = frameText(*e.Release.Frame)
		s.text[e.Release.Frame.PC] = fn
	}
	k := releaseKey{e.Reason, fn}
	h := s.m[k]
	if h == nil {
		h = &histogram{}
		s.m[k] = h
		s.order = append(s.order, k)
	}
	h.observe(e.End.Sub(e.Start), e.End, spanRef{task: w.Task, episode: w.Episode})
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
