package pprofsrc

// Bounds on what DecodeConvert accepts, so that hostile input costs no more memory than real
// input of the same size: converting real profiles allocates some 20 times their size.

import "fmt"

// minValueBytes is the least average size, in the protobuf, of the non-zero sample values of a
// profile DecodeConvert accepts. It makes an OTLP sample of some 150 bytes of each, so a profile
// of many sample types and 1-byte values would take 150 times its size; real profiles have 6
// bytes and more per non-zero value.
const minValueBytes = 4

// minRecordBytes is the least average size of the records of a pprof protobuf (samples,
// mappings, locations, functions) that DecodeConvert reads. Reading and converting take some 100
// to 250 bytes per record, so a stream of 2-byte records would take 100 times its size in
// memory; real profiles average 25 bytes and more per record.
const minRecordBytes = 8

// checkDensity rejects a profile of size bytes whose records are too small on average.
func checkDensity(c recordCounts, size int) error {
	if records := c.samples + c.mappings + c.locations + c.functions; records > size/minRecordBytes {
		return fmt.Errorf("%w: %d samples, mappings, locations and functions in %d bytes, fewer than %d bytes each on average",
			ErrMalformed, records, size, minRecordBytes)
	}
	return nil
}

// checkValues rejects sample values, read from size bytes, with too many non-zero ones for that
// size, which conversion would turn into far more memory than that.
func checkValues(values []int64, size int) error {
	n := 0
	for _, v := range values {
		if v != 0 {
			n++
		}
	}
	if n > size/minValueBytes {
		return fmt.Errorf("%w: %d non-zero sample values in %d bytes, fewer than %d bytes each on average",
			ErrMalformed, n, size, minValueBytes)
	}
	return nil
}
