package pprofsrc

import (
	"encoding/binary"
	"encoding/hex"
	"strconv"

	"github.com/google/pprof/profile"
)

// linkLabel is a pprof label key that carries a sample's trace context.
type linkLabel struct {
	key string
	// trace: the value is a trace id (32 hex digits); otherwise a span id.
	trace bool
	// decimal: a span id written in decimal, as Datadog's profiler does; otherwise 16 hex digits.
	decimal bool
}

// linkLabels in order of preference: the first valid trace id and span id win.
var linkLabels = [...]linkLabel{
	{key: "otel.trace_id", trace: true},
	{key: "trace_id", trace: true},
	{key: "otel.span_id"},
	{key: "span_id"},
	{key: "span id", decimal: true},
	{key: "local root span id", decimal: true},
}

// usedLabels is a set of indices into linkLabels.
type usedLabels uint8

// has reports whether key is one of the labels in the set.
func (u usedLabels) has(key string) bool {
	for i := range linkLabels {
		if u&(1<<i) != 0 && linkLabels[i].key == key {
			return true
		}
	}
	return false
}

// sampleLink reads the trace and span a sample belongs to from its labels, and which labels it
// used; labels it did not use (invalid, or outranked) stay ordinary attributes.
func sampleLink(s *profile.Sample) (link, usedLabels) {
	var l link
	var used usedLabels
	if len(s.Label) == 0 {
		return l, 0
	}
	var haveTrace, haveSpan bool
	for i, ll := range linkLabels {
		if ll.trace && haveTrace || !ll.trace && haveSpan {
			continue
		}
		v := s.Label[ll.key]
		if len(v) != 1 {
			continue
		}
		switch {
		case ll.trace:
			haveTrace = decodeHex(l.trace[:], v[0])
		case ll.decimal:
			n, err := strconv.ParseUint(v[0], 10, 64)
			if haveSpan = err == nil && n != 0; haveSpan {
				binary.BigEndian.PutUint64(l.span[:], n)
			}
		default:
			haveSpan = decodeHex(l.span[:], v[0])
		}
		if ll.trace && haveTrace || !ll.trace && haveSpan {
			used |= 1 << i
		}
	}
	return l, used
}

// decodeHex fills dst from exactly 2*len(dst) hex digits that are not all zero.
func decodeHex(dst []byte, s string) bool {
	if len(s) != 2*len(dst) {
		return false
	}
	if _, err := hex.Decode(dst, []byte(s)); err != nil {
		clear(dst)
		return false
	}
	for _, b := range dst {
		if b != 0 {
			return true
		}
	}
	return false
}
