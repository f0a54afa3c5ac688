package exectrace

import (
	"encoding/binary"
	"math/rand/v2"
	"testing"
)

// TestUvarintAgreesWithBinary decodes numbers of every length, followed by other bytes or at
// the end of the data, cut short, overlong and overflowing, and checks the value, the bytes
// taken and the error against encoding/binary.
func TestUvarintAgreesWithBinary(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var inputs [][]byte
	for bitsLen := 0; bitsLen <= 64; bitsLen++ {
		for range 20 {
			v := rng.Uint64() >> (64 - bitsLen) // a number of up to bitsLen bits
			if bitsLen == 0 {
				v = 0
			}
			enc := binary.AppendUvarint(nil, v)
			tail := make([]byte, rng.IntN(12))
			for i := range tail {
				tail[i] = byte(rng.Uint32())
			}
			inputs = append(inputs, enc, append(enc[:len(enc):len(enc)], tail...), enc[:len(enc)-1])
		}
	}
	inputs = append(inputs,
		[]byte{0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0}, // overlong
		[]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02},          // overflows 64 bits
		[]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01},          // the largest
		[]byte{0x80, 0x00, 1, 2, 3, 4, 5, 6, 7},                                     // 0 written in two bytes
	)
	for _, in := range inputs {
		want, n := binary.Uvarint(in)
		d := decoder{b: in}
		got := d.uvarint()
		if n <= 0 {
			if d.err == nil || got != 0 {
				t.Errorf("% x: got %d, err %v; want an error", in, got, d.err)
			}
			continue
		}
		if d.err != nil || got != want || d.i != n {
			t.Errorf("% x: got %d after %d bytes (err %v), want %d after %d", in, got, d.i, d.err, want, n)
		}
	}
}
