package pprofsrc

import (
	"bytes"
	"fmt"
	"reflect"
	"slices"
	"testing"

	"github.com/gostitch/gostitch/receiver/internal/gzlimit"
)

// TestFastReadersAgree reads every sample, location and function of the real profiles and of
// wireForms, and variants of each in forms the fast readers leave to the field-by-field ones
// (an unknown field, a two-byte tag, a wire type changed, the record cut short), both ways:
// where a fast reader reads a record, the field-by-field reader reads the same from it without
// error; where it does not, it has read nothing. Each kind of record must go both ways.
func TestFastReadersAgree(t *testing.T) {
	profiles := [][]byte{wireForms()}
	for _, s := range append(fixtureSources(t), goTestSources(t)...) {
		raw := s.data
		if bytes.HasPrefix(raw, gzlimit.Magic) {
			var err error
			if raw, err = gunzip(nil, raw, DefaultMaxSize); err != nil {
				t.Fatalf("%s: %v", s.name, err)
			}
		}
		profiles = append(profiles, raw)
	}
	fast, slow := map[uint64]int{}, map[uint64]int{}
	for _, raw := range profiles {
		c, err := countRecords(raw)
		if err != nil {
			t.Fatal(err)
		}
		r := fields{b: raw}
		for r.next() {
			if r.typ != wireBytes || r.num != fieldSample && r.num != fieldLocation && r.num != fieldFunction {
				continue
			}
			for _, v := range variants(r.data()) {
				desc := fmt.Sprintf("field %d % x", r.num, v)
				if checkFastRead(t, desc, r.num, v, c.sampleTypes) {
					fast[r.num]++
				} else {
					slow[r.num]++
				}
			}
		}
	}
	for _, num := range []uint64{fieldSample, fieldLocation, fieldFunction} {
		if fast[num] == 0 || slow[num] == 0 {
			t.Errorf("%s: %d records read fast, %d field by field: want both", fieldNames[num], fast[num], slow[num])
		}
	}
}

// variants are a record's bytes as they are and in forms the fast readers leave to the
// field-by-field ones.
func variants(rec []byte) [][]byte {
	out := [][]byte{rec, slices.Concat(rec, pb{}.varint(15, 1))}
	if len(rec) > 0 {
		out = append(out, rec[:len(rec)-1],
			slices.Concat([]byte{rec[0] | 0x80, 0}, rec[1:]),
			slices.Concat([]byte{rec[0] ^ wireBytes}, rec[1:]))
	}
	return out
}

// checkFastRead reads the record rec of top-level field num both ways and reports whether the
// fast reader read it; samples must have n values.
func checkFastRead(t *testing.T, desc string, num uint64, rec []byte, n int) bool {
	t.Helper()
	// Some records read before, so that the record's entries do not start at 0.
	before := func() *pprofData {
		return &pprofData{locs: []uint64{7}, values: make([]int64, n), labels: []label{{key: 1}},
			lines: []line{{function: 1}}, samples: []sample{{locs: span{0, 1}}}, locations: []location{{id: 9}}}
	}
	fastP, slowP := before(), before()
	r := fields{b: pb{}.bytes(num, rec)}
	r.next()
	var ok bool
	var err error
	var fastFn, slowFn function
	switch num {
	case fieldSample:
		ok = fastP.readSampleFast(rec, n)
		err = slowP.readSampleByField(&r, n)
	case fieldLocation:
		ok = fastP.readLocationFast(rec)
		err = slowP.readLocationByField(&r)
	case fieldFunction:
		var v [5]uint64
		if ok = readVarintsFast(rec, v[:]); ok {
			fastFn = function{id: v[0], name: v[1], systemName: v[2], filename: v[3], startLine: v[4]}
		}
		err = readScalars(&r, &slowFn.id, &slowFn.name, &slowFn.systemName, &slowFn.filename, &slowFn.startLine)
	}
	switch {
	case ok && err != nil:
		t.Errorf("%s: read fast, but field by field: %v", desc, err)
	case ok && (!sameRecords(fastP, slowP) || fastFn != slowFn):
		t.Errorf("%s: read fast as %+v %+v, field by field as %+v %+v", desc, *fastP, fastFn, *slowP, slowFn)
	case !ok && !sameRecords(fastP, before()):
		t.Errorf("%s: not read fast, but the fast reader left %+v", desc, *fastP)
	}
	return ok
}

// sameRecords reports whether a and b hold the same samples and locations.
func sameRecords(a, b *pprofData) bool {
	return reflect.DeepEqual(a.locs, b.locs) && reflect.DeepEqual(a.values, b.values) &&
		reflect.DeepEqual(a.labels, b.labels) && reflect.DeepEqual(a.samples, b.samples) &&
		reflect.DeepEqual(a.lines, b.lines) && reflect.DeepEqual(a.locations, b.locations)
}
