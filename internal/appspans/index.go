// Package appspans indexes the spans an application sent to the collector, by service, so the
// receiver can hang the runtime/trace task the OTel Go SDK began for a span under that span
// (docs/design.md, "Trace ids" rule A). It keeps only the spans of services a receiver wants
// (Want): those arriving while an execution trace of the service is taken and converted. The
// index is bounded: spans leave it after a retention, and the oldest leave first once it holds
// its maximum; what leaves early is counted.
package appspans

import (
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
)

// Span is what the index keeps of one application span.
type Span struct {
	// Name is the span's name as exported.
	Name    string
	TraceID pcommon.TraceID
	SpanID  pcommon.SpanID
	// Parent is the span's parent span id, empty for a root.
	Parent pcommon.SpanID
	// Start and End are the span's start and end in Unix nanoseconds.
	Start, End int64
}

// Limits bound an index.
type Limits struct {
	// MaxSpans is how many spans the index holds at most; the oldest starts leave first.
	MaxSpans int
	// Retention is how long a span stays, counted from its start by the clock of Add.
	Retention time.Duration
}

// Index holds recent application spans by service and name. It is safe for concurrent use.
type Index struct {
	limits Limits
	now    func() time.Time

	mu       sync.Mutex
	services map[string]*service
	count    int
	// expired is when the spans past their retention were last dropped.
	expired time.Time
	// evicted counts the spans that left before their retention ended (MaxSpans) or arrived
	// already older than it.
	evicted int64
}

// service holds one service's spans by the first word of their name (see nameKey), each
// list sorted by start.
type service struct {
	byName map[string][]Span
	// watermark is the latest span end seen, in Unix nanoseconds.
	watermark int64
}

// NewIndex returns an empty index bounded by limits.
func NewIndex(limits Limits) *Index {
	return &Index{limits: limits, now: time.Now, services: make(map[string]*service)}
}

// Add records one span of service and returns how many spans it evicted: a
// span that started longer than the retention ago is not kept (it still moves the watermark),
// and the oldest spans leave once the index holds Limits.MaxSpans.
func (x *Index) Add(svc string, s Span) (evicted int) {
	x.mu.Lock()
	defer x.mu.Unlock()
	sv := x.service(svc)
	sv.watermark = max(sv.watermark, s.End)
	now := x.now()
	cutoff := now.Add(-x.limits.Retention).UnixNano()
	if s.Start < cutoff || x.limits.MaxSpans <= 0 {
		x.evicted++
		return 1
	}
	name := nameKey(s.Name)
	spans := sv.byName[name]
	i := len(spans) // spans mostly arrive in start order; a long one arrives late
	if i > 0 && spans[i-1].Start > s.Start {
		i = sort.Search(len(spans), func(j int) bool { return spans[j].Start > s.Start })
	}
	sv.byName[name] = slices.Insert(spans, i, s)
	x.count++
	x.expireDue(now, cutoff)
	for x.count > x.limits.MaxSpans {
		x.evictOldest()
		evicted++
	}
	return evicted
}

// Saw moves the watermark of service svc to end, a span end it saw but does not keep (its
// service was not wanted: see Want), when end is later. The spans past their retention leave
// as in Add, so those of the last wanted time are not held until the next.
func (x *Index) Saw(svc string, end int64) {
	x.mu.Lock()
	defer x.mu.Unlock()
	sv := x.service(svc)
	sv.watermark = max(sv.watermark, end)
	now := x.now()
	x.expireDue(now, now.Add(-x.limits.Retention).UnixNano())
}

// service returns the spans of svc, made empty on first use. x.mu is held.
func (x *Index) service(svc string) *service {
	sv := x.services[svc]
	if sv == nil {
		sv = &service{byName: make(map[string][]Span)}
		x.services[svc] = sv
	}
	return sv
}

// nameKey is the first word of a span name. A span is found by the name it had when it
// started, the name of its task, but may be exported under another: otelhttp names a server
// span after the method ("GET") and adds the route once it is known ("GET /cart"), as the
// HTTP semantic conventions name server spans.
func nameKey(name string) string {
	if i := strings.IndexByte(name, ' '); i >= 0 {
		return name[:i]
	}
	return name
}

// expirySteps is how often per retention the spans past it are dropped: a span stays at most
// 1/expirySteps of the retention longer than it.
const expirySteps = 64

// expireDue drops the spans that started before cutoff when the last expiry was at least
// 1/expirySteps of the retention before now. x.mu is held.
func (x *Index) expireDue(now time.Time, cutoff int64) {
	if now.Sub(x.expired) >= x.limits.Retention/expirySteps {
		x.expire(cutoff)
		x.expired = now
	}
}

// expire drops the spans that started before cutoff; it does not count them: their retention ended.
func (x *Index) expire(cutoff int64) {
	for svcName, sv := range x.services {
		for name, spans := range sv.byName {
			n := sort.Search(len(spans), func(i int) bool { return spans[i].Start >= cutoff })
			if n == 0 {
				continue
			}
			x.count -= n
			drop(sv.byName, name, n)
		}
		if len(sv.byName) == 0 && sv.watermark < cutoff {
			delete(x.services, svcName)
		}
	}
}

// evictOldest drops the span with the earliest start of all services and counts it.
func (x *Index) evictOldest() {
	var oldest *service
	var oldestName string
	for _, sv := range x.services {
		for name, spans := range sv.byName {
			if oldest == nil || spans[0].Start < oldest.byName[oldestName][0].Start {
				oldest, oldestName = sv, name
			}
		}
	}
	drop(oldest.byName, oldestName, 1)
	x.count--
	x.evicted++
}

// drop removes the first n spans of a name. Appending at the end reallocates a list to its
// live part, so what its start lost is not held for long.
func drop(byName map[string][]Span, name string, n int) {
	if rest := byName[name][n:]; len(rest) > 0 {
		byName[name] = rest
		return
	}
	delete(byName, name)
}

// Stats reports how many spans the index holds and how many it evicted since it was made.
func (x *Index) Stats() (held int, evicted int64) {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.count, x.evicted
}

// Watermark returns the latest end of the spans of service seen, in Unix nanoseconds, and
// whether the index has seen the service at all.
func (x *Index) Watermark(svc string) (int64, bool) {
	x.mu.Lock()
	defer x.mu.Unlock()
	sv, ok := x.services[svc]
	if !ok {
		return 0, false
	}
	return sv.watermark, true
}
