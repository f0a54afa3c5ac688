package pprofsrc

import (
	"github.com/gostitch/gostitch/receiver/internal/metadata"
	"github.com/gostitch/gostitch/receiver/internal/profdict"
)

// mapping stores a mapping of the resolved input profile (once per distinct content) and
// returns its index.
func (t *dictionary) mapping(p *pprofData, m mapping) int32 {
	k := mappingKey{start: m.start, limit: m.limit, offset: m.offset, file: t.str(p, m.file)}
	if buildID := p.str(m.buildID); buildID != "" {
		k.buildID = t.attr(attrKey{kind: attrStr, key: t.Str(metadata.AttributeExecutableBuildID), str: buildID})
	}
	if i, ok := t.mappings[k]; ok {
		return i
	}
	table := t.Tables().MappingTable()
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

// location stores a location of the input profile, given its lines apart from it.
func (t *dictionary) location(lines []line, l location) int32 {
	var mi int32
	if l.mapping != 0 {
		mi = t.mappingOf[l.mapping-1]
	}
	t.lines = t.lines[:0]
	for _, ln := range lines {
		t.lines = append(t.lines, profdict.Line{Function: t.functionOf[ln.function], Line: ln.line, Column: ln.column})
	}
	return t.Location(mi, l.address, t.lines)
}

// stackOf returns the index of the stack of the given locations (positions), leaf first.
func (t *dictionary) stackOf(locs []uint64) int32 {
	t.stack = t.stack[:0]
	for _, l := range locs {
		t.stack = append(t.stack, t.locationOf[l])
	}
	return t.Stack(t.stack)
}
