package exectrace

import (
	"cmp"
	"fmt"
	"slices"
	"time"

	"golang.org/x/exp/trace"
)

// tables are a generation's strings, stacks and CPU samples, reused across generations.
type tables struct {
	strings map[uint64]string
	// stacks maps a stack id to its frames: frames[off : off+n].
	stacks map[StackID]stackRef
	frames []frame
	// pcs holds the first frame seen for each PC, which a stack's PC resolves to.
	pcs     map[uint64]frame
	samples []cpuSample
	// freq converts raw timestamps to nanoseconds: ns = ticks × freq.
	freq  float64
	clock *trace.ClockSnapshot
}

type stackRef struct{ off, n int32 }

type frame struct {
	pc, fn, file, line uint64
}

type cpuSample struct {
	time  trace.Time
	m     trace.ThreadID
	g     trace.GoID
	stack StackID
}

func (t *tables) reset() {
	if t.strings == nil {
		t.strings = make(map[uint64]string)
		t.stacks = make(map[StackID]stackRef)
		t.pcs = make(map[uint64]frame)
	}
	clear(t.strings)
	clear(t.stacks)
	clear(t.pcs)
	t.frames, t.samples = t.frames[:0], t.samples[:0]
	t.freq, t.clock = 0, nil
}

// nanos converts a raw timestamp to trace time, as x/exp/trace does (same rounding).
func (t *tables) nanos(ticks uint64) trace.Time {
	return trace.Time(float64(ticks) * t.freq)
}

// addStrings reads a strings batch (after its header byte).
func (t *tables) addStrings(d *decoder) error {
	for len(d.b) > 0 && d.err == nil {
		if typ := evType(d.byte()); typ != evString {
			return fmt.Errorf("strings batch: expected a string, found event type %d", typ)
		}
		id, n := d.uvarint(), d.uvarint()
		if n > maxStringSize {
			return fmt.Errorf("strings batch: string %d of %d bytes, the format's maximum is %d", id, n, maxStringSize)
		}
		s := d.bytes(n)
		if d.err != nil {
			break
		}
		if _, dup := t.strings[id]; dup {
			return fmt.Errorf("strings batch: string %d defined twice", id)
		}
		t.strings[id] = string(s)
	}
	if d.err != nil {
		return fmt.Errorf("strings batch: %w", d.err)
	}
	return nil
}

// addStacks reads a stacks batch (after its header byte).
func (t *tables) addStacks(d *decoder) error {
	for len(d.b) > 0 && d.err == nil {
		if typ := evType(d.byte()); typ != evStack {
			return fmt.Errorf("stacks batch: expected a stack, found event type %d", typ)
		}
		id, n := StackID(d.uvarint()), d.uvarint()
		if n > maxFrames {
			return fmt.Errorf("stacks batch: stack %d of %d frames, the format's maximum is %d", id, n, maxFrames)
		}
		ref := stackRef{off: int32(len(t.frames)), n: int32(n)}
		for range n {
			f := frame{pc: d.uvarint(), fn: d.uvarint(), file: d.uvarint(), line: d.uvarint()}
			if first, ok := t.pcs[f.pc]; ok {
				f = first
			} else {
				t.pcs[f.pc] = f
			}
			t.frames = append(t.frames, f)
		}
		if d.err != nil {
			break
		}
		if _, dup := t.stacks[id]; dup {
			return fmt.Errorf("stacks batch: stack %d defined twice", id)
		}
		t.stacks[id] = ref
	}
	if d.err != nil {
		return fmt.Errorf("stacks batch: %w", d.err)
	}
	return nil
}

// addSamples reads a CPU samples batch (after its header byte); times stay raw until the
// generation's frequency is known.
func (t *tables) addSamples(d *decoder) error {
	for len(d.b) > 0 && d.err == nil {
		if typ := evType(d.byte()); typ != evCPUSample {
			return fmt.Errorf("CPU samples batch: expected a sample, found event type %d", typ)
		}
		s := cpuSample{time: trace.Time(d.uvarint()), m: trace.ThreadID(d.uvarint())}
		d.uvarint() // P
		if g := d.uvarint(); g != 0 {
			s.g = trace.GoID(g)
		} else {
			s.g = trace.NoGoroutine
		}
		s.stack = StackID(d.uvarint())
		t.samples = append(t.samples, s)
	}
	if d.err != nil {
		return fmt.Errorf("CPU samples batch: %w", d.err)
	}
	return nil
}

// setSync reads a sync batch: the timestamp frequency and, from Go 1.25, the clock snapshot.
// Before Go 1.25 the batch is a lone frequency event (its header byte included in d).
func (t *tables) setSync(d *decoder, batchTime uint64) error {
	last := batchTime
	var snapTicks uint64
	for len(d.b) > 0 && d.err == nil {
		switch typ := evType(d.byte()); typ {
		case evFrequency:
			if t.freq != 0 {
				return fmt.Errorf("sync batch: two frequencies")
			}
			f := d.uvarint()
			if f == 0 {
				return fmt.Errorf("sync batch: frequency 0")
			}
			t.freq = 1.0 / (float64(f) / 1e9)
		case evClockSnapshot:
			if t.clock != nil {
				return fmt.Errorf("sync batch: two clock snapshots")
			}
			last += d.uvarint()
			snapTicks = last
			mono, sec, nsec := d.uvarint(), d.uvarint(), d.uvarint()
			t.clock = &trace.ClockSnapshot{Mono: mono, Wall: time.Unix(int64(sec), int64(nsec))}
		default:
			return fmt.Errorf("sync batch: expected a frequency or clock snapshot, found event type %d", typ)
		}
	}
	if d.err != nil {
		return fmt.Errorf("sync batch: %w", d.err)
	}
	if t.clock != nil {
		t.clock.Trace = t.nanos(snapTicks) // the frequency may follow the snapshot
	}
	return nil
}

// finish converts sample times once the frequency is known and sorts them.
func (t *tables) finish() {
	for i := range t.samples {
		t.samples[i].time = t.nanos(uint64(t.samples[i].time))
	}
	slices.SortFunc(t.samples, func(a, b cpuSample) int { return cmp.Compare(a.time, b.time) })
}

// appendFrames appends up to depth frames of stack id, innermost first, to dst.
func (t *tables) appendFrames(dst []trace.StackFrame, id StackID, depth int) []trace.StackFrame {
	ref, ok := t.stacks[id]
	if !ok {
		return dst
	}
	for _, f := range t.frames[ref.off : ref.off+min(ref.n, int32(depth))] {
		dst = append(dst, trace.StackFrame{PC: f.pc, Func: t.strings[f.fn], File: t.strings[f.file], Line: f.line})
	}
	return dst
}
