package pprofsrc

import (
	"encoding/binary"
	"hash/maphash"

	"go.opentelemetry.io/collector/pdata/pcommon"

	"github.com/gostitch/gostitch/receiver/internal/metadata"
)

// mapping, function and location store an entry of the input profile's tables (once per
// distinct content) and return its index; the profile is resolved.
func (t *dictionary) mapping(p *pprofData, m mapping) int32 {
	k := mappingKey{start: m.start, limit: m.limit, offset: m.offset, file: t.str(p.str(m.file))}
	if buildID := p.str(m.buildID); buildID != "" {
		k.buildID = t.attr(attrKey{kind: attrStr, key: t.str(metadata.AttributeExecutableBuildID), str: buildID})
	}
	if i, ok := t.mappings[k]; ok {
		return i
	}
	table := t.d.MappingTable()
	i := int32(table.Len())
	dm := table.AppendEmpty()
	dm.SetMemoryStart(m.start)
	dm.SetMemoryLimit(m.limit)
	dm.SetFileOffset(m.offset)
	dm.SetFilenameStrindex(k.file)
	if k.buildID != 0 {
		dm.AttributeIndices().Append(k.buildID)
	}
	t.mappings[k] = i
	return i
}

func (t *dictionary) function(p *pprofData, f function) int32 {
	k := functionKey{name: t.str(p.str(f.name)), systemName: t.str(p.str(f.systemName)), file: t.str(p.str(f.filename)), startLine: int64(f.startLine)}
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

// location is given the location's lines apart from it.
func (t *dictionary) location(lines []line, l location) int32 {
	var mi int32
	if l.mapping != 0 {
		mi = t.mappingOf[l.mapping-1]
	}
	b := binary.AppendUvarint(t.buf[:0], uint64(mi))
	b = binary.AppendUvarint(b, l.address)
	for _, ln := range lines {
		b = binary.AppendUvarint(b, uint64(t.functionOf[ln.function]))
		b = binary.AppendVarint(b, ln.line)
		b = binary.AppendVarint(b, ln.column)
	}
	t.buf = b
	if i, ok := t.locations[string(b)]; ok {
		return i
	}
	table := t.d.LocationTable()
	i := int32(table.Len())
	dl := table.AppendEmpty()
	dl.SetMappingIndex(mi)
	dl.SetAddress(l.address)
	dlines := dl.Lines()
	dlines.EnsureCapacity(len(lines))
	for _, ln := range lines {
		dln := dlines.AppendEmpty()
		dln.SetFunctionIndex(t.functionOf[ln.function])
		dln.SetLine(ln.line)
		dln.SetColumn(ln.column)
	}
	t.locations[string(b)] = i
	return i
}

// stackOf returns the index of the stack of the given locations (positions), leaf first.
func (t *dictionary) stackOf(locs []uint64) int32 {
	if len(locs) == 0 {
		return 0
	}
	t.stack = t.stack[:0]
	b := t.buf[:0]
	for _, l := range locs {
		i := t.locationOf[l]
		t.stack = append(t.stack, i)
		b = binary.AppendUvarint(b, uint64(i))
	}
	t.buf = b
	h := maphash.Bytes(t.seed, b)
	table := t.d.StackTable()
	i, ok := t.stacks[h]
	if ok && equalIndices(table.At(int(i)).LocationIndices(), t.stack) {
		return i
	}
	i = int32(table.Len())
	table.AppendEmpty().LocationIndices().FromRaw(t.stack)
	if !ok {
		t.stacks[h] = i
	}
	return i
}

func equalIndices(a pcommon.Int32Slice, b []int32) bool {
	if a.Len() != len(b) {
		return false
	}
	for i, v := range b {
		if a.At(i) != v {
			return false
		}
	}
	return true
}
