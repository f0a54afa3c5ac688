package profdict

import (
	"slices"
	"testing"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pprofile"
)

// TestDictStoresEachEntryOnce: every table starts with its zero entry, an entry with nothing in
// it is that zero entry, and equal entries share one index while different ones do not.
func TestDictStoresEachEntryOnce(t *testing.T) {
	pd := pprofile.NewProfiles()
	d := New(pd.Dictionary(), Sizes{})
	tables := pd.Dictionary()
	for name, n := range map[string]int{"string": tables.StringTable().Len(), "mapping": tables.MappingTable().Len(),
		"function": tables.FunctionTable().Len(), "location": tables.LocationTable().Len(), "stack": tables.StackTable().Len(),
		"attribute": tables.AttributeTable().Len(), "link": tables.LinkTable().Len()} {
		if n != 1 {
			t.Errorf("%s table starts with %d entries, want the zero entry", name, n)
		}
	}
	if d.Str("") != 0 || d.Function(Function{}) != 0 || d.Location(0, 0, nil) != 0 || d.Stack(nil) != 0 || d.Link(Link{}) != 0 {
		t.Error("an empty entry is not index 0")
	}

	main := d.Function(Function{Name: d.Str("main.f"), File: d.Str("main.go")})
	if again := d.Function(Function{Name: d.Str("main.f"), File: d.Str("main.go")}); again != main || main == 0 {
		t.Errorf("function stored at %d, then %d", main, again)
	}
	a := d.Location(0, 0x10, []Line{{Function: main, Line: 3}})
	b := d.Location(0, 0x10, []Line{{Function: main, Line: 4}})
	if a == b || d.Location(0, 0x10, []Line{{Function: main, Line: 3}}) != a {
		t.Errorf("locations %d and %d", a, b)
	}
	ab, ba := d.Stack([]int32{a, b}), d.Stack([]int32{b, a})
	if ab == ba || d.Stack([]int32{a, b}) != ab {
		t.Errorf("stacks %d and %d", ab, ba)
	}
	if got := tables.StackTable().At(int(ba)).LocationIndices().AsRaw(); len(got) != 2 || got[0] != b || got[1] != a {
		t.Errorf("stack %d holds %v", ba, got)
	}
	l := Link{Trace: pcommon.TraceID{1}, Span: pcommon.SpanID{2}}
	if i := d.Link(l); i != 1 || d.Link(l) != 1 || tables.LinkTable().At(1).SpanID() != l.Span {
		t.Errorf("link stored at %d", i)
	}
	if n := tables.StringTable().Len(); n != 3 {
		t.Errorf("%d strings, want \"\", main.f and main.go", n)
	}
}

// TestHashIndexKeepsCollisions: entries of the same hash are all found, also after the index
// grows.
func TestHashIndexKeepsCollisions(t *testing.T) {
	x := newHashIndex(0)
	const same = 0xabcdef0123456789
	for pos := range int32(40) {
		h := uint64(same)
		if pos%2 == 1 {
			h = uint64(pos) << 40 // others between them, some colliding in their slot
		}
		pr := x.probe(h)
		for pr.next() >= 0 {
		}
		pr.add(pos)
	}
	pr := x.probe(same)
	var got []int32
	for i := pr.next(); i >= 0; i = pr.next() {
		got = append(got, i)
	}
	var want []int32
	for pos := int32(0); pos < 40; pos += 2 {
		want = append(want, pos)
	}
	if slices.Sort(got); !slices.Equal(got, want) {
		t.Errorf("found %v for the shared hash, want 0, 2, …, 38", got)
	}
	if len(x.slots) < 80 {
		t.Errorf("%d slots for 40 entries: more than half full", len(x.slots))
	}
}
