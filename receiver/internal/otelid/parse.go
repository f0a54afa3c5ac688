// Package otelid parses and derives OTel trace, span and profile ids.
//
// The rules that use it: docs/design.md, "Trace ids".
package otelid

import (
	"encoding/hex"
	"strings"

	"go.opentelemetry.io/collector/pdata/pcommon"
)

// ParseTraceID decodes 32 hex digits. It reports false, with the empty id, on anything else
// and on the all-zero id.
func ParseTraceID(s string) (pcommon.TraceID, bool) {
	var id pcommon.TraceID
	if !decodeHex(id[:], s) {
		return pcommon.TraceID{}, false
	}
	return id, true
}

// ParseSpanID decodes 16 hex digits. It reports false, with the empty id, on anything else
// and on the all-zero id.
func ParseSpanID(s string) (pcommon.SpanID, bool) {
	var id pcommon.SpanID
	if !decodeHex(id[:], s) {
		return pcommon.SpanID{}, false
	}
	return id, true
}

// ParseTraceparent decodes a W3C traceparent header value: version-traceid-spanid-flags.
func ParseTraceparent(s string) (pcommon.TraceID, pcommon.SpanID, bool) {
	parts := strings.Split(strings.TrimSpace(s), "-")
	if len(parts) < 4 || len(parts[0]) != 2 || parts[0] == "ff" || len(parts[3]) != 2 {
		return pcommon.TraceID{}, pcommon.SpanID{}, false
	}
	tid, okT := ParseTraceID(parts[1])
	sid, okS := ParseSpanID(parts[2])
	return tid, sid, okT && okS
}

// decodeHex fills dst from exactly 2*len(dst) hex digits that are not all zero, and reports
// whether it did.
func decodeHex(dst []byte, s string) bool {
	if len(s) != 2*len(dst) {
		return false
	}
	if _, err := hex.Decode(dst, []byte(s)); err != nil {
		return false
	}
	for _, c := range dst {
		if c != 0 {
			return true
		}
	}
	return false
}
