package appspans

import (
	"runtime"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
)

// benchSpans are n spans of 1 ms, one every interval, of a few names, as one service at a
// steady rate sends them; they start at t0.
func benchSpans(n int, interval time.Duration) []Span {
	names := []string{"GET /cart", "GET /item", "backend fetch", "pkg.Svc/Do"}
	spans := make([]Span, n)
	for i := range spans {
		start := t0.Add(time.Duration(i) * interval)
		spans[i] = Span{Name: names[i%len(names)], TraceID: pcommon.TraceID{byte(i), byte(i >> 8), byte(i >> 16), byte(i >> 24)},
			SpanID: pcommon.SpanID{byte(i), byte(i >> 8), byte(i >> 16), byte(i >> 24)},
			Start:  start.UnixNano(), End: start.Add(time.Millisecond).UnixNano()}
	}
	return spans
}

// BenchmarkAdd is the processor's cost per span: 10,000 spans/s of one service into an index
// with the default limits, in steady state (expiry and eviction included).
func BenchmarkAdd(b *testing.B) {
	const rate = 10_000
	spans := benchSpans(1<<20, time.Second/rate)
	x := NewIndex(Limits{MaxSpans: 500_000, Retention: 30 * time.Second})
	var now time.Time
	x.now = func() time.Time { return now }
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		s := spans[i%len(spans)]
		s.Start += int64(i/len(spans)) * int64(len(spans)) * int64(time.Second/rate) // time goes on past the prepared spans
		s.End += s.Start - spans[i%len(spans)].Start
		now = time.Unix(0, s.End)
		x.Add("shop", s)
		i++
	}
}

// BenchmarkMatch is the receiver's cost per task against an index holding 30 s of 10,000
// spans/s.
func BenchmarkMatch(b *testing.B) {
	spans := benchSpans(300_000, 100*time.Microsecond)
	x := NewIndex(Limits{MaxSpans: 500_000, Retention: time.Hour})
	x.now = func() time.Time { return t0 }
	for _, s := range spans {
		x.Add("shop", s)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		s := spans[i%len(spans)]
		if _, res := x.Match("shop", Task{Name: s.Name, Start: s.Start + 700, End: s.End + 100}); res != Matched {
			b.Fatalf("span %d: result %d", i, res)
		}
		i++
	}
}

// TestMemoryAtTenThousandSpansPerSecond reports the heap an index holds with the default
// limits after 30 s of 10,000 spans/s (the retention's worth); BENCHMARKS.md records it.
func TestMemoryAtTenThousandSpansPerSecond(t *testing.T) {
	if testing.Short() {
		t.Skip("allocates 300,000 spans")
	}
	spans := benchSpans(300_000, 100*time.Microsecond)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	x := NewIndex(Limits{MaxSpans: 500_000, Retention: 30 * time.Second})
	x.now = func() time.Time { return time.Unix(0, spans[len(spans)-1].Start) }
	for _, s := range spans {
		s.Name = strings.Clone(s.Name) // each span's name is its own string, as pdata's are
		x.Add("shop", s)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	held, evicted := x.Stats()
	if held != len(spans) || evicted != 0 {
		t.Fatalf("held %d evicted %d, want all %d held", held, evicted, len(spans))
	}
	t.Logf("%d spans held: %.1f MB heap, %d B per span", held, float64(after.HeapAlloc-before.HeapAlloc)/1e6,
		(after.HeapAlloc-before.HeapAlloc)/uint64(held))
	runtime.KeepAlive(x)
}
