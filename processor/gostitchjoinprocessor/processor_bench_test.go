package gostitchjoinprocessor

import (
	"context"
	"testing"
	"time"

	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/gostitch/gostitch/internal/appspans"
)

// batchOf is one export of n server spans of service shop, one every 100 µs (10,000 a second)
// from start.
func batchOf(n int, start time.Time) ptrace.Traces {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr(serviceNameKey, "shop")
	spans := rs.ScopeSpans().AppendEmpty().Spans()
	for i := range n {
		sp := spans.AppendEmpty()
		sp.SetName("GET /cart")
		sp.SetTraceID(pcommon.TraceID{byte(i), byte(i >> 8), 1})
		sp.SetSpanID(pcommon.SpanID{byte(i), byte(i >> 8), 1})
		s := start.Add(time.Duration(i) * 100 * time.Microsecond)
		sp.SetStartTimestamp(pcommon.NewTimestampFromTime(s))
		sp.SetEndTimestamp(pcommon.NewTimestampFromTime(s.Add(time.Millisecond)))
	}
	return td
}

// BenchmarkProcessTraces is the processor's cost per app span (ns/op is per batch of 512
// spans), against a baseline that reads the same fields of every span without indexing them:
// while a receiver wants the service (gostitchjoin) and while none does (gostitchjoin-unwanted).
func BenchmarkProcessTraces(b *testing.B) {
	const n = 512
	b.Run("baseline", func(b *testing.B) {
		td := batchOf(n, time.Now())
		b.ReportAllocs()
		var sum int64
		for b.Loop() {
			spans := td.ResourceSpans().At(0).ScopeSpans().At(0).Spans()
			for k := 0; k < spans.Len(); k++ {
				s := spans.At(k)
				sum += int64(len(s.Name())) + int64(s.StartTimestamp()) + int64(s.EndTimestamp()) + int64(s.SpanID()[0]) + int64(s.TraceID()[0]) + int64(s.ParentSpanID()[0])
			}
		}
		_ = sum
	})
	for _, wanted := range []bool{true, false} {
		b.Run(map[bool]string{true: "gostitchjoin", false: "gostitchjoin-unwanted"}[wanted], func(b *testing.B) {
			if wanted {
				defer appspans.Want("shop")()
			}
			benchProcess(b, n)
		})
	}
}

// benchProcess runs batches of n spans through a processor, each the next 51.2 ms of spans, so
// the index expires and stays at its steady-state size.
func benchProcess(b *testing.B, n int) {
	ctx := context.Background()
	p, err := newJoinProcessor(createDefaultConfig().(*Config), componenttest.NewNopTelemetrySettings())
	if err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		b.StopTimer()
		td := batchOf(n, start.Add(time.Duration(i)*time.Duration(n)*100*time.Microsecond))
		b.StartTimer()
		if _, err := p.processTraces(ctx, td); err != nil {
			b.Fatal(err)
		}
		i++
	}
}
