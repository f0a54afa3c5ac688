package appspans

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"go.opentelemetry.io/collector/pdata/pcommon"
)

const svc = "shop"

var t0 = time.Date(2026, 12, 6, 8, 0, 0, 0, time.UTC)

func span(id byte, parent byte, start, end time.Duration) Span {
	s := Span{TraceID: pcommon.TraceID{1, id}, SpanID: pcommon.SpanID{id},
		Start: t0.Add(start).UnixNano(), End: t0.Add(end).UnixNano()}
	if parent != 0 {
		s.Parent = pcommon.SpanID{parent}
	}
	return s
}

func named(name string, s Span) Span {
	s.Name = name
	return s
}

func task(name string, start, end time.Duration) Task {
	return Task{Name: name, Start: t0.Add(start).UnixNano(), End: t0.Add(end).UnixNano()}
}

func newTestIndex(limits Limits) *Index {
	x := NewIndex(limits)
	x.now = func() time.Time { return t0 }
	return x
}

var roomy = Limits{MaxSpans: 100, Retention: time.Hour}

func TestMatchTolerances(t *testing.T) {
	const ms = time.Millisecond
	x := newTestIndex(roomy)
	x.Add(svc, named("GET /", span(1, 0, 10*ms, 20*ms)))
	for _, tc := range []struct {
		name       string
		start, end time.Duration
		want       Result
	}{
		{"typical lags", 10*ms + 700, 20*ms + 80, Matched},
		{"largest lags", 10*ms + StartLag, 20*ms + EndLag, Matched},
		{"clock error", 10*ms - Early, 20*ms - Early, Matched},
		{"start too late", 10*ms + StartLag + 1, 20 * ms, Unmatched},
		{"end too late", 10 * ms, 20*ms + EndLag + 1, Unmatched},
		{"start too early", 10*ms - Early - 1, 20 * ms, Unmatched},
		{"end too early", 10 * ms, 20*ms - Early - 1, Unmatched},
	} {
		got, res := x.Match(svc, task("GET /", tc.start, tc.end))
		if res != tc.want {
			t.Errorf("%s: result %d, want %d", tc.name, res, tc.want)
		}
		if res == Matched && got.SpanID != (pcommon.SpanID{1}) {
			t.Errorf("%s: matched span %v", tc.name, got.SpanID)
		}
	}
	if _, res := x.Match(svc, task("POST /", 10*ms, 20*ms)); res != Unmatched {
		t.Errorf("another name: result %d, want unmatched", res)
	}
	if _, res := x.Match("other", task("GET /", 10*ms, 20*ms)); res != Unmatched {
		t.Errorf("another service: result %d, want unmatched", res)
	}
}

func TestMatchRenamedHTTPSpan(t *testing.T) {
	const us = time.Microsecond
	x := newTestIndex(roomy)
	// otelhttp starts a server span (and its task) as "GET" and exports it as "GET /cart".
	x.Add(svc, named("GET /cart", span(1, 0, 0, 900*us)))
	x.Add(svc, named("GETTER", span(2, 0, 0, 900*us)))
	x.Add(svc, named("GET /cart/item", span(3, 0, 0, 2000*us)))
	got, res := x.Match(svc, task("GET", us, 901*us))
	if res != Matched || got.SpanID != (pcommon.SpanID{1}) {
		t.Fatalf("task GET: result %d span %v, want span 1", res, got.SpanID)
	}
	// A task of several words is matched by its whole name only.
	if _, res := x.Match(svc, task("GET /", us, 901*us)); res != Unmatched {
		t.Fatalf("task \"GET /\": result %d, want unmatched", res)
	}
	if _, res := x.Match(svc, task("GET /cart/item", us, 2001*us)); res != Matched {
		t.Fatalf("task \"GET /cart/item\": result %d, want matched", res)
	}
}

func TestMatchAmbiguous(t *testing.T) {
	const us = time.Microsecond
	x := newTestIndex(roomy)
	// Two requests of one name that fit the task about equally well, and a third that fits
	// it within a few µs.
	x.Add(svc, named("GET /", span(1, 0, 100*us, 5100*us)))
	x.Add(svc, named("GET /", span(2, 0, 110*us, 5090*us)))
	x.Add(svc, named("GET /", span(3, 0, 200*us, 5400*us)))
	if _, res := x.Match(svc, task("GET /", 120*us, 5120*us)); res != Ambiguous {
		t.Fatalf("result %d, want ambiguous", res)
	}
	// The third: the others' ends lie beyond the end lag.
	got, res := x.Match(svc, task("GET /", 201*us, 5401*us))
	if res != Matched || got.SpanID != (pcommon.SpanID{3}) {
		t.Fatalf("result %d span %v, want span 3", res, got.SpanID)
	}
	// The same span indexed twice (an export retried) is one span.
	x.Add(svc, named("GET /", span(3, 0, 200*us, 5400*us)))
	if _, res := x.Match(svc, task("GET /", 201*us, 5401*us)); res != Matched {
		t.Fatalf("duplicate span: result %d, want matched", res)
	}
}

func TestMatchDecisiveFit(t *testing.T) {
	const us = time.Microsecond
	x := newTestIndex(roomy)
	// An in-process gRPC call: the client span and the server span share the method's name;
	// the server's task fits the server span within µs, the client span within the lags.
	x.Add(svc, named("pkg.Svc/Do", span(1, 0, 0, 900*us)))
	x.Add(svc, named("pkg.Svc/Do", span(2, 1, 120*us, 860*us)))
	got, res := x.Match(svc, task("pkg.Svc/Do", 121*us, 860*us+200))
	if res != Matched || got.SpanID != (pcommon.SpanID{2}) {
		t.Fatalf("server task: result %d span %v, want the server span", res, got.SpanID)
	}
	// A task between the two, no span fitting it decisively better, is left alone.
	if _, res := x.Match(svc, task("pkg.Svc/Do", 80*us, 880*us)); res != Ambiguous {
		t.Fatalf("task between: result %d, want ambiguous", res)
	}
}

func TestMatchParent(t *testing.T) {
	x := newTestIndex(roomy)
	// Two requests at once, each with a child "query" at the same times.
	x.Add(svc, named("query", span(11, 1, time.Millisecond, 2*time.Millisecond)))
	x.Add(svc, named("query", span(12, 2, time.Millisecond, 2*time.Millisecond)))
	q := task("query", time.Millisecond+time.Microsecond, 2*time.Millisecond+time.Microsecond)
	if _, res := x.Match(svc, q); res != Ambiguous {
		t.Fatalf("without parent: result %d, want ambiguous", res)
	}
	q.Parent = pcommon.SpanID{2}
	got, res := x.Match(svc, q)
	if res != Matched || got.SpanID != (pcommon.SpanID{12}) {
		t.Fatalf("under span 2: result %d span %v, want span 12", res, got.SpanID)
	}
	q.Parent = pcommon.SpanID{3}
	if _, res := x.Match(svc, q); res != Unmatched {
		t.Fatalf("under span 3: result %d, want unmatched", res)
	}
}

func TestOutOfOrderArrival(t *testing.T) {
	x := newTestIndex(roomy)
	// A long span ends (and is exported) after shorter ones that started later.
	x.Add(svc, named("a", span(2, 0, 5*time.Millisecond, 6*time.Millisecond)))
	x.Add(svc, named("a", span(3, 0, 7*time.Millisecond, 8*time.Millisecond)))
	x.Add(svc, named("a", span(1, 0, 0, 9*time.Millisecond)))
	for id, tk := range map[byte]Task{1: task("a", 0, 9*time.Millisecond), 2: task("a", 5*time.Millisecond, 6*time.Millisecond),
		3: task("a", 7*time.Millisecond, 8*time.Millisecond)} {
		if got, res := x.Match(svc, tk); res != Matched || got.SpanID != (pcommon.SpanID{id}) {
			t.Errorf("span %d: result %d span %v", id, res, got.SpanID)
		}
	}
	if wm, ok := x.Watermark(svc); !ok || wm != t0.Add(9*time.Millisecond).UnixNano() {
		t.Errorf("watermark %d %v, want the latest end", wm, ok)
	}
	if _, ok := x.Watermark("other"); ok {
		t.Error("a service never seen has a watermark")
	}
}

func TestMaxSpansEvictsOldest(t *testing.T) {
	x := newTestIndex(Limits{MaxSpans: 3, Retention: time.Hour})
	for i := range 5 {
		name := "a"
		if i%2 == 1 {
			name = "b"
		}
		d := time.Duration(i) * time.Millisecond
		x.Add(svc, named(name, span(byte(i+1), 0, d, d+time.Microsecond)))
	}
	if held, evicted := x.Stats(); held != 3 || evicted != 2 {
		t.Fatalf("held %d evicted %d, want 3 and 2", held, evicted)
	}
	if _, res := x.Match(svc, task("a", 0, time.Microsecond)); res != Unmatched {
		t.Error("the oldest span is still matched")
	}
	if _, res := x.Match(svc, task("b", 3*time.Millisecond, 3*time.Millisecond+time.Microsecond)); res != Matched {
		t.Error("a recent span was evicted")
	}
}

func TestRetention(t *testing.T) {
	now := t0
	x := NewIndex(Limits{MaxSpans: 100, Retention: time.Second})
	x.now = func() time.Time { return now }
	x.Add(svc, named("a", span(1, 0, 0, time.Millisecond)))
	// A span that arrives past its retention is counted and not kept.
	x.Add(svc, named("a", span(2, 0, -2*time.Second, -time.Second)))
	if held, evicted := x.Stats(); held != 1 || evicted != 1 {
		t.Fatalf("held %d evicted %d, want 1 and 1", held, evicted)
	}
	now = t0.Add(1500 * time.Millisecond)
	x.Add(svc, named("a", span(3, 0, time.Second, 1200*time.Millisecond)))
	// Span 1 expired: its retention ended, it was not evicted early.
	if held, evicted := x.Stats(); held != 1 || evicted != 1 {
		t.Fatalf("held %d evicted %d, want 1 and 1", held, evicted)
	}
	if _, res := x.Match(svc, task("a", 0, time.Millisecond)); res != Unmatched {
		t.Error("an expired span is still matched")
	}
}

func TestRegisteredIndexes(t *testing.T) {
	a, b := newTestIndex(roomy), newTestIndex(roomy)
	Register(a)
	Register(b)
	Register(b)
	defer Unregister(a)
	defer Unregister(b)
	if n := len(Registered()); n != 2 {
		t.Fatalf("%d indexes registered, want 2", n)
	}
	// Two pipelines index the same span: one span.
	a.Add(svc, named("a", span(1, 0, 0, time.Millisecond)))
	b.Add(svc, named("a", span(1, 0, 0, time.Millisecond)))
	if _, res := Registered().Match(svc, task("a", 0, time.Millisecond)); res != Matched {
		t.Fatalf("result %d, want matched", res)
	}
	b.Add(svc, named("a", span(2, 0, 0, time.Millisecond)))
	if _, res := Registered().Match(svc, task("a", 0, time.Millisecond)); res != Ambiguous {
		t.Fatalf("result %d, want ambiguous", res)
	}
	if wm, ok := Registered().Watermark(svc); !ok || wm != t0.Add(time.Millisecond).UnixNano() {
		t.Fatalf("watermark %d %v", wm, ok)
	}
	Unregister(a)
	if n := len(Registered()); n != 1 {
		t.Fatalf("%d indexes registered after Unregister, want 1", n)
	}
}

// TestSawExpires: spans of a service no longer wanted leave at their retention as the
// watermark moves on, not only when spans are added again.
func TestSawExpires(t *testing.T) {
	x := newTestIndex(Limits{MaxSpans: 100, Retention: time.Minute})
	x.Add(svc, named("GET", span(1, 0, 0, time.Millisecond)))
	x.now = func() time.Time { return t0.Add(2 * time.Minute) }
	x.Saw(svc, t0.Add(2*time.Minute).UnixNano())
	held, evicted := x.Stats()
	assert.Zero(t, held, "past its retention")
	assert.Zero(t, evicted, "expiry is not eviction")
	wm, ok := x.Watermark(svc)
	assert.True(t, ok)
	assert.Equal(t, t0.Add(2*time.Minute).UnixNano(), wm)
}
