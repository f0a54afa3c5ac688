package pprofsrc

import (
	"encoding/binary"

	"go.opentelemetry.io/collector/pdata/pprofile"

	"github.com/gostitch/gostitch/receiver/internal/profdict"
)

// dictionary fills a pprofile dictionary from a pprof profile: profdict's tables, plus the
// mappings and attributes, each distinct one stored once.
type dictionary struct {
	*profdict.Dict

	mappings map[mappingKey]int32
	attrs    map[attrKey]int32

	// Dictionary index of each of the input profile's mappings, functions and locations, by
	// position.
	mappingOf, functionOf, locationOf []int32
	// strOf is the dictionary index of each string of the input profile looked up so far (0:
	// not yet, or the empty string).
	strOf []int32

	lines []profdict.Line
	stack []int32
}

type mappingKey struct {
	start, limit, offset uint64
	file, buildID        int32
}

// attrKey identifies an attribute: a string label (str), a numeric label (num, unit) or a label
// with several values, encoded in str (attrStrs: uvarint length and bytes each; attrInts: varints).
type attrKey struct {
	kind      attrKind
	key, unit int32
	str       string
	num       int64
}

type attrKind uint8

const (
	attrStr attrKind = iota
	attrInt
	attrStrs
	attrInts
)

func newDictionary(d pprofile.ProfilesDictionary, p *pprofData) *dictionary {
	t := &dictionary{
		Dict: profdict.New(d, profdict.Sizes{Strings: 2*len(p.functions) + 16, Functions: len(p.functions),
			Locations: len(p.locations), Stacks: len(p.samples)}),
		mappings:   make(map[mappingKey]int32, len(p.mappings)),
		attrs:      make(map[attrKey]int32),
		mappingOf:  make([]int32, len(p.mappings)),
		functionOf: make([]int32, len(p.functions)),
		locationOf: make([]int32, len(p.locations)),
		strOf:      make([]int32, len(p.strings)),
	}
	// A mapping of the profile with nothing in it is the zero entry: storing it again would
	// repeat index 0.
	t.mappings[mappingKey{}] = 0

	d.MappingTable().EnsureCapacity(len(p.mappings) + 1)
	for i, m := range p.mappings {
		t.mappingOf[i] = t.mapping(p, m)
	}
	for i, f := range p.functions {
		t.functionOf[i] = t.Function(profdict.Function{Name: t.str(p, f.name), SystemName: t.str(p, f.systemName),
			File: t.str(p, f.filename), StartLine: int64(f.startLine)})
	}
	for i, l := range p.locations {
		t.locationOf[i] = t.location(p.lines[l.lines.from:l.lines.to], l)
	}
	return t
}

// str returns the index of the input profile's string i; a function's names and file
// repeat, and an index is cheaper to look up than a string.
func (t *dictionary) str(p *pprofData, i uint64) int32 {
	if t.strOf[i] == 0 {
		t.strOf[i] = t.Str(p.str(i))
	}
	return t.strOf[i]
}

// attr returns the index of the attribute k.
func (t *dictionary) attr(k attrKey) int32 {
	if i, ok := t.attrs[k]; ok {
		return i
	}
	table := t.Tables().AttributeTable()
	i := int32(table.Len())
	a := table.AppendEmpty()
	a.SetKeyStrindex(k.key)
	a.SetUnitStrindex(k.unit)
	switch k.kind {
	case attrStr:
		a.Value().SetStr(k.str)
	case attrInt:
		a.Value().SetInt(k.num)
	case attrStrs:
		vals := a.Value().SetEmptySlice()
		for b := []byte(k.str); len(b) > 0; {
			n, w := binary.Uvarint(b)
			vals.AppendEmpty().SetStr(string(b[w : w+int(n)]))
			b = b[w+int(n):]
		}
	case attrInts:
		vals := a.Value().SetEmptySlice()
		for b := []byte(k.str); len(b) > 0; {
			v, w := binary.Varint(b)
			vals.AppendEmpty().SetInt(v)
			b = b[w:]
		}
	}
	t.attrs[k] = i
	return i
}
