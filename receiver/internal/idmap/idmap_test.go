package idmap

import (
	"slices"
	"testing"
)

// TestMapAgreesWithAPlainMap runs a sequence of puts, gets and deletes whose ids collide in the
// cache against a plain map.
func TestMapAgreesWithAPlainMap(t *testing.T) {
	var m Map[int64, int]
	plain := map[int64]*int{}
	for i := range 20000 {
		id := int64(i*7919) % 5000 // ids 1024 apart share a slot
		switch i % 5 {
		case 0, 1:
			v := i
			m.Put(id, &v)
			plain[id] = &v
		case 2:
			m.Delete(id)
			delete(plain, id)
		default:
			if got, want := m.Get(id), plain[id]; got != want {
				t.Fatalf("step %d: Get(%d) = %v, want %v", i, id, got, want)
			}
		}
	}
	if m.Len() != len(plain) {
		t.Fatalf("Len %d, want %d", m.Len(), len(plain))
	}
	keys := slices.Sorted(m.Keys())
	for _, id := range keys {
		if m.Get(id) != plain[id] {
			t.Fatalf("Get(%d) after the run differs", id)
		}
	}
	if m.Get(123456) != nil {
		t.Fatal("an id never put has a value")
	}
}
