package pprofsrc

import (
	"encoding/binary"
	"hash/maphash"

	"github.com/google/pprof/profile"
	"go.opentelemetry.io/collector/pdata/pcommon"

	"github.com/gostitch/gostitch/receiver/internal/metadata"
)

// locationOf is the dictionary index of a location of the input profile.
func (t *dictionary) locationOf(l *profile.Location) int32 {
	if l.ID < uint64(len(t.locByID)) {
		return t.locByID[l.ID]
	}
	return t.locByIDMap[l.ID]
}

// mapping, function and location store an entry of the input profile's tables (once per
// distinct content) and return its index.
func (t *dictionary) mapping(m *profile.Mapping) int32 {
	k := mappingKey{start: m.Start, limit: m.Limit, offset: m.Offset, file: t.str(m.File)}
	if m.BuildID != "" {
		k.buildID = t.attr(attrKey{kind: attrStr, key: t.str(metadata.AttributeExecutableBuildID), str: m.BuildID})
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

// stackOf returns the index of the stack of the given locations, leaf first.
func (t *dictionary) stackOf(locs []*profile.Location) int32 {
	if len(locs) == 0 {
		return 0
	}
	t.stack = t.stack[:0]
	b := t.buf[:0]
	for _, l := range locs {
		i := t.locationOf(l)
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
