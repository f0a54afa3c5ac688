package pprofsrc

// Bounds on what Decode accepts, so that hostile input costs no more memory than real input of
// the same size: parsing and converting real profiles allocates some 20 times their size.

import (
	"encoding/binary"
	"fmt"

	"github.com/google/pprof/profile"
)

// minValueBytes is the least average size, in the protobuf, of the non-zero sample values of a
// profile Decode accepts. Convert makes an OTLP sample of some 150 bytes of each, so a profile of
// many sample types and 1-byte values would take 150 times its size; real profiles have 6 bytes
// and more per non-zero value.
const minValueBytes = 4

// minRecordBytes is the least average size of the records of a pprof protobuf (samples,
// mappings, locations, functions) that Decode parses. The parser allocates some 150 to 250 bytes
// per record, so a stream of 2-byte records would take 100 times its size in memory; real
// profiles average 25 bytes and more per record.
const minRecordBytes = 8

// checkDensity walks the top-level fields of a pprof protobuf and rejects one whose records are
// too small on average. Malformed framing is left for the parser to report.
func checkDensity(b []byte) error {
	size := len(b)
	records := 0
	for len(b) > 0 {
		tag, n := binary.Uvarint(b)
		if n <= 0 {
			return nil
		}
		b = b[n:]
		var skip uint64
		switch tag & 7 {
		case 0:
			if _, n = binary.Uvarint(b); n <= 0 {
				return nil
			}
			skip = uint64(n)
		case 1:
			skip = 8
		case 2:
			l, n := binary.Uvarint(b)
			if n <= 0 || l > uint64(len(b)-n) {
				return nil
			}
			skip = uint64(n) + l
			if field := tag >> 3; field >= 2 && field <= 5 {
				records++
			}
		case 5:
			skip = 4
		default:
			return nil
		}
		if skip > uint64(len(b)) {
			return nil
		}
		b = b[skip:]
	}
	if records > size/minRecordBytes {
		return fmt.Errorf("%w: %d samples, mappings, locations and functions in %d bytes, fewer than %d bytes each on average",
			ErrMalformed, records, size, minRecordBytes)
	}
	return nil
}

// checkValues rejects a parsed profile of size bytes with too many non-zero sample values for
// its size, which its conversion would turn into far more memory than that.
func checkValues(p *profile.Profile, size int) error {
	values := 0
	for _, s := range p.Sample {
		for _, v := range s.Value {
			if v != 0 {
				values++
			}
		}
	}
	if values > size/minValueBytes {
		return fmt.Errorf("%w: %d non-zero sample values in %d bytes, fewer than %d bytes each on average",
			ErrMalformed, values, size, minValueBytes)
	}
	return nil
}
