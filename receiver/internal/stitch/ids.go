// Package stitch joins what the sources read (pprof samples, execution-trace timelines and
// eBPF socket events) into OTLP spans, metrics and profiles that share trace ids. The rules
// that decide a trace id or a parent span (docs/design.md, "Trace ids") live here and nowhere else.
package stitch

import (
	"crypto/sha256"
	"encoding/binary"

	"go.opentelemetry.io/collector/pdata/pcommon"
)

// idHash derives deterministic ids from a sequence of fields, so that reading the same input
// twice yields the same trace and span ids and a backend sees no duplicate traces.
type idHash struct{ buf []byte }

// newIDHash starts a derivation in a namespace that keeps ids of different kinds apart.
func newIDHash(namespace string) *idHash {
	h := &idHash{}
	return h.str(namespace)
}

// reset starts a new derivation in h, reusing its buffer, for hot paths that derive an id per span.
func (h *idHash) reset(namespace string) *idHash {
	h.buf = h.buf[:0]
	return h.str(namespace)
}

// str appends a length-prefixed string.
func (h *idHash) str(s string) *idHash {
	h.buf = binary.AppendUvarint(h.buf, uint64(len(s)))
	h.buf = append(h.buf, s...)
	return h
}

// u64 appends a fixed-width integer.
func (h *idHash) u64(v uint64) *idHash {
	h.buf = binary.BigEndian.AppendUint64(h.buf, v)
	return h
}

// traceID is the first 16 bytes of SHA-256 over the fields.
func (h *idHash) traceID() pcommon.TraceID {
	sum := sha256.Sum256(h.buf)
	var id pcommon.TraceID
	copy(id[:], sum[:16])
	return id
}

// spanID is the first 8 bytes of SHA-256 over the fields.
func (h *idHash) spanID() pcommon.SpanID {
	sum := sha256.Sum256(h.buf)
	var id pcommon.SpanID
	copy(id[:], sum[:8])
	return id
}
