// Package idmap holds values by a trace's integer ids (goroutines), with a small direct-mapped
// cache in front of the map: a trace reader looks a goroutine up at nearly every event, and
// most lookups are of the few goroutines that ran last. See docs/design.md, "Layers".
package idmap

import (
	"iter"
	"maps"
)

// cacheSize is the number of direct-mapped cache slots.
const cacheSize = 1024

// Map maps ids to values. The zero Map is empty and ready to use.
type Map[K ~int64 | ~uint64, V any] struct {
	m     map[K]*V
	cache [cacheSize]entry[K, V]
}

type entry[K ~int64 | ~uint64, V any] struct {
	id K
	v  *V
}

func (m *Map[K, V]) slot(id K) *entry[K, V] { return &m.cache[uint64(id)%cacheSize] }

// Get returns the value of id, nil when there is none.
func (m *Map[K, V]) Get(id K) *V {
	e := m.slot(id)
	if e.v != nil && e.id == id {
		return e.v
	}
	v := m.m[id]
	if v != nil {
		e.id, e.v = id, v
	}
	return v
}

// Put sets the value of id; v must not be nil.
func (m *Map[K, V]) Put(id K, v *V) {
	if m.m == nil {
		m.m = make(map[K]*V)
	}
	m.m[id] = v
	e := m.slot(id)
	e.id, e.v = id, v
}

// Delete removes id.
func (m *Map[K, V]) Delete(id K) {
	delete(m.m, id)
	if e := m.slot(id); e.v != nil && e.id == id {
		e.v = nil
	}
}

// Len is the number of ids held.
func (m *Map[K, V]) Len() int { return len(m.m) }

// Keys returns the ids held, in no particular order.
func (m *Map[K, V]) Keys() iter.Seq[K] { return maps.Keys(m.m) }
