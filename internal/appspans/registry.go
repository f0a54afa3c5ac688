package appspans

import (
	"slices"
	"sync"
)

// The indexes of the running gostitchjoin processors, which the receiver consults: both are
// components of one collector process and meet nowhere else.
var registry struct {
	mu      sync.Mutex
	indexes []*Index
}

// Register makes x visible to Registered until Unregister.
func Register(x *Index) {
	registry.mu.Lock()
	defer registry.mu.Unlock()
	if !slices.Contains(registry.indexes, x) {
		registry.indexes = append(registry.indexes, x)
	}
}

// Unregister removes x from Registered.
func Unregister(x *Index) {
	registry.mu.Lock()
	defer registry.mu.Unlock()
	registry.indexes = slices.DeleteFunc(registry.indexes, func(y *Index) bool { return y == x })
}

// Registered returns the indexes registered now, as one.
func Registered() Indexes {
	registry.mu.Lock()
	defer registry.mu.Unlock()
	return slices.Clone(registry.indexes)
}

// Indexes looks through several indexes as one: a span indexed by two (two pipelines carry
// the app's spans) is one span.
type Indexes []*Index

// Watermark is the latest span end of service svc any index saw, and whether one saw it.
func (xs Indexes) Watermark(svc string) (int64, bool) {
	var wm int64
	seen := false
	for _, x := range xs {
		if w, ok := x.Watermark(svc); ok {
			wm, seen = max(wm, w), true
		}
	}
	return wm, seen
}

// Match is Index.Match over all the indexes.
func (xs Indexes) Match(svc string, t Task) (Span, Result) {
	var m matches
	for _, x := range xs {
		x.mu.Lock()
		if sv := x.services[svc]; sv != nil {
			m.scan(sv.byName[nameKey(t.Name)], t)
		}
		x.mu.Unlock()
	}
	return m.result()
}

// Live matches in the indexes registered at the time of each match.
var Live Matcher = live{}

type live struct{}

func (live) Match(svc string, t Task) (Span, Result) {
	registry.mu.Lock()
	defer registry.mu.Unlock()
	return Indexes(registry.indexes).Match(svc, t)
}
