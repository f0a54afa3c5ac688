package pprofsrc

import (
	"encoding/binary"
	"strconv"

	"go.opentelemetry.io/collector/pdata/pcommon"

	"github.com/gostitch/gostitch/internal/linkkeys"
	"github.com/gostitch/gostitch/receiver/internal/otelid"
	"github.com/gostitch/gostitch/receiver/internal/profdict"
)

// linkLabel is a pprof label key that carries a sample's trace context.
type linkLabel struct {
	key string
	// trace: the value is a trace id (32 hex digits); otherwise a span id.
	trace bool
	// decimal: a span id written in decimal, as Datadog's profiler does; otherwise 16 hex digits.
	decimal bool
}

// linkLabels in order of preference: the first valid trace id and span id win.
var linkLabels = [...]linkLabel{
	{key: linkkeys.TraceID, trace: true},
	{key: "trace_id", trace: true},
	{key: linkkeys.SpanID},
	{key: "span_id"},
	{key: "span id", decimal: true},
	{key: "local root span id", decimal: true},
}

// linkOf reads the trace and span a sample belongs to from its string labels, and the
// positions of the labels it used (-1 for none); the others, invalid or outranked, stay
// attributes.
func linkOf(labels []strLabel) (l profdict.Link, traceAt, spanAt int) {
	traceAt, spanAt = -1, -1
	traceRank, spanRank := len(linkLabels), len(linkLabels)
	for i, kv := range labels {
		rank := linkRank(kv.key)
		if rank < 0 || len(kv.vals) != 1 {
			continue
		}
		switch ll, v := linkLabels[rank], kv.vals[0]; {
		case !ll.trace:
			if rank < spanRank && decodeSpanID(&l.Span, v, ll.decimal) {
				spanAt, spanRank = i, rank
			}
		case rank < traceRank:
			if id, ok := otelid.ParseTraceID(v); ok {
				l.Trace, traceAt, traceRank = id, i, rank
			}
		}
	}
	return l, traceAt, spanAt
}

// decodeSpanID sets dst from a non-zero span id in decimal or in 16 hex digits, and reports
// whether it did; otherwise dst is unchanged.
func decodeSpanID(dst *pcommon.SpanID, s string, decimal bool) bool {
	if !decimal {
		id, ok := otelid.ParseSpanID(s)
		if ok {
			*dst = id
		}
		return ok
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil || n == 0 {
		return false
	}
	binary.BigEndian.PutUint64(dst[:], n)
	return true
}

// linkRank is the index of key in linkLabels, or -1.
func linkRank(key string) int {
	for i, ll := range linkLabels {
		if ll.key == key {
			return i
		}
	}
	return -1
}
