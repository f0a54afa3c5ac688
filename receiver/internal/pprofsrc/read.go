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
		err = readScalars(f, &fn.id, &fn.name, &fn.systemName, &fn.filename, &fn.startLine)
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
