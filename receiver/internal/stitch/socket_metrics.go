package stitch

import (
	"cmp"
	"slices"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/gostitch/gostitch/receiver/internal/ebpfsrc"
	"github.com/gostitch/gostitch/receiver/internal/metadata"
	"github.com/gostitch/gostitch/receiver/internal/target"
)

// maxSocketExemplars caps the exemplars per histogram data point.
const maxSocketExemplars = 8

// socketHistogramBounds are the explicit bounds, in seconds, of the kernel's log2 buckets.
var socketHistogramBounds = func() []float64 {
	b := make([]float64, ebpfsrc.HistogramBuckets-1)
	for i := range b {
		b[i] = ebpfsrc.BucketUpperBound(i).Seconds()
	}
	return b
}()

// socketPeerStats is one peer's activity in a window.
type socketPeerStats struct {
	sockets                       int
	bytesSent, bytesRecv, retrans uint64
	segsSent, segsRetrans         uint64
	rtt, queueDelay, connect      ebpfsrc.Histogram
	connectMin, connectMax        time.Duration
	queueDelayExs, connectExs     []socketExemplar
}

// socketExemplar points a histogram value at the span it came from.
type socketExemplar struct {
	value  time.Duration
	at     pcommon.Timestamp
	trace  pcommon.TraceID
	spanID pcommon.SpanID
}

// socketMetrics aggregates the window's connections by peer, into the metrics mb builds (those
// the config turns off make none).
func socketMetrics(b *ebpfsrc.Batch, id target.Identity, conns []*socketConn, j *joined, mb metadata.Builder) pmetric.Metrics {
	peers := map[socketPeer]*socketPeerStats{}
	for _, c := range conns {
		if c.peer.IsValid() {
			k := c.metricPeer()
			if peers[k] == nil {
				peers[k] = &socketPeerStats{}
			}
			peers[k].add(b, c, j)
		}
	}
	if len(peers) == 0 {
		return pmetric.NewMetrics()
	}
	keys := make([]socketPeer, 0, len(peers))
	for k := range peers {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(x, y socketPeer) int {
		return cmp.Or(cmp.Compare(x.addr, y.addr), cmp.Compare(x.port, y.port))
	})

	md := pmetric.NewMetrics()
	rm := md.ResourceMetrics().AppendEmpty()
	id.FillResource(rm.Resource())
	sm := rm.ScopeMetrics().AppendEmpty()
	target.FillScope(sm.Scope(), metadata.AttributeSourceEbpf)
	w := socketPoints{start: socketTime(b, b.Start), end: socketTime(b, b.End)}
	bytes := socketSum(mb, sm, metadata.MetricGostitchTCPBytes)
	retrans := socketSum(mb, sm, metadata.MetricGostitchTCPRetransmits)
	segments := socketSum(mb, sm, metadata.MetricGostitchTCPSegments)
	ratio := socketSum(mb, sm, metadata.MetricGostitchTCPRetransmitRatio)
	rtt := socketHistogram(mb, sm, metadata.MetricGostitchTCPRTT)
	queue := socketHistogram(mb, sm, metadata.MetricGostitchTCPKernelQueueDelay)
	connect := socketHistogram(mb, sm, metadata.MetricGostitchTCPConnectDuration)
	for _, k := range keys {
		p := peers[k]
		if p.sockets > 0 {
			w.sum(bytes, k, p.bytesSent).Attributes().
				PutStr(metadata.AttributeNetworkIODirection, metadata.AttributeNetworkIODirectionTransmit)
			w.sum(bytes, k, p.bytesRecv).Attributes().
				PutStr(metadata.AttributeNetworkIODirection, metadata.AttributeNetworkIODirectionReceive)
			w.sum(retrans, k, p.retrans)
			w.sum(segments, k, p.segsSent)
			if r, ok := retransmitRatio(p.segsSent, p.segsRetrans); ok {
				w.gauge(ratio, k, r)
			}
		}
		w.histogram(rtt, k, &p.rtt, nil)
		w.histogram(queue, k, &p.queueDelay, p.queueDelayExs)
		if dp, ok := w.histogram(connect, k, &p.connect, p.connectExs); ok {
			dp.SetMin(p.connectMin.Seconds())
			dp.SetMax(p.connectMax.Seconds())
		}
	}
	sm.Metrics().RemoveIf(func(m pmetric.Metric) bool {
		return m.Type() == pmetric.MetricTypeHistogram && m.Histogram().DataPoints().Len() == 0 ||
			m.Type() == pmetric.MetricTypeSum && m.Sum().DataPoints().Len() == 0 ||
			m.Type() == pmetric.MetricTypeGauge && m.Gauge().DataPoints().Len() == 0
	})
	if sm.Metrics().Len() == 0 {
		return pmetric.NewMetrics()
	}
	return md
}

// socketPoints adds the window's data points.
type socketPoints struct{ start, end pcommon.Timestamp }

func (w socketPoints) attributes(attrs pcommon.Map, k socketPeer) {
	attrs.PutStr(metadata.AttributeNetworkPeerAddress, k.addr)
	if k.port != 0 {
		attrs.PutInt(metadata.AttributeNetworkPeerPort, int64(k.port))
	}
}

func (w socketPoints) sum(s pmetric.NumberDataPointSlice, k socketPeer, v uint64) pmetric.NumberDataPoint {
	dp := s.AppendEmpty()
	dp.SetStartTimestamp(w.start)
	dp.SetTimestamp(w.end)
	w.attributes(dp.Attributes(), k)
	dp.SetIntValue(int64(v))
	return dp
}

func (w socketPoints) gauge(g pmetric.NumberDataPointSlice, k socketPeer, v float64) {
	dp := g.AppendEmpty()
	dp.SetStartTimestamp(w.start)
	dp.SetTimestamp(w.end)
	w.attributes(dp.Attributes(), k)
	dp.SetDoubleValue(v)
}

// histogram adds a data point unless h is empty.
func (w socketPoints) histogram(m pmetric.HistogramDataPointSlice, k socketPeer, h *ebpfsrc.Histogram,
	exs []socketExemplar,
) (pmetric.HistogramDataPoint, bool) {
	if h.Count() == 0 {
		return pmetric.HistogramDataPoint{}, false
	}
	dp := m.AppendEmpty()
	dp.SetStartTimestamp(w.start)
	dp.SetTimestamp(w.end)
	w.attributes(dp.Attributes(), k)
	dp.SetCount(h.Count())
	dp.SetSum(h.Sum.Seconds())
	dp.ExplicitBounds().FromRaw(socketHistogramBounds)
	dp.BucketCounts().FromRaw(h.Counts[:])
	for _, e := range exs {
		ex := dp.Exemplars().AppendEmpty()
		ex.SetDoubleValue(e.value.Seconds())
		ex.SetTimestamp(e.at)
		ex.SetTraceID(e.trace)
		ex.SetSpanID(e.spanID)
	}
	return dp, true
}

func (p *socketPeerStats) add(b *ebpfsrc.Batch, c *socketConn, j *joined) {
	if s := c.socket; s != nil {
		p.sockets++
		p.bytesSent += s.Delta.BytesSent
		p.bytesRecv += s.Delta.BytesReceived
		p.retrans += s.Delta.Retransmits
		p.segsSent += s.Delta.SegmentsSent
		p.segsRetrans += s.Delta.SegmentsRetransmitted
		mergeSocketHistogram(&p.rtt, &s.Delta.RTT)
		mergeSocketHistogram(&p.queueDelay, &s.Delta.QueueDelay)
	}
	traceID := socketTraceID(b, c.cookie)
	for i := range c.events {
		e := &c.events[i]
		switch {
		case e.Kind == ebpfsrc.KindEstablished && e.Since != 0:
			d := time.Duration(e.Mono - e.Since)
			if p.connect.Count() == 0 || d < p.connectMin {
				p.connectMin = d
			}
			p.connectMax = max(p.connectMax, d)
			p.connect.Add(d)
			p.connectExs = appendSocketExemplar(p.connectExs,
				socketExemplar{d, socketTime(b, e.Mono), j.traceOf(c.index[i], traceID), socketEventSpanID(b, spanTCPConnect, e)})
		case e.Kind == ebpfsrc.KindReadWait:
			// Counted in the kernel's queue delay histogram already; the span is the exemplar.
			d := time.Duration(e.Mono - e.Since)
			p.queueDelayExs = appendSocketExemplar(p.queueDelayExs,
				socketExemplar{d, socketTime(b, e.Mono), j.traceOf(c.index[i], traceID), socketEventSpanID(b, spanTCPReadWait, e)})
		}
	}
}

func appendSocketExemplar(exs []socketExemplar, e socketExemplar) []socketExemplar {
	if len(exs) >= maxSocketExemplars {
		return exs
	}
	return append(exs, e)
}

func mergeSocketHistogram(dst, src *ebpfsrc.Histogram) {
	for i, n := range src.Counts {
		dst.Counts[i] += n
	}
	dst.Sum += src.Sum
}

// socketSum returns the data points of sum or gauge info in sm; those of a metric mb leaves out
// go to a slice of their own, dropped.
func socketSum(mb metadata.Builder, sm pmetric.ScopeMetrics, info metadata.MetricInfo) pmetric.NumberDataPointSlice {
	if dps, ok := mb.Numbers(sm.Metrics(), info); ok {
		return dps
	}
	return pmetric.NewNumberDataPointSlice()
}

// socketHistogram is socketSum for a histogram.
func socketHistogram(mb metadata.Builder, sm pmetric.ScopeMetrics, info metadata.MetricInfo) pmetric.HistogramDataPointSlice {
	if dps, ok := mb.Histograms(sm.Metrics(), info); ok {
		return dps
	}
	return pmetric.NewHistogramDataPointSlice()
}
