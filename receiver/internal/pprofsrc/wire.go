package pprofsrc

import (
	"encoding/binary"
	"fmt"
)

// Wire types of protobuf fields.
const (
	wireVarint  = 0
	wireFixed64 = 1
	wireBytes   = 2
	wireFixed32 = 5
)

// field is one field of a protobuf message.
type field struct {
	num  uint64
	typ  uint64 // wire type
	val  uint64 // of a varint or fixed-size field
	data []byte // of a length-delimited field
	// off is the offset of the field's tag in the profile, dataOff that of its data.
	off, dataOff int
}

// fields reads the fields of a message in turn.
type fields struct {
	b    []byte
	base int // offset of b in the profile
	pos  int
}

// next reads the next field; ok is false at the end of the message. Errors say where the
// framing breaks. The field is returned, not stored through a pointer: storing its data slice
// in memory the compiler cannot place on the stack would take a GC write barrier per field.
func (r *fields) next() (f field, ok bool, err error) {
	if r.pos == len(r.b) {
		return f, false, nil
	}
	b := r.b[r.pos:]
	f.off = r.base + r.pos
	tag, n := uvarint(b)
	if n < 0 {
		return f, false, fmt.Errorf("at byte %d: bad field tag", f.off)
	}
	f.num, f.typ = tag>>3, tag&7
	b = b[n:]
	m := -1
	switch f.typ {
	case wireVarint:
		f.val, m = uvarint(b)
	case wireFixed64:
		if len(b) >= 8 {
			f.val, m = binary.LittleEndian.Uint64(b), 8
		}
	case wireFixed32:
		if len(b) >= 4 {
			f.val, m = uint64(binary.LittleEndian.Uint32(b)), 4
		}
	case wireBytes:
		if size, k := uvarint(b); k > 0 && size <= uint64(len(b)-k) {
			f.data, f.dataOff = b[k:k+int(size)], f.off+n+k
			m = k + int(size)
		}
	default:
		return f, false, fmt.Errorf("at byte %d: field %d has unsupported wire type %d", f.off, f.num, f.typ)
	}
	if m < 0 {
		return f, false, fmt.Errorf("at byte %d: field %d is truncated or its varint is bad", f.off, f.num)
	}
	r.pos += n + m
	return f, true, nil
}

// each calls fn with every field left, stopping at the first framing error or error of fn.
// The field is passed by value: a pointer handed to fn would move it to the heap per message.
func (r *fields) each(fn func(field) error) error {
	for {
		f, ok, err := r.next()
		if !ok || err != nil {
			return err
		}
		if err := fn(f); err != nil {
			return err
		}
	}
}

// message returns a reader of the fields of the message f holds.
func (f *field) message() (fields, error) {
	if f.typ != wireBytes {
		return fields{}, f.wireTypeError("a message")
	}
	return fields{b: f.data, base: f.dataOff}, nil
}

// varint returns the value of a varint field.
func (f *field) varint() (uint64, error) {
	if f.typ != wireVarint {
		return 0, f.wireTypeError("a varint")
	}
	return f.val, nil
}

func (f *field) wireTypeError(want string) error {
	return fmt.Errorf("at byte %d: field %d has wire type %d, not %s", f.off, f.num, f.typ, want)
}

// appendVarints appends the values of a repeated varint field, packed or not.
func appendVarints[T int64 | uint64](dst []T, f *field) ([]T, error) {
	switch f.typ {
	case wireVarint:
		return append(dst, T(f.val)), nil
	case wireBytes:
		for b := f.data; len(b) > 0; {
			v, n := uvarint(b)
			if n < 0 {
				return dst, fmt.Errorf("at byte %d: field %d: bad packed varint", f.dataOff+len(f.data)-len(b), f.num)
			}
			dst = append(dst, T(v))
			b = b[n:]
		}
		return dst, nil
	}
	return dst, f.wireTypeError("a varint or packed varints")
}

// readScalars reads a message of varint fields: field n into dst[n-1]. Other fields are skipped.
func readScalars(f *field, dst ...*uint64) error {
	r, err := f.message()
	if err != nil {
		return err
	}
	return r.each(func(g field) (err error) {
		if g.num != 0 && g.num <= uint64(len(dst)) {
			*dst[g.num-1], err = g.varint()
		}
		return err
	})
}

// uvarint decodes a varint of at most 10 bytes from b and returns its size, or -1 when b ends
// first. As profile.Parse does, it drops the bits of a 10th byte beyond 64.
func uvarint(b []byte) (uint64, int) {
	if len(b) > 0 && b[0] < 0x80 {
		return uint64(b[0]), 1
	}
	var v uint64
	for i := 0; i < len(b) && i < binary.MaxVarintLen64; i++ {
		v |= uint64(b[i]&0x7f) << (7 * i)
		if b[i] < 0x80 {
			return v, i + 1
		}
	}
	return 0, -1
}
