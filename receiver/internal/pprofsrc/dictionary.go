package pprofsrc

import (
	"encoding/binary"

	"github.com/google/pprof/profile"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pprofile"
)

// buildIDKey is the semantic-conventions attribute for a mapping's GNU build id.
const buildIDKey = "process.executable.build_id.gnu"

// dictionary fills a pprofile dictionary, storing each distinct string, mapping, function,
// location, stack, attribute and link once. Index 0 of every table is the zero value, as OTLP
// requires, so that 0 means "unset".
type dictionary struct {
	d pprofile.ProfilesDictionary

	strings   map[string]int32
	mappings  map[mappingKey]int32
	functions map[functionKey]int32
	locations map[string]int32
	stacks    map[string]int32
	attrs     map[attrKey]int32
	links     map[link]int32

	// Per input profile: dictionary index of each of its mappings, functions and locations.
	mappingOf  map[*profile.Mapping]int32
	functionOf map[*profile.Function]int32
	locationOf map[*profile.Location]int32

	buf []byte
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

func newDictionary(d pprofile.ProfilesDictionary, p *profile.Profile) *dictionary {
	t := &dictionary{
		d:          d,
		strings:    make(map[string]int32, 2*len(p.Function)+16),
		mappings:   make(map[mappingKey]int32, len(p.Mapping)),
		functions:  make(map[functionKey]int32, len(p.Function)),
		locations:  make(map[string]int32, len(p.Location)),
		stacks:     make(map[string]int32),
		attrs:      make(map[attrKey]int32),
		links:      make(map[link]int32),
		mappingOf:  make(map[*profile.Mapping]int32, len(p.Mapping)),
		functionOf: make(map[*profile.Function]int32, len(p.Function)),
		locationOf: make(map[*profile.Location]int32, len(p.Location)),
	}
	t.str("")
	d.MappingTable().AppendEmpty()
	d.FunctionTable().AppendEmpty()
	d.LocationTable().AppendEmpty()
	d.StackTable().AppendEmpty()
	d.AttributeTable().AppendEmpty()
	d.LinkTable().AppendEmpty()
	t.links[link{}] = 0

	d.MappingTable().EnsureCapacity(len(p.Mapping) + 1)
	for _, m := range p.Mapping {
		t.mappingOf[m] = t.mapping(m)
	}
	d.FunctionTable().EnsureCapacity(len(p.Function) + 1)
	for _, f := range p.Function {
		t.functionOf[f] = t.function(f)
	}
	d.LocationTable().EnsureCapacity(len(p.Location) + 1)
	for _, l := range p.Location {
		t.locationOf[l] = t.location(l)
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

func (t *dictionary) mapping(m *profile.Mapping) int32 {
	k := mappingKey{start: m.Start, limit: m.Limit, offset: m.Offset, file: t.str(m.File)}
	if m.BuildID != "" {
		k.buildID = t.attr(attrKey{kind: attrStr, key: t.str(buildIDKey), str: m.BuildID})
	}
	if i, ok := t.mappings[k]; ok {
		return i
	}
	table := t.d.MappingTable()
	i := int32(table.Len())
	dm := table.AppendEmpty()
	dm.SetMemoryStart(m.Start)
	dm.SetMemoryLimit(m.Limit)
	dm.SetFileOffset(m.Offset)
	dm.SetFilenameStrindex(k.file)
	if k.buildID != 0 {
		dm.AttributeIndices().Append(k.buildID)
	}
	t.mappings[k] = i
	return i
}

func (t *dictionary) function(f *profile.Function) int32 {
	k := functionKey{name: t.str(f.Name), systemName: t.str(f.SystemName), file: t.str(f.Filename), startLine: f.StartLine}
	if i, ok := t.functions[k]; ok {
		return i
	}
	table := t.d.FunctionTable()
	i := int32(table.Len())
	df := table.AppendEmpty()
	df.SetNameStrindex(k.name)
	df.SetSystemNameStrindex(k.systemName)
	df.SetFilenameStrindex(k.file)
	df.SetStartLine(k.startLine)
	t.functions[k] = i
	return i
}

func (t *dictionary) location(l *profile.Location) int32 {
	var mapping int32
	if l.Mapping != nil {
		mapping = t.mappingOf[l.Mapping]
	}
	b := binary.AppendUvarint(t.buf[:0], uint64(mapping))
	b = binary.AppendUvarint(b, l.Address)
	for _, ln := range l.Line {
		b = binary.AppendUvarint(b, uint64(t.functionOf[ln.Function]))
		b = binary.AppendVarint(b, ln.Line)
		b = binary.AppendVarint(b, ln.Column)
	}
	t.buf = b
	if i, ok := t.locations[string(b)]; ok {
		return i
	}
	table := t.d.LocationTable()
	i := int32(table.Len())
	dl := table.AppendEmpty()
	dl.SetMappingIndex(mapping)
	dl.SetAddress(l.Address)
	lines := dl.Lines()
	lines.EnsureCapacity(len(l.Line))
	for _, ln := range l.Line {
		dln := lines.AppendEmpty()
		dln.SetFunctionIndex(t.functionOf[ln.Function])
		dln.SetLine(ln.Line)
		dln.SetColumn(ln.Column)
	}
	t.locations[string(b)] = i
	return i
}

// stack returns the index of the stack of the given locations, leaf first.
func (t *dictionary) stack(locs []*profile.Location) int32 {
	if len(locs) == 0 {
		return 0
	}
	b := t.buf[:0]
	for _, l := range locs {
		b = binary.AppendUvarint(b, uint64(t.locationOf[l]))
	}
	t.buf = b
	if i, ok := t.stacks[string(b)]; ok {
		return i
	}
	table := t.d.StackTable()
	i := int32(table.Len())
	indices := table.AppendEmpty().LocationIndices()
	indices.EnsureCapacity(len(locs))
	for _, l := range locs {
		indices.Append(t.locationOf[l])
	}
	t.stacks[string(b)] = i
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
