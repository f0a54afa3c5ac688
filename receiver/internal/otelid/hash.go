package otelid

import (
	"crypto/sha256"
	"encoding/binary"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pprofile"
)

// Hash derives deterministic ids from a sequence of fields, so that reading the same input
// twice yields the same ids and a backend sees no duplicates. An id is the first bytes of
// SHA-256 over the fields.
type Hash struct{ buf []byte }

// New starts a derivation in a namespace that keeps ids of different kinds apart.
func New(namespace string) *Hash {
	h := &Hash{}
	return h.Str(namespace)
}

// FromBytes starts a derivation from fields already encoded in b, which it takes over.
func FromBytes(b []byte) *Hash {
	return &Hash{buf: b}
}

// Reset starts a new derivation in h, reusing its buffer, for hot paths that derive an id per span.
func (h *Hash) Reset(namespace string) *Hash {
	h.buf = h.buf[:0]
	return h.Str(namespace)
}

// Str appends a length-prefixed string.
func (h *Hash) Str(s string) *Hash {
	h.buf = binary.AppendUvarint(h.buf, uint64(len(s)))
	h.buf = append(h.buf, s...)
	return h
}

// U64 appends a fixed-width integer.
func (h *Hash) U64(v uint64) *Hash {
	h.buf = binary.BigEndian.AppendUint64(h.buf, v)
	return h
}

// TraceID is the first 16 bytes of the sum.
func (h *Hash) TraceID() pcommon.TraceID {
	return pcommon.TraceID(h.sum16())
}

// ProfileID is the first 16 bytes of the sum.
func (h *Hash) ProfileID() pprofile.ProfileID {
	return pprofile.ProfileID(h.sum16())
}

// SpanID is the first 8 bytes of the sum.
func (h *Hash) SpanID() pcommon.SpanID {
	sum := sha256.Sum256(h.buf)
	return pcommon.SpanID(sum[:8])
}

func (h *Hash) sum16() [16]byte {
	sum := sha256.Sum256(h.buf)
	return [16]byte(sum[:16])
}
