package stitch

import (
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"golang.org/x/exp/trace"

	"github.com/gostitch/gostitch/receiver/internal/metadata"
	"github.com/gostitch/gostitch/receiver/internal/target"
	"github.com/gostitch/gostitch/receiver/internal/tracesrc"
)

// durationBounds are the explicit bucket bounds of the duration histograms.
var durationBounds = []time.Duration{
	1 * time.Microsecond, 2500 * time.Nanosecond, 5 * time.Microsecond,
	10 * time.Microsecond, 25 * time.Microsecond, 50 * time.Microsecond,
	100 * time.Microsecond, 250 * time.Microsecond, 500 * time.Microsecond,
	1 * time.Millisecond, 2500 * time.Microsecond, 5 * time.Millisecond,
	10 * time.Millisecond, 25 * time.Millisecond, 50 * time.Millisecond,
	100 * time.Millisecond, 250 * time.Millisecond, 500 * time.Millisecond,
	1 * time.Second, 2500 * time.Millisecond, 5 * time.Second, 10 * time.Second,
}

// traceMetrics aggregates the histograms of one execution trace.
type traceMetrics struct {
	sched, gcPause histogram
	// block, syscall and taskDur hold the durations by block reason, syscall name (syscalls.go)
	// and task type.
	block, syscall, taskDur histogramSet
	// release holds gostitch.goroutine.unblock.duration (unblock_metrics.go).
	release releaseSeries
}

// histogramSet holds the histograms of one metric by attribute value, in first-seen order.
type histogramSet struct {
	keys  []string
	hists []*histogram
	// index finds a value's histogram once there are more than maxScannedSeries values; up to
	// that, scanning keys is faster than hashing the value (an observation per wait).
	index map[string]*histogram
}

// maxScannedSeries bounds the values a histogramSet scans.
const maxScannedSeries = 16

// series returns the histogram of value key, creating it.
func (s *histogramSet) series(key string) *histogram {
	if s.index != nil {
		if h, ok := s.index[key]; ok {
			return h
		}
	} else {
		for i, k := range s.keys {
			if k == key {
				return s.hists[i]
			}
		}
	}
	h := &histogram{}
	s.keys, s.hists = append(s.keys, key), append(s.hists, h)
	if s.index == nil && len(s.keys) > maxScannedSeries {
		s.index = make(map[string]*histogram, len(s.keys))
		for i, k := range s.keys {
			s.index[k] = s.hists[i]
		}
	} else if s.index != nil {
		s.index[key] = h
	}
	return h
}

// observeWait records a scheduling or blocking wait, with the span that best shows it.
func (conv *conversion) observeWait(w tracesrc.Wait) {
	conv.observeRelease(w)
	ref := spanRef{task: w.Task, episode: -1}
	if w.Task != nil && w.Episode >= 0 {
		ref.episode = w.Episode
	}
	d := w.End.Sub(w.Start)
	switch w.Kind {
	case tracesrc.Scheduling:
		conv.metrics.sched.observe(d, w.End, ref)
		return
	case tracesrc.InSyscall:
		conv.metrics.syscall.series(syscallMetricName(w.Reason)).observe(d, w.End, ref)
		return
	}
	conv.metrics.block.series(w.Reason).observe(d, w.End, ref)
}

// observeTask records the duration of a task whose start and end are both known.
func (conv *conversion) observeTask(t *tracesrc.Task) {
	if !t.Ended || t.Began == 0 {
		return
	}
	m := &conv.metrics
	ref := spanRef{task: t, episode: -1}
	if !makesSpan(t) {
		ref = spanRef{} // no exemplar: it would name another task's span
	}
	m.taskDur.series(t.Type).observe(t.End.Sub(t.Began), t.End, ref)
}

// build renders the histograms that saw observations.
func (m *traceMetrics) build(c *TraceConverter, tl *tracesrc.Timeline) pmetric.Metrics {
	md := pmetric.NewMetrics()
	rm := md.ResourceMetrics().AppendEmpty()
	c.id.FillResource(rm.Resource())
	sm := rm.ScopeMetrics().AppendEmpty()
	target.FillScope(sm.Scope(), metadata.AttributeSourceGoTrace)
	w := histogramWriter{c: c, tl: tl, metrics: sm.Metrics()}
	w.write(metadata.MetricGoScheduleDuration, "", histogramSet{keys: []string{""}, hists: []*histogram{&m.sched}})
	w.write(metadata.MetricGoMemoryGCPauseDuration, "", histogramSet{keys: []string{""}, hists: []*histogram{&m.gcPause}})
	w.write(metadata.MetricGostitchGoroutineBlockDuration, metadata.AttributeBlockReason, m.block)
	w.write(metadata.MetricGostitchGoroutineSyscallDuration, metadata.AttributeSyscallName, m.syscall)
	w.write(metadata.MetricGostitchTaskDuration, metadata.AttributeTaskType, m.taskDur)
	m.release.write(w)
	return md
}

// histogram is an explicit-bucket histogram over durationBounds that keeps, per bucket, the
// slowest observation that has a span as its exemplar.
type histogram struct {
	counts    []uint64
	exemplars []slowest
	sum       time.Duration
	n         uint64
	min, max  time.Duration
}

// slowest is the slowest observation of a bucket that has a span, the bucket's exemplar.
type slowest struct {
	value time.Duration
	at    trace.Time
	ref   spanRef
}

// spanRef points at a span: a task span or one of its episode spans (ids resolved when the
// metrics are built, once every root task has decided its trace), or resolved ids.
type spanRef struct {
	task    *tracesrc.Task
	episode int
	trace   pcommon.TraceID
	span    pcommon.SpanID
}

func (r spanRef) valid() bool { return r.task != nil || !r.span.IsEmpty() }

// observe adds one duration.
func (h *histogram) observe(d time.Duration, at trace.Time, ref spanRef) {
	if h.counts == nil {
		h.counts = make([]uint64, len(durationBounds)+1)
		h.exemplars = make([]slowest, len(durationBounds)+1)
	}
	i := bucket(d)
	h.counts[i]++
	if h.n == 0 || d < h.min {
		h.min = d
	}
	if d > h.max {
		h.max = d
	}
	h.n++
	h.sum += d
	if ex := &h.exemplars[i]; ref.valid() && (!ex.ref.valid() || d > ex.value) {
		*ex = slowest{value: d, at: at, ref: ref}
	}
}

// bucket is the index of the bucket of d: of the first bound at or above it, or
// len(durationBounds). It is slices.BinarySearch without the generic call, as it runs for
// every wait.
func bucket(d time.Duration) int {
	lo, hi := 0, len(durationBounds)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if durationBounds[m] < d {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo
}

// histogramWriter renders histograms as pmetric data points.
type histogramWriter struct {
	c       *TraceConverter
	tl      *tracesrc.Timeline
	metrics pmetric.MetricSlice
}

// write adds one metric with a data point per series of set (attribute key attr).
func (w histogramWriter) write(info metadata.MetricInfo, attr string, set histogramSet) {
	w.writeKeyed(info, len(set.keys), func(i int) (*histogram, func(pcommon.Map)) {
		return set.hists[i], func(attrs pcommon.Map) {
			if attr != "" {
				attrs.PutStr(attr, set.keys[i])
			}
		}
	})
}

// writeKeyed adds one metric with a data point per series i < n that saw observations; series
// gives its histogram and sets its attributes.
func (w histogramWriter) writeKeyed(info metadata.MetricInfo, n int, series func(i int) (*histogram, func(pcommon.Map))) {
	var points pmetric.HistogramDataPointSlice
	for i := range n {
		h, attrs := series(i)
		if h.n == 0 {
			continue
		}
		if points == (pmetric.HistogramDataPointSlice{}) {
			var ok bool
			if points, ok = w.c.opts.Metrics.Histograms(w.metrics, info); !ok {
				return
			}
		}
		dp := points.AppendEmpty()
		attrs(dp.Attributes())
		w.point(dp, h)
	}
}

// point fills one data point.
func (w histogramWriter) point(dp pmetric.HistogramDataPoint, h *histogram) {
	dp.SetStartTimestamp(pcommon.Timestamp(w.tl.UnixNano(w.tl.Start)))
	dp.SetTimestamp(pcommon.Timestamp(w.tl.UnixNano(w.tl.End)))
	dp.SetCount(h.n)
	dp.SetSum(h.sum.Seconds())
	dp.SetMin(h.min.Seconds())
	dp.SetMax(h.max.Seconds())
	dp.ExplicitBounds().EnsureCapacity(len(durationBounds))
	for _, b := range durationBounds {
		dp.ExplicitBounds().Append(b.Seconds())
	}
	dp.BucketCounts().FromRaw(h.counts)
	for _, ex := range h.exemplars {
		if !ex.ref.valid() {
			continue
		}
		tid, sid := w.c.resolve(ex.ref)
		if sid.IsEmpty() {
			continue // a wait of a task without a span, under no span
		}
		e := dp.Exemplars().AppendEmpty()
		e.SetTimestamp(pcommon.Timestamp(w.tl.UnixNano(ex.at)))
		e.SetDoubleValue(ex.value.Seconds())
		e.SetTraceID(tid)
		e.SetSpanID(sid)
	}
}

// resolve returns the trace and span ids a reference points at.
func (c *TraceConverter) resolve(r spanRef) (pcommon.TraceID, pcommon.SpanID) {
	if r.task == nil {
		return r.trace, r.span
	}
	tid, _ := c.taskIDs(r.task)
	if r.episode >= 0 {
		return tid, c.episodeSpanID(r.task, r.episode)
	}
	return tid, c.parentSpanID(r.task, -1)
}
