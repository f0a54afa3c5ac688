package pprofsrc

import (
	"encoding/binary"
	"errors"
	"slices"
	"strings"
	"testing"
)

// pb builds protobuf bytes field by field.
type pb []byte

func (b pb) tag(num, typ uint64) pb { return binary.AppendUvarint(b, num<<3|typ) }

func (b pb) varint(num, v uint64) pb { return binary.AppendUvarint(b.tag(num, wireVarint), v) }

func (b pb) bytes(num uint64, v []byte) pb {
	return append(binary.AppendUvarint(b.tag(num, wireBytes), uint64(len(v))), v...)
}

func (b pb) packed(num uint64, vs ...uint64) pb {
	var p []byte
	for _, v := range vs {
		p = binary.AppendUvarint(p, v)
	}
	return b.bytes(num, p)
}

// TestWireForms converts what Go's encoder never writes but other writers may, and checks it
// against what profile.Parse reads: the string table first, unpacked repeated fields, unknown
// fields of every wire type, a location of an unknown mapping, a function id far above the
// others, a label without value, a string and a numeric label of the same key.
func TestWireForms(t *testing.T) { checkRoundTrip(t, wireForms(), "") }

// wireForms is the profile TestWireForms converts, also a fuzz seed.
func wireForms() []byte {
	strs := []string{"", "samples", "count", "main.work", "main.go", "key", "v", "bytes", "n", "libc.so"}
	var b pb
	for _, s := range strs {
		b = b.bytes(6, []byte(s))
	}
	b = b.bytes(1, pb{}.varint(1, 1).varint(2, 2))
	b = b.bytes(99, []byte("unknown")).varint(98, 7)
	b = binary.LittleEndian.AppendUint32(b.tag(97, wireFixed32), 1)
	b = binary.LittleEndian.AppendUint64(b.tag(96, wireFixed64), 1)
	b = b.bytes(3, pb{}.varint(1, 5).varint(2, 0x1000).varint(3, 0x2000).varint(5, 9))
	b = b.bytes(5, pb{}.varint(1, 1<<40).varint(2, 3).varint(4, 4).varint(5, 10))
	b = b.bytes(4, pb{}.varint(1, 1).varint(2, 5).varint(3, 0x1234).bytes(4, pb{}.varint(1, 1<<40).varint(2, 12)))
	b = b.bytes(4, pb{}.varint(1, 2).varint(2, 77).varint(3, 0x5678))
	sample := pb{}.varint(1, 2).varint(1, 1).varint(2, 3).
		bytes(3, pb{}.varint(1, 5).varint(2, 6)).
		bytes(3, pb{}.varint(1, 5)).                          // no value: no label
		bytes(3, pb{}.varint(1, 8).varint(3, 4)).             // numeric, no unit
		bytes(3, pb{}.varint(1, 5).varint(3, 5).varint(4, 7)) // numeric with a unit, beside a string
	b = b.bytes(2, sample)
	b = b.bytes(2, pb{}.packed(1, 1).packed(2, 4).bytes(3, pb{}.varint(1, 7).varint(4, 7)))
	return b.varint(9, 1_700_000_000_000_000_000).varint(12, 1)
}

// TestWireErrors checks that what profile.Parse rejects is rejected, and where.
func TestWireErrors(t *testing.T) {
	header := pb{}.bytes(6, nil).bytes(6, []byte("x")).bytes(1, pb{}.varint(1, 1))
	loc := pb{}.bytes(4, pb{}.varint(1, 1))
	for _, tc := range []struct {
		name string
		data []byte
		want string
	}{
		{"no string table", pb{}.bytes(1, pb{}.varint(1, 0)), "no string table"},
		{"first string not empty", pb{}.bytes(6, []byte("x")), "at byte 0: the first string of the string table is not empty"},
		{"string index", pb{}.bytes(6, nil).bytes(1, pb{}.varint(1, 2)), "sample type 0: string index out of range (1 strings)"},
		{"values", slices.Concat(header, pb{}.bytes(2, pb{}.packed(2, 1, 2))), "sample 0 has 2 values for 1 sample types"},
		{"location id", slices.Concat(header, pb{}.bytes(2, pb{}.varint(1, 3).varint(2, 1))), "sample 0: no location of id 3"},
		{"function id", slices.Concat(header, pb{}.bytes(4, pb{}.varint(1, 1).bytes(4, pb{}.varint(1, 2)))), "location 0 (id 1): no function of id 2"},
		{"duplicate id", slices.Concat(header, loc, loc), "location 1: a second location of id 1"},
		{"id 0", slices.Concat(header, pb{}.bytes(3, pb{}.varint(2, 1))), "mapping 0 has the reserved id 0"},
		{"concatenated", slices.Concat(header, pb{}.varint(9, 1).varint(9, 2)), "a second time_nanos: concatenated profiles"},
		{"wire type", slices.Concat(header, pb{}.varint(2, 1)), "field 2 has wire type 0, not a message"},
		{"truncated", slices.Concat(header, pb{0x12, 0x05, 0x08}), "field 2 is truncated"},
		{"group", slices.Concat(header, pb{}.bytes(2, []byte{0x0b})), "field 1 has unsupported wire type 3"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := DecodeConvert(tc.data, 0, "", testID, Options{})
			if !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want %q", err, tc.want)
			}
			checkParseFails(t, tc.data, err)
		})
	}
}
