package exectrace

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// FuzzReader feeds arbitrary bytes to the reader, seeded with the small real traces of
// tracesrcTestdata whole, cut short and with a flipped byte. The reader must not panic or
// run away; and wherever x/exp/trace reads the input to its end, this reader must hand out
// the same events.
func FuzzReader(f *testing.F) {
	seeds, _ := filepath.Glob(filepath.Join(tracesrcTestdata, "*.trace"))
	for _, path := range seeds {
		data, err := os.ReadFile(path)
		if err != nil || len(data) > 10<<10 {
			continue
		}
		f.Add(data)
		f.Add(data[:len(data)/2])
		flipped := bytes.Clone(data)
		flipped[len(flipped)*2/3] ^= 0x5a
		f.Add(flipped)
	}
	f.Add([]byte("go 1.26 trace\x00\x00\x00"))
	f.Fuzz(func(t *testing.T, data []byte) {
		got, _, err := readOurs(data)
		want, _, ok := readXExp(data)
		if !ok {
			return
		}
		// x/exp/trace can end "cleanly" where a table is cut short (it returns a bare io.EOF);
		// this reader says so, after handing out the same events.
		sameEvents(t, got, want, err)
	})
}
