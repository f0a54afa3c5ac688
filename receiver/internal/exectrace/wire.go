package exectrace

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/bits"
	"slices"
)

// evType is an event type of the wire format.
type evType uint8

// Event types of the wire format (runtime/trace's numbering, stable across versions).
const (
	evEventBatch evType = 1
	evStacks     evType = 2
	evStack      evType = 3
	evStrings    evType = 4
	evString     evType = 5
	evCPUSamples evType = 6
	evCPUSample  evType = 7
	evFrequency  evType = 8

	evProcsChange         evType = 9
	evProcStart           evType = 10
	evProcStop            evType = 11
	evProcSteal           evType = 12
	evProcStatus          evType = 13
	evGoCreate            evType = 14
	evGoCreateSyscall     evType = 15
	evGoStart             evType = 16
	evGoDestroy           evType = 17
	evGoDestroySyscall    evType = 18
	evGoStop              evType = 19
	evGoBlock             evType = 20
	evGoUnblock           evType = 21
	evGoSyscallBegin      evType = 22
	evGoSyscallEnd        evType = 23
	evGoSyscallEndBlocked evType = 24
	evGoStatus            evType = 25
	evSTWBegin            evType = 26
	evSTWEnd              evType = 27
	evGCActive            evType = 28
	evGCBegin             evType = 29
	evGCEnd               evType = 30
	evGCSweepActive       evType = 31
	evGCSweepBegin        evType = 32
	evGCSweepEnd          evType = 33
	evGCMarkAssistActive  evType = 34
	evGCMarkAssistBegin   evType = 35
	evGCMarkAssistEnd     evType = 36
	evHeapAlloc           evType = 37
	evHeapGoal            evType = 38
	evGoLabel             evType = 39
	evUserTaskBegin       evType = 40
	evUserTaskEnd         evType = 41
	evUserRegionBegin     evType = 42
	evUserRegionEnd       evType = 43
	evUserLog             evType = 44
	evGoSwitch            evType = 45 // Go 1.23
	evGoSwitchDestroy     evType = 46
	evGoCreateBlocked     evType = 47
	evGoStatusStack       evType = 48
	evExperimentalBatch   evType = 49
	evSync                evType = 50 // Go 1.25
	evClockSnapshot       evType = 51
	evEndOfGeneration     evType = 52 // Go 1.26

	// Experimental events (Go 1.23), 128 to 136: heap spans, objects and goroutine stacks.
	evFirstExperimental evType = 128
)

// timedArgs holds, per timed event type, the number of arguments after the time delta; 0 marks
// a type that is not a timed event of a batch (the events without arguments say -1).
var timedArgs = [256]int8{
	evProcsChange: 2, evProcStart: 2, evProcStop: -1, evProcSteal: 3, evProcStatus: 2,
	evGoCreate: 3, evGoCreateSyscall: 1, evGoStart: 2, evGoDestroy: -1, evGoDestroySyscall: -1,
	evGoStop: 2, evGoBlock: 2, evGoUnblock: 3, evGoSyscallBegin: 2, evGoSyscallEnd: -1,
	evGoSyscallEndBlocked: -1, evGoStatus: 3, evSTWBegin: 2, evSTWEnd: -1, evGCActive: 1,
	evGCBegin: 2, evGCEnd: 1, evGCSweepActive: 1, evGCSweepBegin: 1, evGCSweepEnd: 2,
	evGCMarkAssistActive: 1, evGCMarkAssistBegin: 1, evGCMarkAssistEnd: -1, evHeapAlloc: 1,
	evHeapGoal: 1, evGoLabel: 1, evUserTaskBegin: 4, evUserTaskEnd: 2, evUserRegionBegin: 3,
	evUserRegionEnd: 3, evUserLog: 4, evGoSwitch: 2, evGoSwitchDestroy: 2, evGoCreateBlocked: 3,
	evGoStatusStack: 4,
	128:             3, 129: 3, 130: 1, 131: 2, 132: 2, 133: 1, 134: 2, 135: 2, 136: 1,
}

// eventArgs returns timedArgs limited to the event types of version go 1.minor.
func eventArgs(minor int) *[256]int8 {
	args := timedArgs
	for typ := range args {
		if evType(typ) > lastType[minor] && (evType(typ) < evFirstExperimental || minor < 23) {
			args[typ] = 0
		}
	}
	return &args
}

// maxArgs is the most arguments a timed event has after its time delta.
const maxArgs = 4

// Limits of the format, checked before anything is allocated from a length read off the wire.
const (
	maxBatchSize  = 64 << 10
	maxFrames     = 128
	maxStringSize = 1 << 10
)

// lastType is the highest non-experimental event type each supported version writes.
var lastType = map[int]evType{22: evUserLog, 23: evGoStatusStack, 25: evGoStatusStack, 26: evGoStatusStack}

// readHeader reads the "go 1.N trace" header and returns N.
func readHeader(r *bufio.Reader) (int, error) {
	var hdr [16]byte
	_, err := io.ReadFull(r, hdr[:])
	switch {
	case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
		return 0, errors.New("not a Go execution trace: header too short")
	case err != nil:
		return 0, fmt.Errorf("read header: %w", err)
	}
	var minor int
	if _, err := fmt.Sscanf(string(hdr[:]), "go 1.%d trace\x00\x00\x00", &minor); err != nil {
		return 0, fmt.Errorf("not a Go execution trace: header %q", hdr[:])
	}
	if _, ok := lastType[minor]; !ok {
		return minor, fmt.Errorf("unsupported execution trace version go 1.%d (this reader supports go 1.22 to 1.26)", minor)
	}
	return minor, nil
}

// batchHeader is a batch read from the stream; its data sits in the generation's arena.
type batchHeader struct {
	gen    uint64
	m      uint64
	time   uint64
	exp    bool
	off, n int
}

// errEndOfGeneration marks the in-band end of a generation (Go 1.26).
var errEndOfGeneration = errors.New("end of generation")

// readBatch reads the next batch, appending its data to arena. It returns io.EOF at the clean
// end of the stream and errEndOfGeneration at a Go 1.26 end-of-generation marker.
func readBatch(r *bufio.Reader, arena []byte) (batchHeader, []byte, error) {
	typ, err := r.ReadByte()
	if err != nil {
		return batchHeader{}, arena, err
	}
	var b batchHeader
	switch evType(typ) {
	case evEndOfGeneration:
		return b, arena, errEndOfGeneration
	case evEventBatch:
	case evExperimentalBatch:
		if _, err := r.ReadByte(); err != nil {
			return b, arena, truncated(err)
		}
		b.exp = true
	default:
		return b, arena, fmt.Errorf("expected a batch, found event type %d", typ)
	}
	var size uint64
	for _, v := range []*uint64{&b.gen, &b.m, &b.time, &size} {
		if *v, err = binary.ReadUvarint(r); err != nil {
			return b, arena, fmt.Errorf("batch header: %w", truncated(err))
		}
	}
	if size > maxBatchSize {
		return b, arena, fmt.Errorf("batch of %d bytes, the format's maximum is %d", size, maxBatchSize)
	}
	b.off, b.n = len(arena), int(size)
	if need := b.off + int(size); need > cap(arena) {
		// Doubling, not append's gentler growth for large slices: a generation's batches
		// would otherwise be copied about five times over.
		arena = slices.Grow(arena, max(need, 2*cap(arena))-b.off)
	}
	arena = arena[:b.off+int(size)]
	if _, err := io.ReadFull(r, arena[b.off:]); err != nil {
		return b, arena, fmt.Errorf("batch of %d bytes: %w", size, truncated(err))
	}
	return b, arena, nil
}

// truncated turns an end of input inside a structure into an unexpected one.
func truncated(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

// decoder reads unsigned LEB128 numbers and bytes from a byte slice. It moves an index, not
// the slice: the reader decodes some 10⁷ numbers a second, and re-slicing writes a pointer,
// which costs a write barrier whenever the GC is running.
type decoder struct {
	b   []byte
	i   int // the next byte
	err error
}

// more reports whether bytes are left.
func (d *decoder) more() bool { return d.i < len(d.b) }

// uvarint returns the next number, or 0 once the data is exhausted or corrupt (err says which).
func (d *decoder) uvarint() uint64 {
	if x, ok := d.small(); ok {
		return x
	}
	return d.uvarintLong()
}

// small returns the next number when it takes one byte, as most numbers in a trace do; it is
// inlined where events are decoded, which uvarint, with its call, is not.
func (d *decoder) small() (uint64, bool) {
	if i := d.i; i < len(d.b) && d.b[i] < 0x80 {
		d.i = i + 1
		return uint64(d.b[i]), true
	}
	return 0, false
}

// uvarintLong decodes a number of several bytes, as binary.Uvarint does. With eight bytes
// left, a number of up to eight (56 bits: every timestamp delta and id of a real trace) is
// read in one load, its 7-bit groups moved together without a branch per byte.
func (d *decoder) uvarintLong() uint64 {
	if b := d.b[d.i:]; len(b) >= 8 {
		w := binary.LittleEndian.Uint64(b)
		if last := ^w & 0x8080808080808080; last != 0 {
			n := bits.TrailingZeros64(last)/8 + 1
			x := w&0x7f | w>>1&(0x7f<<7) | w>>2&(0x7f<<14) | w>>3&(0x7f<<21) |
				w>>4&(0x7f<<28) | w>>5&(0x7f<<35) | w>>6&(0x7f<<42) | w>>7&(0x7f<<49)
			d.i += n
			return x & (1<<(7*n) - 1)
		}
	}
	var x uint64
	for j, s := 0, uint(0); j < binary.MaxVarintLen64 && d.i+j < len(d.b); j, s = j+1, s+7 {
		c := d.b[d.i+j]
		if c < 0x80 {
			if j == binary.MaxVarintLen64-1 && c > 1 {
				break // overflows 64 bits
			}
			d.i += j + 1
			return x | uint64(c)<<s
		}
		x |= uint64(c&0x7f) << s
	}
	if d.err == nil {
		d.err = errors.New("truncated or overlong varint")
	}
	d.i = len(d.b)
	return 0
}

// byte returns the next byte, or 0 once the data is exhausted.
func (d *decoder) byte() byte {
	if d.i >= len(d.b) {
		if d.err == nil {
			d.err = io.ErrUnexpectedEOF
		}
		return 0
	}
	d.i++
	return d.b[d.i-1]
}

// bytes returns the next n bytes.
func (d *decoder) bytes(n uint64) []byte {
	if uint64(len(d.b)-d.i) < n {
		if d.err == nil {
			d.err = io.ErrUnexpectedEOF
		}
		d.i = len(d.b)
		return nil
	}
	s := d.b[d.i : d.i+int(n)]
	d.i += int(n)
	return s
}
