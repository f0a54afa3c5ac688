package pprofsrc

import "fmt"

// Field numbers of the pprof Profile message.
const (
	fieldSampleType = 1 + iota
	fieldSample
	fieldMapping
	fieldLocation
	fieldFunction
	fieldStringTable
	fieldDropFrames
	fieldKeepFrames
	fieldTimeNanos
	fieldDurationNanos
	fieldPeriodType
	fieldPeriod
	fieldComment
	fieldDefaultSampleType
	fieldDocURL
)

// Field numbers of the pprof Sample message.
const (
	sampleLocationID = 1 + iota
	sampleValue
	sampleLabel
)

// fieldNames name the fields of the Profile message in errors.
var fieldNames = [...]string{
	fieldSampleType: "sample_type", fieldSample: "sample", fieldMapping: "mapping", fieldLocation: "location",
	fieldFunction: "function", fieldStringTable: "string_table", fieldDropFrames: "drop_frames",
	fieldKeepFrames: "keep_frames", fieldTimeNanos: "time_nanos", fieldDurationNanos: "duration_nanos",
	fieldPeriodType: "period_type", fieldPeriod: "period", fieldComment: "comment",
	fieldDefaultSampleType: "default_sample_type", fieldDocURL: "doc_url",
}

// recordCounts is how many records of each table a profile has.
type recordCounts struct {
	sampleTypes, samples, mappings, locations, functions, strings int
	// sampleBytes is the size of all the samples; locs and labels count their locations and
	// labels (estimated below countSamplesAbove), stringBytes is the size of the strings.
	sampleBytes, locs, labels, stringBytes int
}

// countSamplesAbove is the size above which the locations and labels of the samples are
// counted, so that reading a large profile takes no more memory than it needs. Below it they
// are estimated, and grow as read: cheaper than reading every sample twice.
const countSamplesAbove = 64 << 10

// countRecords walks the top-level fields of a pprof protobuf, checking their framing, and
// counts the records of each table.
func countRecords(b []byte) (recordCounts, error) {
	var c recordCounts
	exact := len(b) > countSamplesAbove
	r := fields{b: b}
	for r.next() {
		if r.typ != wireBytes {
			continue
		}
		switch r.num {
		case fieldSampleType:
			c.sampleTypes++
		case fieldSample:
			c.samples++
			c.sampleBytes += int(r.val)
			if exact {
				c.countSample(&r)
			}
		case fieldMapping:
			c.mappings++
		case fieldLocation:
			c.locations++
		case fieldFunction:
			c.functions++
		case fieldStringTable:
			c.strings++
			c.stringBytes += int(r.val)
		}
	}
	if !exact {
		// A sample of a Go profile takes some ten bytes besides its location ids, most of
		// which take a byte or two. Most profiles have no labels.
		c.locs = c.sampleBytes / 2
	}
	return c, r.err
}

// countSample adds the locations and labels of the sample r is at to the counts. It stops at
// a framing error, which readSample reports.
func (c *recordCounts) countSample(r *fields) {
	s, _ := r.message()
	for s.next() {
		switch {
		case s.num == sampleLocationID && s.typ == wireBytes:
			c.locs += varintEnds(s.data())
		case s.num == sampleLocationID:
			c.locs++
		case s.num == sampleLabel:
			c.labels++
		}
	}
}

// readProfile reads a pprof protobuf of the given counts, unresolved.
func readProfile(b []byte, c recordCounts) (*pprofData, error) {
	p := &pprofData{
		strings:     make([]string, 0, c.strings),
		sampleTypes: make([]valueType, 0, c.sampleTypes),
		mappings:    make([]mapping, 0, c.mappings),
		functions:   make([]function, 0, c.functions),
		locations:   make([]location, 0, c.locations),
		// Inlining gives Go profiles some 1.3 lines a location.
		lines:   make([]line, 0, c.locations+c.locations/2),
		samples: make([]sample, 0, c.samples),
		// Each value and location takes a byte at least.
		values: make([]int64, 0, min(c.samples*c.sampleTypes, c.sampleBytes)),
		locs:   make([]uint64, 0, c.locs),
		labels: make([]label, 0, c.labels),
	}
	p.text.Grow(c.stringBytes)
	r := fields{b: b}
	for r.next() {
		if err := p.readField(&r, c.sampleTypes); err != nil {
			return nil, fmt.Errorf("%s: %w", fieldNames[r.num], err)
		}
	}
	if r.err != nil {
		return nil, r.err
	}
	return p, nil
}

// readField reads the top-level field f is at; samples must have sampleTypes values.
func (p *pprofData) readField(f *fields, sampleTypes int) error {
	var err error
	switch f.num {
	case fieldSampleType:
		var vt valueType
		err = readScalars(f, &vt.typ, &vt.unit)
		p.sampleTypes = append(p.sampleTypes, vt)
	case fieldSample:
		err = p.readSample(f, sampleTypes)
	case fieldMapping:
		var m mapping
		var flag uint64
		err = readScalars(f, &m.id, &m.start, &m.limit, &m.offset, &m.file, &m.buildID, &flag, &flag, &flag, &flag)
		p.mappings = append(p.mappings, m)
	case fieldLocation:
		err = p.readLocation(f)
	case fieldFunction:
		var fn function
		if v := [5]uint64{}; f.typ == wireBytes && readVarintsFast(f.data(), v[:]) {
			fn = function{id: v[0], name: v[1], systemName: v[2], filename: v[3], startLine: v[4]}
		} else {
			err = readScalars(f, &fn.id, &fn.name, &fn.systemName, &fn.filename, &fn.startLine)
		}
		p.functions = append(p.functions, fn)
	case fieldStringTable:
		if f.typ != wireBytes {
			return f.wireTypeError("a string")
		}
		data := f.data()
		if len(p.strings) == 0 && len(data) != 0 {
			return fmt.Errorf("at byte %d: the first string of the string table is not empty", f.off)
		}
		p.text.Write(data)
		text := p.text.String()
		p.strings = append(p.strings, text[len(text)-len(data):])
	case fieldDropFrames:
		p.dropFrames, err = f.varint()
	case fieldKeepFrames:
		p.keepFrames, err = f.varint()
	case fieldDocURL:
		p.docURL, err = f.varint()
	case fieldComment:
		p.comments, err = appendVarints(p.comments, f)
	case fieldTimeNanos:
		if p.timeNanos != 0 {
			return fmt.Errorf("at byte %d: a second time_nanos: concatenated profiles", f.off)
		}
		p.timeNanos, err = signed(f)
	case fieldDurationNanos:
		p.durationNanos, err = signed(f)
	case fieldPeriodType:
		p.periodType = valueType{}
		err = readScalars(f, &p.periodType.typ, &p.periodType.unit)
	case fieldPeriod:
		p.period, err = signed(f)
	case fieldDefaultSampleType:
		p.defaultSampleType, err = f.varint()
	}
	return err
}

// signed is the value of an int64 field.
func signed(f *fields) (int64, error) {
	v, err := f.varint()
	return int64(v), err
}

// readSample reads the sample f is at, which must have n values.
func (p *pprofData) readSample(f *fields, n int) error {
	if f.typ == wireBytes && p.readSampleFast(f.data(), n) {
		return nil
	}
	return p.readSampleByField(f, n)
}

// readSampleByField is readSample for a sample of any form, valid or not.
func (p *pprofData) readSampleByField(f *fields, n int) error {
	r, err := f.message()
	if err != nil {
		return err
	}
	s := sample{locs: span{from: len(p.locs)}, labels: span{from: len(p.labels)}}
	values := len(p.values)
	for r.next() {
		switch r.num {
		case sampleLocationID:
			p.locs, err = appendVarints(p.locs, &r)
		case sampleValue:
			p.values, err = appendVarints(p.values, &r)
		case sampleLabel:
			var l label
			err = readScalars(&r, &l.key, &l.str, &l.num, &l.unit)
			p.labels = append(p.labels, l)
		}
		if err != nil {
			return err
		}
	}
	if r.err != nil {
		return r.err
	}
	if got := len(p.values) - values; got != n {
		return fmt.Errorf("at byte %d: sample %d has %d values for %d sample types", f.off, len(p.samples), got, n)
	}
	s.locs.to, s.labels.to = len(p.locs), len(p.labels)
	p.samples = append(p.samples, s)
	return nil
}

// readLocation reads the location f is at and its lines.
func (p *pprofData) readLocation(f *fields) error {
	if f.typ == wireBytes && p.readLocationFast(f.data()) {
		return nil
	}
	return p.readLocationByField(f)
}

// readLocationByField is readLocation for a location of any form, valid or not.
func (p *pprofData) readLocationByField(f *fields) error {
	r, err := f.message()
	if err != nil {
		return err
	}
	l := location{lines: span{from: len(p.lines)}}
	// Fields id, mapping_id, address, line (a message of function_id, line, column), is_folded.
	for r.next() {
		switch r.num {
		case 1:
			l.id, err = r.varint()
		case 2:
			l.mapping, err = r.varint()
		case 3:
			l.address, err = r.varint()
		case 4:
			var fn, ln, col uint64
			err = readScalars(&r, &fn, &ln, &col)
			p.lines = append(p.lines, line{function: fn, line: int64(ln), column: int64(col)})
		case 5:
			_, err = r.varint()
		}
		if err != nil {
			return err
		}
	}
	if r.err != nil {
		return r.err
	}
	l.lines.to = len(p.lines)
	p.locations = append(p.locations, l)
	return nil
}

// The fast readers below read a record in the form Go's encoder and most others write: every
// field of a one-byte tag and of the wire type its number calls for, no unknown field. On any
// other form they return false, having read nothing, and the field-by-field readers read the
// record and say what is wrong with it; both read a record of that form alike.

// readSampleFast reads the sample b holds, which must have n values.
func (p *pprofData) readSampleFast(b []byte, n int) bool {
	s := sample{locs: span{from: len(p.locs)}, labels: span{from: len(p.labels)}}
	values := len(p.values)
	if !p.readSampleFields(b) || len(p.values)-values != n {
		p.locs, p.values, p.labels = p.locs[:s.locs.from], p.values[:values], p.labels[:s.labels.from]
		return false
	}
	s.locs.to, s.labels.to = len(p.locs), len(p.labels)
	p.samples = append(p.samples, s)
	return true
}

// readSampleFields appends the locations, values and labels of the sample b holds.
func (p *pprofData) readSampleFields(b []byte) bool {
	for len(b) > 0 {
		tag := b[0]
		v, k := uvarint(b[1:])
		if k < 0 {
			return false
		}
		b = b[1+k:]
		switch tag {
		case sampleLocationID<<3 | wireVarint:
			p.locs = append(p.locs, v)
			continue
		case sampleValue<<3 | wireVarint:
			p.values = append(p.values, int64(v))
			continue
		}
		if tag&7 != wireBytes || v > uint64(len(b)) {
			return false
		}
		data := b[:v]
		b = b[v:]
		ok := false
		switch tag >> 3 {
		case sampleLocationID:
			p.locs, ok = appendPacked(p.locs, data)
		case sampleValue:
			p.values, ok = appendPacked(p.values, data)
		case sampleLabel:
			var l [4]uint64
			ok = readVarintsFast(data, l[:])
			p.labels = append(p.labels, label{key: l[0], str: l[1], num: l[2], unit: l[3]})
		}
		if !ok {
			return false
		}
	}
	return true
}

// readLocationFast reads the location b holds and its lines.
func (p *pprofData) readLocationFast(b []byte) bool {
	l := location{lines: span{from: len(p.lines)}}
	if !p.readLocationFields(b, &l) {
		p.lines = p.lines[:l.lines.from]
		return false
	}
	l.lines.to = len(p.lines)
	p.locations = append(p.locations, l)
	return true
}

// readLocationFields reads the fields of the location b holds into l, its lines into p.lines.
func (p *pprofData) readLocationFields(b []byte, l *location) bool {
	for len(b) > 0 {
		tag := b[0]
		v, k := uvarint(b[1:])
		if k < 0 {
			return false
		}
		b = b[1+k:]
		switch tag {
		case 1<<3 | wireVarint:
			l.id = v
		case 2<<3 | wireVarint:
			l.mapping = v
		case 3<<3 | wireVarint:
			l.address = v
		case 5<<3 | wireVarint:
		case 4<<3 | wireBytes:
			var ln [3]uint64
			if v > uint64(len(b)) || !readVarintsFast(b[:v], ln[:]) {
				return false
			}
			b = b[v:]
			p.lines = append(p.lines, line{function: ln[0], line: int64(ln[1]), column: int64(ln[2])})
		default:
			return false
		}
	}
	return true
}

// readVarintsFast reads the message b holds, of varint fields numbered 1 to len(dst): field n
// into dst[n-1].
func readVarintsFast(b []byte, dst []uint64) bool {
	for len(b) > 0 {
		tag := b[0]
		i := int(tag>>3) - 1
		if tag&(0x80|7) != wireVarint || i < 0 || i >= len(dst) {
			return false
		}
		v, k := uvarint(b[1:])
		if k < 0 {
			return false
		}
		dst[i] = v
		b = b[1+k:]
	}
	return true
}

// appendPacked appends the packed varints b holds to dst.
func appendPacked[T int64 | uint64](dst []T, b []byte) ([]T, bool) {
	for len(b) > 0 {
		v, k := uvarint(b)
		if k < 0 {
			return dst, false
		}
		dst = append(dst, T(v))
		b = b[k:]
	}
	return dst, true
}
