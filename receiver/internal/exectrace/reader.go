package exectrace

import (
	"bufio"
	"cmp"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"

	"golang.org/x/exp/trace"
)

// Reader reads the events of one execution trace in order. A trace is a series of
// generations; the Reader holds one generation's batches and tables at a time, so its memory
// follows the size of a generation, not of the trace.
type Reader struct {
	r     *bufio.Reader
	minor int
	// args holds the arguments after the time delta per event type this version writes in
	// its event batches (0: not such an event; -1: none).
	args *[256]int8

	// The current generation: its number, batch data, event batches per thread and tables.
	gen     uint64
	arena   []byte
	batches []batchHeader
	spill   *spilled // a batch of the next generation, read ahead (before Go 1.26)
	t       tables
	start   uint64 // the generation's earliest batch time (ticks), the time of its Sync

	cursors  map[trace.ThreadID]*cursor
	frontier []*cursor // a min-heap of the threads with events left, by next event time
	sample   int       // next CPU sample of the generation

	o       ordering
	q       queue
	done    bool  // the final Sync has been handed out
	pending error // the error to return once what came before it is handed out
	// readErr is a read error past a whole generation (before Go 1.26), reported once the
	// generation is handed out.
	readErr error
}

type spilled struct {
	b    batchHeader
	data []byte
}

// cursor walks one thread's batches of a generation.
type cursor struct {
	m       trace.ThreadID
	ms      *mState
	batches []batchHeader
	data    []byte // the current batch
	pos     int    // its next event
	last    trace.Time

	typ  evType
	time trace.Time
	args [maxArgs]uint64
}

// buffers keeps the input buffer and batch arena of readers that reached the end of their
// trace: a collector reads a trace of every target every window, and a generation's batches
// take a megabyte or more.
var buffers sync.Pool // of *readBuffers

type readBuffers struct {
	r     *bufio.Reader
	arena []byte
}

// NewReader reads the trace's header. Versions other than Go 1.22 to 1.26 are refused, named.
func NewReader(r io.Reader) (*Reader, error) {
	bufs, ok := buffers.Get().(*readBuffers)
	if ok {
		bufs.r.Reset(r)
	} else {
		bufs = &readBuffers{r: bufio.NewReaderSize(r, 64<<10)}
	}
	minor, err := readHeader(bufs.r)
	if err != nil {
		return nil, err
	}
	tr := &Reader{r: bufs.r, arena: bufs.arena[:0], minor: minor, args: eventArgs(minor), cursors: make(map[trace.ThreadID]*cursor)}
	tr.o = newOrdering(&tr.t.strings, &tr.q)
	return tr, nil
}

// Events is the number of events read so far, including those not handed out.
func (r *Reader) Events() int { return r.q.count }

// AppendFrames appends up to depth frames of stack id, innermost first, to dst. Stack ids
// refer to the generation of the last Sync.
func (r *Reader) AppendFrames(dst []trace.StackFrame, id StackID, depth int) []trace.StackFrame {
	return r.t.appendFrames(dst, id, depth)
}

// Next returns the next event, valid until the next call. It returns io.EOF after the final
// Sync; an error for a corrupt or truncated trace comes after a Sync that ends what was read
// before it.
func (r *Reader) Next() (*Event, error) {
	for {
		if ev := r.q.pop(); ev != nil {
			return ev, nil
		}
		if err := r.step(); err != nil {
			return nil, err
		}
	}
}

// step queues the next events.
func (r *Reader) step() error {
	switch {
	case r.done:
		r.release()
		return io.EOF
	case r.pending != nil:
		err := r.pending
		r.pending, r.done = nil, true
		r.release()
		return err
	case len(r.frontier) == 0 && r.sample == len(r.t.samples):
		if err := r.readErr; err != nil {
			r.readErr = nil
			return r.fail(err)
		}
		return r.nextGeneration()
	}
	if r.sample < len(r.t.samples) && (len(r.frontier) == 0 || r.t.samples[r.sample].time < r.frontier[0].time) {
		s := &r.t.samples[r.sample]
		r.sample++
		ev := r.q.push(s.time, s.m, s.g)
		ev.Kind, ev.Stack = Sample, s.stack
		return nil
	}
	ok, err := r.tryAdvance(0)
	if err != nil {
		return r.fail(err)
	}
	if ok {
		return nil
	}
	// The earliest event waits for another thread's: try the others in time order (rare).
	slices.SortFunc(r.frontier, func(a, b *cursor) int { return cmp.Compare(a.time, b.time) })
	for i := 1; i < len(r.frontier); i++ {
		if ok, err := r.tryAdvance(i); err != nil {
			return r.fail(err)
		} else if ok {
			return nil
		}
	}
	c := r.frontier[0]
	return r.fail(fmt.Errorf("broken trace: no thread can go on (generation %d, thread %d waits at event type %d)", r.gen, c.m, c.typ))
}

// tryAdvance applies the next event of frontier[i] if it can go now.
func (r *Reader) tryAdvance(i int) (bool, error) {
	c := r.frontier[i]
	ok, err := r.o.advance(c)
	if err != nil {
		return false, fmt.Errorf("generation %d: %w", r.gen, err)
	}
	if !ok {
		return false, nil
	}
	more, err := c.next(&r.t, r.arena, r.args)
	switch {
	case err != nil:
		return false, fmt.Errorf("generation %d, thread %d: %w", r.gen, c.m, err)
	case more:
		heapFix(r.frontier, i)
	default:
		r.frontier = heapRemove(r.frontier, i)
	}
	return true, nil
}

// release gives the input buffer and the arena to the next reader once the trace has ended:
// nothing reads them after that.
func (r *Reader) release() {
	if r.r == nil {
		return
	}
	r.r.Reset(nil)
	buffers.Put(&readBuffers{r: r.r, arena: r.arena[:0]})
	r.r, r.arena = nil, nil
	for _, c := range r.cursors {
		c.data, c.pos, c.batches = nil, 0, nil
	}
}

// fail ends the trace: a Sync closes what was read, then err is returned.
func (r *Reader) fail(err error) error {
	r.frontier, r.sample, r.t.samples = r.frontier[:0], 0, r.t.samples[:0]
	r.pending = err
	r.q.pushSync()
	return nil
}

// nextGeneration reads the next generation and queues its Sync, or the final Sync at the end.
func (r *Reader) nextGeneration() error {
	more, err := r.readGeneration()
	switch {
	case err != nil:
		return r.fail(err)
	case !more:
		r.done = true
		r.q.pushSync()
	}
	return nil
}

// readGeneration reads all batches of the next generation, sets up its cursors and queues its
// Sync. It reports false at the clean end of the trace.
func (r *Reader) readGeneration() (bool, error) {
	r.t.reset()
	r.arena, r.batches, r.gen, r.start = r.arena[:0], r.batches[:0], 0, 0
	if err := r.takeSpill(); err != nil {
		return false, err
	}
	if more, err := r.readBatches(); !more || err != nil {
		return false, err
	}
	if err := r.checkTables(); err != nil {
		return false, err
	}
	r.o.beginGeneration(r.gen)
	if err := r.setupCursors(); err != nil {
		return false, err
	}
	r.sample = 0
	ev := r.q.push(r.t.nanos(r.start), trace.NoThread, trace.NoGoroutine)
	ev.Kind, ev.Clock = Sync, r.t.clock
	return true, nil
}

// takeSpill starts the generation with the batch read ahead, if any.
func (r *Reader) takeSpill() error {
	s := r.spill
	if s == nil {
		return nil
	}
	r.spill = nil
	r.gen = s.b.gen
	s.b.off = len(r.arena)
	r.arena = append(r.arena, s.data...)
	return r.add(s.b)
}

// readBatches reads the generation's batches up to its end: an end-of-generation marker (Go
// 1.26), a batch of the next generation, kept for it (before Go 1.26), or the end of the
// trace. It reports false at the clean end of the trace.
func (r *Reader) readBatches() (bool, error) {
	for {
		b, arena, err := readBatch(r.r, r.arena)
		r.arena = arena
		if err != nil {
			return r.endBatches(err)
		}
		if r.gen == 0 {
			r.gen = b.gen
		}
		if b.gen != r.gen {
			if r.minor < 26 && b.gen == r.gen+1 {
				r.spill = &spilled{b: b, data: slices.Clone(r.arena[b.off : b.off+b.n])}
				r.arena = r.arena[:b.off]
				return true, nil
			}
			return false, fmt.Errorf("batch of generation %d inside generation %d", b.gen, r.gen)
		}
		if err := r.add(b); err != nil {
			return false, err
		}
	}
}

// endBatches says what err, which ended reading the generation's batches, means: whether the
// generation read is whole, or the trace ended cleanly before it (false, nil).
func (r *Reader) endBatches(err error) (bool, error) {
	switch {
	case errors.Is(err, errEndOfGeneration) && r.minor >= 26:
		if r.gen == 0 {
			return false, errors.New("empty generation")
		}
		return true, nil
	case errors.Is(err, io.EOF):
		if r.gen == 0 {
			return false, nil
		}
		if r.minor >= 26 {
			return false, fmt.Errorf("trace ends inside generation %d: truncated", r.gen)
		}
		return true, nil
	case r.minor < 26 && r.gen != 0:
		r.readErr = fmt.Errorf("after generation %d: %w", r.gen, err) // the generation read is whole
		return true, nil
	}
	return false, fmt.Errorf("generation %d: %w", r.gen+1, err)
}

// add files a batch of the generation.
func (r *Reader) add(b batchHeader) error {
	if b.gen == 0 {
		return errors.New("batch of generation 0")
	}
	if r.start == 0 || b.time < r.start {
		r.start = b.time
	}
	return r.process(b)
}

// checkTables checks that the generation has what reading its events needs and finishes its
// tables.
func (r *Reader) checkTables() error {
	if r.t.freq == 0 {
		return fmt.Errorf("generation %d has no timestamp frequency", r.gen)
	}
	if r.minor >= 25 && r.t.clock == nil {
		return fmt.Errorf("generation %d has no clock snapshot", r.gen)
	}
	if err := r.t.finish(); err != nil {
		return fmt.Errorf("generation %d: %w", r.gen, err)
	}
	return nil
}

// process files a batch: tables are read now, event batches are kept for their thread.
func (r *Reader) process(b batchHeader) error {
	if b.exp {
		return nil // experimental data is not used
	}
	d := decoder{b: r.arena[b.off : b.off+b.n]}
	if len(d.b) == 0 {
		r.batches = append(r.batches, b)
		return nil
	}
	switch evType(d.b[0]) {
	case evStrings:
		d.byte()
		return r.t.addStrings(&d)
	case evStacks:
		d.byte()
		return r.t.addStacks(&d)
	case evCPUSamples:
		d.byte()
		return r.t.addSamples(&d)
	case evSync:
		if r.minor >= 25 {
			d.byte()
			return r.t.setSync(&d, b.time)
		}
	case evFrequency:
		if r.minor < 25 {
			return r.t.setSync(&d, b.time)
		}
	}
	r.batches = append(r.batches, b)
	return nil
}

// setupCursors groups the event batches by thread, in the order threads first appear, and
// puts each thread's first event on the frontier.
func (r *Reader) setupCursors() error {
	r.frontier = r.frontier[:0]
	var order []*cursor
	for _, c := range r.cursors {
		c.batches = c.batches[:0]
	}
	for _, b := range r.batches {
		m := trace.ThreadID(b.m)
		c, ok := r.cursors[m]
		if !ok {
			c = &cursor{m: m, ms: r.o.thread(m)}
			r.cursors[m] = c
		}
		if len(c.batches) == 0 {
			order = append(order, c)
		}
		c.batches = append(c.batches, b)
	}
	for _, c := range order {
		c.data, c.pos, c.last = nil, 0, 0
		more, err := c.next(&r.t, r.arena, r.args)
		if err != nil {
			return fmt.Errorf("generation %d, thread %d: %w", r.gen, c.m, err)
		}
		if more {
			r.frontier = heapInsert(r.frontier, c)
		}
	}
	return nil
}

// next decodes the thread's next event, reporting false when it has none left.
func (c *cursor) next(t *tables, arena []byte, args *[256]int8) (bool, error) {
	for c.pos == len(c.data) {
		if len(c.batches) == 0 {
			return false, nil
		}
		b := c.batches[0]
		c.batches = c.batches[1:]
		c.data, c.pos, c.last = arena[b.off:b.off+b.n], 0, t.nanos(b.time)
	}
	typ := evType(c.data[c.pos])
	n := args[typ]
	if n == 0 {
		return false, fmt.Errorf("event type %d is not an event of this trace version's batches", typ)
	}
	d := decoder{b: c.data, i: c.pos + 1}
	dt := d.uvarint()
	for i := range max(n, 0) {
		x, ok := d.small()
		if !ok {
			x = d.uvarintLong()
		}
		c.args[i] = x
	}
	if d.err != nil {
		return false, fmt.Errorf("event type %d: %w", typ, d.err)
	}
	c.pos, c.typ = d.i, typ
	c.time = t.nanos(dt) + c.last
	c.last = c.time
	return true, nil
}
