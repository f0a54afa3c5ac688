package pprofsrc

import "strings"

// pprofData is a pprof profile as its protobuf holds it: the tables in the order of the bytes,
// strings as indices into the string table. References between records are ids as read; once
// resolved (resolve) they are positions in the tables.
type pprofData struct {
	strings           []string
	sampleTypes       []valueType
	periodType        valueType
	defaultSampleType uint64
	period            int64
	timeNanos         int64
	durationNanos     int64
	// String indices the conversion ignores, checked like the others.
	dropFrames, keepFrames, docURL uint64
	comments                       []uint64
	// text holds the bytes of all the strings, in one allocation.
	text strings.Builder

	mappings  []mapping
	functions []function
	locations []location
	lines     []line
	samples   []sample
	// locs are the location ids of the samples, leaf first (positions once resolved); values
	// are the values of the samples, len(sampleTypes) each; labels their labels.
	locs   []uint64
	values []int64
	labels []label
}

type valueType struct{ typ, unit uint64 }

type mapping struct{ id, start, limit, offset, file, buildID uint64 }

type function struct{ id, name, systemName, filename, startLine uint64 }

type location struct {
	id, address uint64
	// mapping is the mapping id; once resolved, the position of the mapping plus one, or 0 for
	// none (the id 0 or an unknown id, as profile.Parse has it).
	mapping uint64
	lines   span
}

type line struct {
	// function is the function id; once resolved, the position of the function.
	function     uint64
	line, column int64
}

type sample struct{ locs, labels span }

type label struct{ key, str, num, unit uint64 }

// span is the range [from, to) of a record's entries in a shared slice.
type span struct{ from, to int }

// str is the string at index i of the string table, once resolved.
func (p *pprofData) str(i uint64) string { return p.strings[i] }

// sampleValues are the values of sample i.
func (p *pprofData) sampleValues(i int) []int64 {
	n := len(p.sampleTypes)
	return p.values[i*n : (i+1)*n]
}

// leafFunction is the name of the innermost function of sample s, or "" when it has none.
func (p *pprofData) leafFunction(s sample) string {
	if s.locs.to == s.locs.from {
		return ""
	}
	l := p.locations[p.locs[s.locs.from]]
	if l.lines.to == l.lines.from {
		return ""
	}
	return p.str(p.functions[p.lines[l.lines.from].function].name)
}
