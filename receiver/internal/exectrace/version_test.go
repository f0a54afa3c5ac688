package exectrace

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestOlderLayouts rewrites real Go 1.26 traces into the layouts of older versions and checks
// that this reader still hands out what x/exp/trace does: go 1.25 ends a generation when the
// next one's first batch arrives (no in-band end marker), and go 1.23 has a lone frequency
// batch instead of a sync batch (no clock snapshot).
func TestOlderLayouts(t *testing.T) {
	for _, name := range []string{"annotations.trace", "gc-stress.trace", "syncnode.trace", "window2.trace"} {
		data, err := os.ReadFile(filepath.Join(tracesrcTestdata, name))
		if err != nil {
			t.Fatal(err)
		}
		for _, minor := range []int{25, 23} {
			t.Run(fmt.Sprintf("%s/go1.%d", name, minor), func(t *testing.T) {
				old := relayout(t, data, minor)
				want, _, ok := readXExp(old)
				if !ok {
					t.Fatal("x/exp/trace cannot read the rewritten trace")
				}
				got, _, err := readOurs(old)
				if err != nil {
					t.Fatal(err)
				}
				sameEvents(t, got, want, err)
				if minor < 25 && strings.Contains(got[0], "clock=") {
					t.Error("a go 1.23 trace has no clock snapshot, but the first Sync carries one")
				}
			})
		}
	}
}

// TestOlderLayoutCutShort: a go 1.25 trace cut inside a batch (before Go 1.26 a generation has
// no end marker, so the cut one looks whole) hands out what x/exp/trace does before it stops,
// then an error. This reader does not validate, so it can go on further into the damaged
// generation than x/exp/trace, which stops at its first inconsistency.
func TestOlderLayoutCutShort(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(tracesrcTestdata, "syncnode.trace")) // two generations
	if err != nil {
		t.Fatal(err)
	}
	old := relayout(t, data, 25)
	whole, _, err := readOurs(old)
	if err != nil {
		t.Fatal(err)
	}
	firstGen := slices.IndexFunc(whole[1:], func(ev string) bool { return strings.HasPrefix(ev, "kind=1 ") }) + 1
	second := secondGeneration(t, old)
	for _, cut := range []int{second + (len(old)-second)/2, len(old) - 100} {
		want, _, ok := readXExp(old[:cut])
		got, _, err := readOurs(old[:cut])
		if ok || err == nil {
			t.Fatalf("cut at %d of %d: x/exp/trace ok=%v, error %v; want both to fail", cut, len(old), ok, err)
		}
		if len(got) < max(len(want), firstGen) {
			t.Fatalf("cut at %d: %d events before the error; x/exp/trace has %d, the whole first generation %d", cut, len(got), len(want), firstGen)
		}
		sameEvents(t, got[:len(want)], want, err)
	}
}

// secondGeneration returns the offset of the first batch of the trace's second generation.
func secondGeneration(t *testing.T, data []byte) int {
	d := decoder{b: data[16:]}
	first := uint64(0)
	for d.more() && d.err == nil {
		off := 16 + d.i
		if evType(d.byte()) == evExperimentalBatch {
			d.byte()
		}
		gen := d.uvarint()
		d.uvarint()
		d.uvarint()
		d.bytes(d.uvarint())
		if first == 0 {
			first = gen
		} else if gen != first {
			return off
		}
	}
	t.Fatal("the trace has one generation")
	return 0
}

// relayout rewrites a go 1.26 trace into the batch layout of go 1.minor.
func relayout(t *testing.T, data []byte, minor int) []byte {
	const header = "go 1.26 trace\x00\x00\x00"
	if !bytes.HasPrefix(data, []byte(header)) {
		t.Fatalf("not a go 1.26 trace: %q", data[:16])
	}
	out := fmt.Appendf(nil, "go 1.%d trace\x00\x00\x00", minor)
	d := decoder{b: data[len(header):]}
	for d.more() {
		typ := evType(d.byte())
		if typ == evEndOfGeneration {
			continue
		}
		exp := byte(0)
		if typ == evExperimentalBatch {
			exp = d.byte()
		}
		gen, m, ts, size := d.uvarint(), d.uvarint(), d.uvarint(), d.uvarint()
		body := d.bytes(size)
		if d.err != nil {
			t.Fatalf("batch: %v", d.err)
		}
		if minor < 25 && typ == evEventBatch && len(body) > 0 && evType(body[0]) == evSync {
			body = frequencyOnly(t, body)
		}
		out = append(out, byte(typ))
		if typ == evExperimentalBatch {
			out = append(out, exp)
		}
		for _, v := range []uint64{gen, m, ts, uint64(len(body))} {
			out = binary.AppendUvarint(out, v)
		}
		out = append(out, body...)
	}
	return out
}

// frequencyOnly turns a sync batch's body into the lone frequency event of older versions.
func frequencyOnly(t *testing.T, body []byte) []byte {
	d := decoder{b: body[1:]}
	for d.more() {
		switch typ := evType(d.byte()); typ {
		case evFrequency:
			return binary.AppendUvarint([]byte{byte(evFrequency)}, d.uvarint())
		case evClockSnapshot:
			d.uvarint()
			d.uvarint()
			d.uvarint()
			d.uvarint()
		default:
			t.Fatalf("sync batch: event type %d", typ)
		}
	}
	t.Fatal("sync batch without a frequency")
	return nil
}
