package pprofsrc

import (
	"encoding/binary"
	"hash/maphash"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pprofile"
)

// dictionary fills a pprofile dictionary, storing each distinct string, mapping, function,
// location, stack, attribute and link once. Index 0 of every table is the zero value, as OTLP
// requires, so that 0 means "unset".
type dictionary struct {
	d pprofile.ProfilesDictionary

	strings   map[string]int32
	mappings  map[mappingKey]int32
	functions map[functionKey]int32
	locations map[string]int32
	// stacks indexes stacks by a hash of their location indices, checked on a hit; in the
	// unlikely case of a collision the second stack is stored again.
	stacks map[uint64]int32
	seed   maphash.Seed
	attrs  map[attrKey]int32
	links  map[link]int32

	// Dictionary index of each of the input profile's mappings, functions and locations, by
	// position.
	mappingOf, functionOf, locationOf []int32

	buf   []byte
	stack []int32
}

type mappingKey struct {
	start, limit, offset uint64
	file, buildID        int32
}

type functionKey struct {
	name, systemName, file int32
	startLine              int64
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

// link is the trace and span a sample belongs to.
type link struct {
	trace pcommon.TraceID
	span  pcommon.SpanID
}

func newDictionary(d pprofile.ProfilesDictionary, p *pprofData) *dictionary {
	t := &dictionary{
		d:          d,
		strings:    make(map[string]int32, 2*len(p.functions)+16),
		mappings:   make(map[mappingKey]int32, len(p.mappings)),
		functions:  make(map[functionKey]int32, len(p.functions)),
		locations:  make(map[string]int32, len(p.locations)),
		stacks:     make(map[uint64]int32, len(p.samples)),
		seed:       maphash.MakeSeed(),
		attrs:      make(map[attrKey]int32),
		links:      make(map[link]int32),
		mappingOf:  make([]int32, len(p.mappings)),
		functionOf: make([]int32, len(p.functions)),
		locationOf: make([]int32, len(p.locations)),
	}
	t.str("")
	d.MappingTable().AppendEmpty()
	d.FunctionTable().AppendEmpty()
	d.LocationTable().AppendEmpty()
	d.StackTable().AppendEmpty()
	d.AttributeTable().AppendEmpty()
	d.LinkTable().AppendEmpty()
	// An entry of the profile with nothing in it is the zero entry: storing it again would
	// repeat index 0.
	t.mappings[mappingKey{}] = 0
	t.functions[functionKey{}] = 0
	t.locations[string(binary.AppendUvarint(binary.AppendUvarint(nil, 0), 0))] = 0
	t.links[link{}] = 0

	d.MappingTable().EnsureCapacity(len(p.mappings) + 1)
	for i, m := range p.mappings {
		t.mappingOf[i] = t.mapping(p, m)
	}
	d.FunctionTable().EnsureCapacity(len(p.functions) + 1)
	for i, f := range p.functions {
		t.functionOf[i] = t.function(p, f)
	}
	d.StackTable().EnsureCapacity(len(p.samples) + 1)
	d.LocationTable().EnsureCapacity(len(p.locations) + 1)
	for i, l := range p.locations {
		t.locationOf[i] = t.location(p.lines[l.lines.from:l.lines.to], l)
	}
	return t
}

// str returns the index of s in the string table.
func (t *dictionary) str(s string) int32 {
	if i, ok := t.strings[s]; ok {
		return i
	}
	table := t.d.StringTable()
	i := int32(table.Len())
	table.Append(s)
	t.strings[s] = i
	return i
}

// attr returns the index of the attribute k.
func (t *dictionary) attr(k attrKey) int32 {
	if i, ok := t.attrs[k]; ok {
		return i
	}
	table := t.d.AttributeTable()
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

// link returns the index of l in the link table; the zero link is index 0.
func (t *dictionary) link(l link) int32 {
	if i, ok := t.links[l]; ok {
		return i
	}
	table := t.d.LinkTable()
	i := int32(table.Len())
	dl := table.AppendEmpty()
	dl.SetTraceID(l.trace)
	dl.SetSpanID(l.span)
	t.links[l] = i
	return i
}
