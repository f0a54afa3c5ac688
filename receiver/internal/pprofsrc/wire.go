package pprofsrc

import (
	"encoding/binary"
	"fmt"
	"math/bits"
)

// Wire types of protobuf fields.
const (
	wireVarint  = 0
	wireFixed64 = 1
	wireBytes   = 2
	wireFixed32 = 5
)

// fields reads the fields of a message in turn. next makes the next field the current one:
// its number, wire type and value are in the reader, its data (length-delimited fields) is
// data(). Callers keep the reader on their stack, so reading a field copies no field out of a
// call and stores no pointer.
type fields struct {
	// b is the profile up to the end of the message, pos the offset of the next field in it.
	b   []byte
	pos int
	// num and typ are the current field's number and wire type, off the offset of its tag, val
	// the value of a varint or fixed-size field or the size of a length-delimited one, whose
	// data ends at pos.
	num, typ uint64
	off      int
	val      uint64
	// err is the framing error next stopped at, saying where the framing breaks.
	err error
}

// next moves to the next field; false at the end of the message or at a framing error (err).
func (r *fields) next() bool {
	b := r.b[r.pos:]
	r.off = r.pos
	// Most varint fields have a one-byte tag and a value of one or two bytes.
	if len(b) >= 3 && b[0]&(0x80|7) == wireVarint && (b[1] < 0x80 || b[2] < 0x80) {
		v, n := uint64(b[1]), 2
		if v >= 0x80 {
			v, n = v&0x7f|uint64(b[2])<<7, 3
		}
		r.num, r.typ, r.val = uint64(b[0]>>3), wireVarint, v
		r.pos += n
		return true
	}
	// Most records of a profile are messages of a one-byte tag and under 128 bytes.
	if len(b) >= 2 && b[0]&(0x80|7) == wireBytes && b[1] < 0x80 && int(b[1]) <= len(b)-2 {
		r.num, r.typ, r.val = uint64(b[0]>>3), wireBytes, uint64(b[1])
		r.pos += 2 + int(b[1])
		return true
	}
	if len(b) == 0 {
		return false
	}
	tag, n := uvarint(b)
	if n < 0 {
		r.err = fmt.Errorf("at byte %d: bad field tag", r.off)
		return false
	}
	r.num, r.typ = tag>>3, tag&7
	b = b[n:]
	m := -1
	switch r.typ {
	case wireVarint:
		r.val, m = uvarint(b)
	case wireBytes:
		if size, k := uvarint(b); k > 0 && size <= uint64(len(b)-k) {
			r.val, m = size, k+int(size)
		}
	case wireFixed64:
		if len(b) >= 8 {
			r.val, m = binary.LittleEndian.Uint64(b), 8
		}
	case wireFixed32:
		if len(b) >= 4 {
			r.val, m = uint64(binary.LittleEndian.Uint32(b)), 4
		}
	default:
		r.err = fmt.Errorf("at byte %d: field %d has unsupported wire type %d", r.off, r.num, r.typ)
		return false
	}
	if m < 0 {
		r.err = fmt.Errorf("at byte %d: field %d is truncated or its varint is bad", r.off, r.num)
		return false
	}
	r.pos += n + m
	return true
}

// data is the data of the current field, which is length-delimited.
func (r *fields) data() []byte { return r.b[r.pos-int(r.val) : r.pos] }

// dataOff is the offset of the current field's data.
func (r *fields) dataOff() int { return r.pos - int(r.val) }

// message returns a reader of the fields of the message the current field holds.
func (r *fields) message() (fields, error) {
	if r.typ != wireBytes {
		return fields{}, r.wireTypeError("a message")
	}
	return fields{b: r.b[:r.pos], pos: r.dataOff()}, nil
}

// varint returns the value of the current field, a varint.
func (r *fields) varint() (uint64, error) {
	if r.typ != wireVarint {
		return 0, r.wireTypeError("a varint")
	}
	return r.val, nil
}

func (r *fields) wireTypeError(want string) error {
	return fmt.Errorf("at byte %d: field %d has wire type %d, not %s", r.off, r.num, r.typ, want)
}

// appendVarints appends the values of the current field, a repeated varint field, packed or not.
func appendVarints[T int64 | uint64](dst []T, r *fields) ([]T, error) {
	switch r.typ {
	case wireVarint:
		return append(dst, T(r.val)), nil
	case wireBytes:
		data := r.data()
		for i := 0; i < len(data); {
			v, n := uvarint(data[i:])
			if n < 0 {
				return dst, fmt.Errorf("at byte %d: field %d: bad packed varint", r.dataOff()+i, r.num)
			}
			dst = append(dst, T(v))
			i += n
		}
		return dst, nil
	}
	return dst, r.wireTypeError("a varint or packed varints")
}

// readScalars reads the message the current field holds, of varint fields: field n into
// dst[n-1]. Other fields are skipped.
func readScalars(r *fields, dst ...*uint64) error {
	m, err := r.message()
	if err != nil {
		return err
	}
	for m.next() {
		if m.num != 0 && m.num <= uint64(len(dst)) {
			if *dst[m.num-1], err = m.varint(); err != nil {
				return err
			}
		}
	}
	return m.err
}

// varintEnds counts the bytes of b below 0x80, each the end of a varint: as many as the packed
// varints b holds. It reads eight bytes at a time.
func varintEnds(b []byte) int {
	n := 0
	for ; len(b) >= 8; b = b[8:] {
		n += bits.OnesCount64(^binary.LittleEndian.Uint64(b) & 0x8080808080808080)
	}
	for _, c := range b {
		if c < 0x80 {
			n++
		}
	}
	return n
}

// uvarint decodes a varint of at most 10 bytes from b and returns its size, or -1 when b ends
// first. As profile.Parse does, it drops the bits of a 10th byte beyond 64. One-byte varints,
// most tags and many values, take the inlined path.
func uvarint(b []byte) (uint64, int) {
	if len(b) > 0 && b[0] < 0x80 {
		return uint64(b[0]), 1
	}
	return uvarintLong(b)
}

// uvarintLong is uvarint for varints of more than one byte.
func uvarintLong(b []byte) (uint64, int) {
	var v uint64
	for i := 0; i < len(b) && i < binary.MaxVarintLen64; i++ {
		v |= uint64(b[i]&0x7f) << (7 * i)
		if b[i] < 0x80 {
			return v, i + 1
		}
	}
	return 0, -1
}
