// Package profdict fills the dictionary that the profiles of an OTLP ProfilesData share,
// storing each distinct string, function, location, stack and link once. Index 0 of every
// table is the zero value, as OTLP requires, so that 0 means "unset".
//
// Its place among the layers: docs/design.md, "Layers".
package profdict

import (
	"hash/maphash"
	"math/bits"
	"math/rand/v2"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pprofile"
)

// Function identifies a function by the string indices of its names and file.
type Function struct {
	Name, SystemName, File int32
	StartLine              int64
}

// Line is one line of a location: a function index and the position in it.
type Line struct {
	Function     int32
	Line, Column int64
}

// Link is the trace and span a sample belongs to.
type Link struct {
	Trace pcommon.TraceID
	Span  pcommon.SpanID
}

// Sizes are capacity hints for the tables; 0 is fine.
type Sizes struct {
	Strings, Functions, Locations, Stacks int
}

// Dict fills one pprofile dictionary. The mapping and attribute tables get their zero entry
// and are otherwise the caller's (Tables).
type Dict struct {
	d pprofile.ProfilesDictionary
	// strings, functions, locations and stacks index their tables by a hash of the entries'
	// content.
	strings, functions, locations, stacks hashIndex
	seed                                  uint64 // starts those hashes
	stringSeed                            maphash.Seed
	links                                 map[Link]int32
}

// New starts filling d, which must be empty.
func New(d pprofile.ProfilesDictionary, sizes Sizes) *Dict {
	t := &Dict{
		d:          d,
		strings:    newHashIndex(sizes.Strings + 1),
		functions:  newHashIndex(sizes.Functions + 1),
		locations:  newHashIndex(sizes.Locations + 1),
		stacks:     newHashIndex(sizes.Stacks),
		seed:       rand.Uint64(),
		stringSeed: maphash.MakeSeed(),
		links:      make(map[Link]int32),
	}
	t.Str("")
	d.MappingTable().AppendEmpty()
	d.FunctionTable().AppendEmpty()
	d.LocationTable().AppendEmpty()
	d.StackTable().AppendEmpty()
	d.AttributeTable().AppendEmpty()
	d.LinkTable().AppendEmpty()
	// An entry with nothing in it is the zero entry: storing it again would repeat index 0.
	zeroFunction, zeroLocation := t.functions.probe(t.functionHash(Function{})), t.locations.probe(t.locationHash(0, 0, nil))
	zeroFunction.add(0)
	zeroLocation.add(0)
	d.StringTable().EnsureCapacity(sizes.Strings + 1)
	d.FunctionTable().EnsureCapacity(sizes.Functions + 1)
	d.LocationTable().EnsureCapacity(sizes.Locations + 1)
	d.StackTable().EnsureCapacity(sizes.Stacks + 1)
	return t
}

// Tables is the dictionary being filled.
func (t *Dict) Tables() pprofile.ProfilesDictionary { return t.d }

// Str returns the index of s in the string table.
func (t *Dict) Str(s string) int32 {
	h := maphash.String(t.stringSeed, s)
	table := t.d.StringTable()
	pr := t.strings.probe(h)
	for i := pr.next(); i >= 0; i = pr.next() {
		if table.At(int(i)) == s {
			return i
		}
	}
	i := int32(table.Len())
	table.Append(s)
	pr.add(i)
	return i
}

// Function returns the index of f in the function table.
func (t *Dict) Function(f Function) int32 {
	h := t.functionHash(f)
	table := t.d.FunctionTable()
	pr := t.functions.probe(h)
	for i := pr.next(); i >= 0; i = pr.next() {
		if sameFunction(table.At(int(i)), f) {
			return i
		}
	}
	i := int32(table.Len())
	df := table.AppendEmpty()
	df.SetNameStrindex(f.Name)
	df.SetSystemNameStrindex(f.SystemName)
	df.SetFilenameStrindex(f.File)
	df.SetStartLine(f.StartLine)
	pr.add(i)
	return i
}

// functionHash hashes a function's content.
func (t *Dict) functionHash(f Function) uint64 {
	return mix(mix(mix(mix(t.seed, uint64(f.Name)), uint64(f.SystemName)), uint64(f.File)), uint64(f.StartLine))
}

// sameFunction reports whether df is the function f.
func sameFunction(df pprofile.Function, f Function) bool {
	return df.NameStrindex() == f.Name && df.SystemNameStrindex() == f.SystemName && df.FilenameStrindex() == f.File &&
		df.StartLine() == f.StartLine
}

// Location returns the index of the location of mapping index mapping at address with lines
// (innermost first) in the location table.
func (t *Dict) Location(mapping int32, address uint64, lines []Line) int32 {
	h := t.locationHash(mapping, address, lines)
	table := t.d.LocationTable()
	pr := t.locations.probe(h)
	for i := pr.next(); i >= 0; i = pr.next() {
		if sameLocation(table.At(int(i)), mapping, address, lines) {
			return i
		}
	}
	i := int32(table.Len())
	dl := table.AppendEmpty()
	dl.SetMappingIndex(mapping)
	dl.SetAddress(address)
	dlines := dl.Lines()
	dlines.EnsureCapacity(len(lines))
	for _, ln := range lines {
		dln := dlines.AppendEmpty()
		dln.SetFunctionIndex(ln.Function)
		dln.SetLine(ln.Line)
		dln.SetColumn(ln.Column)
	}
	pr.add(i)
	return i
}

// locationHash hashes a location's content.
func (t *Dict) locationHash(mapping int32, address uint64, lines []Line) uint64 {
	h := mix(mix(t.seed, uint64(mapping)), address)
	for _, ln := range lines {
		h = mix(mix(mix(h, uint64(ln.Function)), uint64(ln.Line)), uint64(ln.Column))
	}
	return h
}

// mix folds v into the hash h: a multiply and shift per word, far cheaper than encoding the
// words for a byte hash. Collisions are checked, so it need not be strong.
func mix(h, v uint64) uint64 {
	h = (h ^ v) * 0x9e3779b97f4a7c15
	return h ^ h>>32
}

// sameLocation reports whether dl is the location of mapping index mapping at address with lines.
func sameLocation(dl pprofile.Location, mapping int32, address uint64, lines []Line) bool {
	dlines := dl.Lines()
	if dl.MappingIndex() != mapping || dl.Address() != address || dlines.Len() != len(lines) {
		return false
	}
	for i, ln := range lines {
		if d := dlines.At(i); d.FunctionIndex() != ln.Function || d.Line() != ln.Line || d.Column() != ln.Column {
			return false
		}
	}
	return true
}

// Stack returns the index of the stack of the given location indices, leaf first; 0 for none.
func (t *Dict) Stack(locs []int32) int32 {
	if len(locs) == 0 {
		return 0
	}
	h := t.seed
	for _, l := range locs {
		h = mix(h, uint64(l))
	}
	table := t.d.StackTable()
	pr := t.stacks.probe(h)
	for i := pr.next(); i >= 0; i = pr.next() {
		if equalIndices(table.At(int(i)).LocationIndices(), locs) {
			return i
		}
	}
	i := int32(table.Len())
	indices := table.AppendEmpty().LocationIndices()
	indices.EnsureCapacity(len(locs)) // made to size: cheaper than grown by FromRaw's append
	indices.FromRaw(locs)
	pr.add(i)
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

// Link returns the index of l in the link table; the zero link is index 0.
func (t *Dict) Link(l Link) int32 {
	if l == (Link{}) {
		return 0
	}
	if i, ok := t.links[l]; ok {
		return i
	}
	table := t.d.LinkTable()
	i := int32(table.Len())
	dl := table.AppendEmpty()
	dl.SetTraceID(l.Trace)
	dl.SetSpanID(l.Span)
	t.links[l] = i
	return i
}

// hashIndex finds the entries of a table by a hash of their content: open addressing with
// linear probing, at most half full, cheaper than a map, which would hash the hashes again. A
// slot keeps 32 bits of the hash; the caller compares the content of each entry a probe finds,
// so entries whose hashes collide are told apart.
type hashIndex struct {
	slots []hashSlot // a power of two of them
	used  int
}

type hashSlot struct {
	hash uint32
	pos  int32 // position + 1; 0 for an empty slot
}

func newHashIndex(n int) hashIndex {
	size := 8
	for size < 2*n {
		size *= 2
	}
	return hashIndex{slots: make([]hashSlot, size)}
}

// probe walks the slots where the entries of one hash may be.
type probe struct {
	x    *hashIndex
	i    uint64
	hash uint32
}

// probe starts looking for the entries of hash h.
func (x *hashIndex) probe(h uint64) probe {
	h32 := uint32(h >> 32)
	return probe{x: x, i: x.start(h32), hash: h32}
}

// next returns the position of the next entry stored with the probe's hash, or -1 at the end
// of the probe.
func (p *probe) next() int32 {
	mask := uint64(len(p.x.slots) - 1)
	for {
		s := p.x.slots[p.i]
		if s.pos == 0 {
			return -1
		}
		p.i = (p.i + 1) & mask
		if s.hash == p.hash {
			return s.pos - 1
		}
	}
}

// add stores position pos for the probe's hash.
func (p *probe) add(pos int32) { p.x.insert(p.hash, pos) }

// insert stores position pos for the 32-bit hash h.
func (x *hashIndex) insert(h uint32, pos int32) {
	if 2*(x.used+1) > len(x.slots) {
		old := x.slots
		x.slots, x.used = make([]hashSlot, 2*len(old)), 0
		for _, s := range old {
			if s.pos != 0 {
				x.insert(s.hash, s.pos-1)
			}
		}
	}
	mask := uint64(len(x.slots) - 1)
	i := x.start(h)
	for x.slots[i].pos != 0 {
		i = (i + 1) & mask
	}
	x.slots[i] = hashSlot{hash: h, pos: pos + 1}
	x.used++
}

// start is the slot where probing for h starts: from the high bits of a multiple of h, which
// all of h's bits reach.
func (x *hashIndex) start(h uint32) uint64 {
	return (uint64(h) * 0x9e3779b97f4a7c15) >> (64 - bits.Len(uint(len(x.slots)-1)))
}
