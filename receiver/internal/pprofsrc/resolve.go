package pprofsrc

import (
	"errors"
	"fmt"
)

// resolve checks what profile.Parse and Profile.CheckValid check (string indices in range,
// record ids unique and not 0, the functions of lines and the locations of samples present,
// sample types for the samples) and replaces the references by positions.
func (p *pprofData) resolve() error {
	if len(p.strings) == 0 {
		return errors.New("no string table")
	}
	if err := p.checkStrings(); err != nil {
		return err
	}
	if len(p.sampleTypes) == 0 && len(p.samples) > 0 {
		return fmt.Errorf("%d samples without sample types", len(p.samples))
	}
	mappings, err := indexIDs("mapping", len(p.mappings), func(i int) uint64 { return p.mappings[i].id })
	if err != nil {
		return err
	}
	functions, err := indexIDs("function", len(p.functions), func(i int) uint64 { return p.functions[i].id })
	if err != nil {
		return err
	}
	locations, err := indexIDs("location", len(p.locations), func(i int) uint64 { return p.locations[i].id })
	if err != nil {
		return err
	}
	for i := range p.locations {
		l := &p.locations[i]
		l.mapping = uint64(mappings.get(l.mapping) + 1)
		for j := l.lines.from; j < l.lines.to; j++ {
			ln := &p.lines[j]
			fi := functions.get(ln.function)
			if fi < 0 {
				return fmt.Errorf("location %d (id %d): no function of id %d", i, l.id, ln.function)
			}
			ln.function = uint64(fi)
		}
	}
	for i, s := range p.samples {
		for j := s.locs.from; j < s.locs.to; j++ {
			li := locations.get(p.locs[j])
			if li < 0 {
				return fmt.Errorf("sample %d: no location of id %d", i, p.locs[j])
			}
			p.locs[j] = uint64(li)
		}
	}
	return nil
}

// checkStrings checks that every string index of the profile is in the string table.
func (p *pprofData) checkStrings() error {
	n := uint64(len(p.strings))
	bad := func(indices ...uint64) bool {
		for _, i := range indices {
			if i >= n {
				return true
			}
		}
		return false
	}
	if bad(p.periodType.typ, p.periodType.unit, p.defaultSampleType, p.dropFrames, p.keepFrames, p.docURL) || bad(p.comments...) {
		return fmt.Errorf("a string index of the profile is out of range (%d strings)", n)
	}
	for i, st := range p.sampleTypes {
		if bad(st.typ, st.unit) {
			return fmt.Errorf("sample type %d: string index out of range (%d strings)", i, n)
		}
	}
	for i, m := range p.mappings {
		if bad(m.file, m.buildID) {
			return fmt.Errorf("mapping %d (id %d): string index out of range (%d strings)", i, m.id, n)
		}
	}
	for i, f := range p.functions {
		if bad(f.name, f.systemName, f.filename) {
			return fmt.Errorf("function %d (id %d): string index out of range (%d strings)", i, f.id, n)
		}
	}
	for i, s := range p.samples {
		for _, l := range p.labels[s.labels.from:s.labels.to] {
			// profile.Parse reads a label's unit only when it has no string value.
			if bad(l.key) || l.str != 0 && bad(l.str) || l.str == 0 && bad(l.unit) {
				return fmt.Errorf("sample %d: label string index out of range (%d strings)", i, n)
			}
		}
	}
	return nil
}

// positions maps the ids of a table's records to their positions.
type positions struct {
	// dense holds position+1 by id for small ids (0: none), sparse the others.
	dense  []int32
	sparse map[uint64]int32
}

// indexIDs indexes the ids of a table of n records; they must be unique and not 0.
func indexIDs(table string, n int, id func(int) uint64) (positions, error) {
	x := positions{dense: make([]int32, 2*n+1)}
	for i := range n {
		v := id(i)
		switch {
		case v == 0:
			return x, fmt.Errorf("%s %d has the reserved id 0", table, i)
		case x.get(v) >= 0:
			return x, fmt.Errorf("%s %d: a second %s of id %d", table, i, table, v)
		case v < uint64(len(x.dense)):
			x.dense[v] = int32(i + 1)
		case x.sparse == nil:
			x.sparse = map[uint64]int32{v: int32(i)}
		default:
			x.sparse[v] = int32(i)
		}
	}
	return x, nil
}

// get returns the position of the record of the given id, or -1.
func (x positions) get(id uint64) int {
	if id < uint64(len(x.dense)) {
		return int(x.dense[id]) - 1
	}
	if i, ok := x.sparse[id]; ok {
		return int(i)
	}
	return -1
}
