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
	strings stringTable
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
	if t.stacks == nil {
		t.stacks = make(map[StackID]stackRef)
		t.pcs = make(map[uint64]frame)
	}
	t.strings.reset()
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
	for d.more() && d.err == nil {
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
		if !t.strings.put(id, string(s)) {
			return fmt.Errorf("strings batch: string %d defined twice", id)
		}
	}
	if d.err != nil {
		return fmt.Errorf("strings batch: %w", d.err)
	}
	return nil
}

// addStacks reads a stacks batch (after its header byte).
func (t *tables) addStacks(d *decoder) error {
	for d.more() && d.err == nil {
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
	for d.more() && d.err == nil {
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
	for d.more() && d.err == nil {
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

// finish checks that the stacks' frames name defined strings, then converts sample times once
// the frequency is known and sorts them.
func (t *tables) finish() error {
	for _, f := range t.frames {
		if !t.strings.has(f.fn) || !t.strings.has(f.file) {
			return fmt.Errorf("a stack frame names string %d or %d, which the generation does not define", f.fn, f.file)
		}
	}
	for i := range t.samples {
		t.samples[i].time = t.nanos(uint64(t.samples[i].time))
	}
	slices.SortFunc(t.samples, func(a, b cpuSample) int { return cmp.Compare(a.time, b.time) })
	return nil
}

// appendFrames appends up to depth frames of stack id, innermost first, to dst.
func (t *tables) appendFrames(dst []trace.StackFrame, id StackID, depth int) []trace.StackFrame {
	ref, ok := t.stacks[id]
	if !ok {
		return dst
	}
	for _, f := range t.frames[ref.off : ref.off+min(ref.n, int32(depth))] {
		dst = append(dst, trace.StackFrame{PC: f.pc, Func: t.strings.get(f.fn), File: t.strings.get(f.file), Line: f.line})
	}
	return dst
}

// stringTable maps a generation's string ids to strings. The runtime numbers them densely from
// 1, so they live in a slice; ids far above the ones seen (only in damaged input) in a map.
type stringTable struct {
	dense  []string
	have   []bool
	sparse map[uint64]string
	n      int
}

func (s *stringTable) reset() {
	s.dense, s.have, s.n = s.dense[:0], s.have[:0], 0
	clear(s.sparse)
}

// get returns string id, "" when there is none (id 0 is "").
func (s *stringTable) get(id uint64) string {
	if id < uint64(len(s.dense)) {
		return s.dense[id]
	}
	return s.sparse[id]
}

// has reports whether string id is defined; id 0, the empty string, always is.
func (s *stringTable) has(id uint64) bool {
	if id < uint64(len(s.have)) {
		return s.have[id] || id == 0
	}
	_, ok := s.sparse[id]
	return ok || id == 0
}

// lookup returns string id and whether it is defined, as get and has do.
func (s *stringTable) lookup(id uint64) (string, bool) {
	if id < uint64(len(s.dense)) {
		return s.dense[id], s.have[id] || id == 0
	}
	v, ok := s.sparse[id]
	return v, ok || id == 0
}

// put adds string id, reporting false when it is already there.
func (s *stringTable) put(id uint64, v string) bool {
	s.n++
	if id < uint64(len(s.dense)) || id < uint64(2*s.n+1024) {
		if grow := int(id) + 1 - len(s.dense); grow > 0 {
			s.dense = append(s.dense, make([]string, grow)...)
			s.have = append(s.have, make([]bool, grow)...)
		}
		if s.have[id] {
			return false
		}
		s.dense[id], s.have[id] = v, true
		return true
	}
	if _, dup := s.sparse[id]; dup {
		return false
	}
	if s.sparse == nil {
		s.sparse = make(map[uint64]string)
	}
	s.sparse[id] = v
	return true
}
