package otelid

import (
	"crypto/sha256"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestParseTraceID(t *testing.T) {
	for _, tc := range []struct {
		in string
		ok bool
	}{
		{"4bf92f3577b34da6a3ce929d0e0e4736", true},
		{"4BF92F3577B34DA6A3CE929D0E0E4736", true},
		{"00000000000000000000000000000000", false},
		{"4bf92f3577b34da6a3ce929d0e0e473", false},
		{"4bf92f3577b34da6a3ce929d0e0e473g", false},
		{"", false},
	} {
		id, ok := ParseTraceID(tc.in)
		assert.Equal(t, tc.ok, ok, tc.in)
		if ok {
			assert.Equal(t, "4bf92f3577b34da6a3ce929d0e0e4736", id.String(), tc.in)
		} else {
			assert.True(t, id.IsEmpty(), tc.in)
		}
	}
}

func TestParseSpanID(t *testing.T) {
	id, ok := ParseSpanID("00f067aa0ba902b7")
	assert.True(t, ok)
	assert.Equal(t, "00f067aa0ba902b7", id.String())
	for _, in := range []string{"0000000000000000", "00f067aa0ba902b", "00f067aa0ba902bz", "4bf92f3577b34da6a3ce929d0e0e4736"} {
		id, ok := ParseSpanID(in)
		assert.False(t, ok, in)
		assert.True(t, id.IsEmpty(), in)
	}
}

func TestParseTraceparent(t *testing.T) {
	tid, sid, ok := ParseTraceparent(" 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01\n")
	assert.True(t, ok)
	assert.Equal(t, "4bf92f3577b34da6a3ce929d0e0e4736", tid.String())
	assert.Equal(t, "00f067aa0ba902b7", sid.String())
	for _, in := range []string{
		"ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
		"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
		"00-00000000000000000000000000000000-00f067aa0ba902b7-01",
		"00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
		"0-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
	} {
		_, _, ok := ParseTraceparent(in)
		assert.False(t, ok, in)
	}
}

// TestHashEncoding pins the bytes an id is derived from: ids must not change between releases.
func TestHashEncoding(t *testing.T) {
	sum := sha256.Sum256([]byte{2, 'n', 's', 1, 'a', 0, 0, 0, 0, 0, 0, 1, 2})
	h := New("ns").Str("a").U64(0x102)
	tid, sid, pid := h.TraceID(), h.SpanID(), h.ProfileID()
	assert.Equal(t, sum[:16], tid[:])
	assert.Equal(t, sum[:8], sid[:])
	assert.Equal(t, sum[:16], pid[:])
	assert.Equal(t, tid, h.Reset("other").Reset("ns").Str("a").U64(0x102).TraceID())
	assert.Equal(t, tid, FromBytes([]byte{2, 'n', 's', 1, 'a'}).U64(0x102).TraceID())
}
