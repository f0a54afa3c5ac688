// Package ebpfsrc loads gostitch's eBPF socket programs (bpf/socket.bpf.c), keeps their pid
// filter current, reads their ring buffer into a socket event model and drains events and
// per-socket counter deltas per target and window. Counters are read from the programs'
// socket map (keyed by socket cookie) with batch lookups. Each program loads on its own: a
// kernel that refuses an optional one costs only what it gave (see Program).
//
// Its place among the layers and the clock it shares with the trace: docs/design.md, "Layers" and "Data flow".
package ebpfsrc

import (
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/link"
	"github.com/cilium/ebpf/ringbuf"
	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	"github.com/gostitch/gostitch/bpf"
)

// Options tune the source; a zero field takes its Default constant.
type Options struct {
	// ReadWaitThreshold: reads whose data waited in the kernel socket queue longer than this
	// become KindReadWait events.
	ReadWaitThreshold time.Duration
	// ReadIdleThreshold: reads that come at least this long after their socket's previous read
	// (and are no KindReadWait) become KindReadIdle events; the receiver sets it to the shortest
	// block that becomes a span.
	ReadIdleThreshold time.Duration
	// RingBufferSize is the ring buffer's size in bytes, a power of two and a multiple of the
	// page size.
	RingBufferSize int
	// MaxPending caps the events buffered per target between two Collects; more are lost.
	MaxPending int
	// MaxSockets caps the sockets tracked at once; sockets beyond it go unseen, each of their
	// sends and receives counted as a lost event.
	MaxSockets int

	// refuse names programs whose code is replaced by code the verifier rejects (tests).
	refuse []string
	// empty makes every program return at once: the hooks' own cost (benchmarks).
	empty bool
}

func (o Options) withDefaults() Options {
	if o.ReadWaitThreshold <= 0 {
		o.ReadWaitThreshold = DefaultReadWaitThreshold
	}
	if o.ReadIdleThreshold <= 0 {
		o.ReadIdleThreshold = DefaultReadIdleThreshold
	}
	if o.RingBufferSize <= 0 {
		o.RingBufferSize = DefaultRingBufferSize
	}
	if o.MaxPending <= 0 {
		o.MaxPending = DefaultMaxPending
	}
	if o.MaxSockets <= 0 {
		o.MaxSockets = DefaultMaxSockets
	}
	return o
}

// Program is one of the source's eBPF programs and whether it runs.
type Program struct {
	Name string
	// Required says the source is off without it; without an optional program only Loss is
	// missing.
	Required bool
	// Loss is what goes missing without the program.
	Loss string
	// Err says why the program is not attached; nil when it is.
	Err error
}

// programs are the source's programs, in attach order.
var programs = []Program{
	{Name: bpf.SocketProgOnState, Required: true, Loss: "connect, established and close events"},
	{Name: bpf.SocketProgOnDestroy, Required: true, Loss: "freeing the entries of destroyed sockets"},
	{Name: bpf.SocketProgOnSend, Required: true, Loss: "sockets tracked on send, bytes sent"},
	{Name: bpf.SocketProgOnRecv, Required: true, Loss: "sockets tracked on receive, bytes received, round-trip times"},
	{Name: bpf.SocketProgOnDataReady, Loss: "kernel queue delay and tcp read wait spans"},
	{Name: bpf.SocketProgOnRetransmit, Loss: "retransmit events and counts"},
	{Name: bpf.SocketProgOnResetReceived, Loss: "reset received events"},
	{Name: bpf.SocketProgOnResetSent, Loss: "reset sent events"},
}

// Source is the loaded and attached socket programs. A nil *Source is a source that is off:
// its methods do nothing.
type Source struct {
	opts   Options
	logger *zap.Logger
	bootID string
	objs   bpf.SocketMaps
	progs  map[string]*ebpf.Program // the attached programs
	links  []link.Link
	rd     *ringbuf.Reader

	programs []Program // each program, with why it is not attached

	readerDone chan struct{}
	flushed    chan struct{} // the reader has caught up with a Flush
	flushMu    sync.Mutex

	mu        sync.Mutex
	pids      map[uint32]bool
	pending   map[uint32][]record // events per target pid, in arrival order
	last      map[uint64]*seen    // counters per cookie at the previous Collect
	windowEnd map[uint32]uint64   // per pid, the previous Collect's end (CLOCK_MONOTONIC ns)
	openedAt  uint64
	lostUser  uint64 // events dropped because a target's pending buffer was full or malformed
	lostSent  Losses // losses already reported in a Batch
}

// seen is what the previous Collect saw of a socket.
type seen struct {
	pid    uint32
	local  netip.AddrPort
	stats  rawStats
	absent int // consecutive snapshots without the socket
}

// Open starts the source as mode says. With ModeOff, and with ModeAuto when the machine lacks
// something the programs need or refuses a required program (after one warning naming it), it
// returns a nil *Source and no error; with ModeOn that reason is the error. A source that
// starts logs one line, "eBPF socket source on", of its programs attached and missing.
func Open(mode Mode, opts Options, logger *zap.Logger) (*Source, error) {
	if err := mode.Validate(); err != nil {
		return nil, err
	}
	if mode == ModeOff {
		return nil, nil
	}
	s, err := open(opts.withDefaults(), logger)
	if err == nil {
		s.logPrograms()
		return s, nil
	}
	if mode == ModeOn {
		return nil, fmt.Errorf("eBPF socket source: %w", err)
	}
	logger.Warn("eBPF socket source off: pprof and execution traces go on without socket events; "+
		"set ebpf.mode to off to silence this, or to on to fail the start instead", zap.Error(err))
	return nil, nil
}

func open(opts Options, logger *zap.Logger) (*Source, error) {
	if err := preflight(); err != nil {
		return nil, err
	}
	boot, err := bootID()
	if err != nil {
		return nil, err
	}
	spec, err := bpf.LoadSocket()
	if err != nil {
		return nil, fmt.Errorf("read eBPF object: %w", err)
	}
	if err := spec.Variables[bpf.SocketVarReadWaitThresholdNs].Set(uint64(opts.ReadWaitThreshold)); err != nil {
		return nil, fmt.Errorf("set read wait threshold: %w", err)
	}
	if err := spec.Variables[bpf.SocketVarReadIdleThresholdNs].Set(uint64(opts.ReadIdleThreshold)); err != nil {
		return nil, fmt.Errorf("set read idle threshold: %w", err)
	}
	spec.Maps[bpf.SocketMapEvents].MaxEntries = uint32(opts.RingBufferSize)
	spec.Maps[bpf.SocketMapSocks].MaxEntries = uint32(opts.MaxSockets)
	for _, name := range opts.refuse {
		spec.Programs[name].Instructions = asm.Instructions{asm.Return()} // R0 unset
	}
	if opts.empty {
		for _, p := range spec.Programs {
			p.Instructions = asm.Instructions{asm.Mov.Imm(asm.R0, 0), asm.Return()}
		}
	}

	s := &Source{
		opts:       opts,
		logger:     logger,
		bootID:     boot,
		progs:      map[string]*ebpf.Program{},
		readerDone: make(chan struct{}),
		flushed:    make(chan struct{}, 1),
		pids:       map[uint32]bool{},
		pending:    map[uint32][]record{},
		last:       map[uint64]*seen{},
		windowEnd:  map[uint32]uint64{},
		openedAt:   monoNow(),
	}
	if err := s.load(spec); err != nil {
		return nil, errors.Join(err, s.Close())
	}
	return s, nil
}

// load creates the maps, starts the ring buffer reader, then loads and attaches the programs
// one by one: an optional program that fails keeps its error in s.programs, a required one
// fails the load.
func (s *Source) load(spec *ebpf.CollectionSpec) error {
	mapSpec := spec.Copy()
	mapSpec.Programs = nil
	coll, err := ebpf.NewCollection(mapSpec)
	if err != nil {
		return fmt.Errorf("create eBPF maps: %w", err)
	}
	defer coll.Close() // what stays in it (.rodata) the programs hold themselves
	shared := maps.Clone(coll.Maps)
	if err := coll.Assign(&s.objs); err != nil {
		return fmt.Errorf("create eBPF maps: %w", err)
	}
	if s.rd, err = ringbuf.NewReader(s.objs.Events); err != nil {
		return fmt.Errorf("open ring buffer: %w", err)
	}
	go s.read()

	s.programs = slices.Clone(programs)
	for i := range s.programs {
		p := &s.programs[i]
		if p.Err = s.attach(spec, p.Name, shared); p.Err != nil && p.Required {
			return fmt.Errorf("required program %s: %w", p.Name, p.Err)
		}
	}
	return nil
}

// attach loads program name of spec on the shared maps and attaches it to its tracepoint.
func (s *Source) attach(spec *ebpf.CollectionSpec, name string, shared map[string]*ebpf.Map) error {
	one := spec.Copy()
	one.Programs = map[string]*ebpf.ProgramSpec{name: one.Programs[name]}
	coll, err := ebpf.NewCollectionWithOptions(one, ebpf.CollectionOptions{MapReplacements: shared})
	if errors.Is(err, unix.EPERM) {
		return fmt.Errorf("%w (the capabilities are there: a seccomp profile or LSM policy denies this program)", err)
	}
	if err != nil {
		return err // names the program and the verifier's complaint
	}
	defer coll.Close()
	prog := coll.DetachProgram(name)
	l, err := link.AttachTracing(link.TracingOptions{Program: prog, AttachType: ebpf.AttachTraceRawTp})
	if err != nil {
		return errors.Join(fmt.Errorf("program %s: attach tp_btf/%s: %w", name, one.Programs[name].AttachTo, err), prog.Close())
	}
	s.progs[name] = prog
	s.links = append(s.links, l)
	return nil
}

// Programs reports each program, attached or not and why. A nil Source has none.
func (s *Source) Programs() []Program {
	if s == nil {
		return nil
	}
	return slices.Clone(s.programs)
}

// logPrograms logs one line of what runs: at Info when every program does, else at Warn with
// each missing program's name, error number (or cause) and what goes missing with it.
func (s *Source) logPrograms() {
	var attached, missing []string
	for _, p := range s.programs {
		if p.Err == nil {
			attached = append(attached, p.Name)
		} else {
			missing = append(missing, fmt.Sprintf("%s: %s: %s", p.Name, cause(p.Err), p.Loss))
		}
	}
	log := s.logger.Info
	if len(missing) > 0 {
		log = s.logger.Warn
	}
	log("eBPF socket source on", zap.Strings("attached", attached), zap.Strings("missing", missing))
}

// cause is err's error number (EPERM, EACCES, ...), or its text when it has none.
func cause(err error) string {
	var errno unix.Errno
	if errors.As(err, &errno) && unix.ErrnoName(errno) != "" {
		return unix.ErrnoName(errno)
	}
	return err.Error()
}

// SetPIDs makes pids the target processes: their sockets are tracked from their next use.
// Sockets of a removed pid stay tracked in the kernel until they close, but their events and
// counters are no longer kept.
func (s *Source) SetPIDs(pids []uint32) error {
	if s == nil {
		return nil
	}
	want := make(map[uint32]bool, len(pids))
	for _, p := range pids {
		if p >= PIDLimit {
			return fmt.Errorf("target pid %d: beyond the kernel's limit %d", p, PIDLimit)
		}
		want[p] = true
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for p := range s.pids {
		if want[p] {
			continue
		}
		if err := s.setTargetBit(p, false); err != nil {
			return err
		}
		delete(s.pids, p)
		delete(s.pending, p)
		delete(s.windowEnd, p)
		for c, v := range s.last {
			if v.pid == p {
				delete(s.last, c)
			}
		}
	}
	for p := range want {
		if s.pids[p] {
			continue
		}
		if err := s.setTargetBit(p, true); err != nil {
			return err
		}
		s.pids[p] = true
	}
	return nil
}

// setTargetBit sets or clears pid's bit in the kernel's target_pids bitmap.
func (s *Source) setTargetBit(pid uint32, on bool) error {
	word, bit := pid/64, uint64(1)<<(pid%64)
	var bits uint64
	if err := s.objs.TargetPids.Lookup(word, &bits); err != nil {
		return fmt.Errorf("read target pid bitmap: %w", err)
	}
	if on {
		bits |= bit
	} else {
		bits &^= bit
	}
	if err := s.objs.TargetPids.Put(word, bits); err != nil {
		return fmt.Errorf("update target pid %d: %w", pid, err)
	}
	return nil
}

// Losses counts what the source lost.
type Losses struct {
	// Events counts discrete events lost: the kernel found the ring buffer full, a target's
	// buffer between two Collects was full, or a record was malformed.
	Events uint64
	// SocketUses counts sends, receives and connects of target sockets that went unseen
	// because the socket map was full (Options.MaxSockets).
	SocketUses uint64
}

// sub returns what l lost since base.
func (l Losses) sub(base Losses) Losses {
	return Losses{Events: l.Events - base.Events, SocketUses: l.SocketUses - base.SocketUses}
}

// Lost counts what was lost since Open.
func (s *Source) Lost() (Losses, error) {
	if s == nil {
		return Losses{}, nil
	}
	kernel := func(slot uint32) (uint64, error) {
		var perCPU []uint64
		if err := s.objs.Drops.Lookup(slot, &perCPU); err != nil {
			return 0, fmt.Errorf("read eBPF drop counter %d: %w", slot, err)
		}
		var n uint64
		for _, d := range perCPU {
			n += d
		}
		return n, nil
	}
	events, err := kernel(dropEvent)
	if err != nil {
		return Losses{}, err
	}
	uses, err := kernel(dropSocket)
	if err != nil {
		return Losses{}, err
	}
	s.mu.Lock()
	events += s.lostUser
	s.mu.Unlock()
	return Losses{Events: events, SocketUses: uses}, nil
}

// Slots of the kernel's drops counters (enum drop_slot in bpf/socket.h).
const (
	dropEvent  uint32 = 0
	dropSocket uint32 = 1
)

// Close detaches every program and frees the maps; nothing stays attached.
func (s *Source) Close() error {
	if s == nil {
		return nil
	}
	var errs []error
	for _, l := range s.links {
		errs = append(errs, l.Close())
	}
	for _, p := range s.progs {
		errs = append(errs, p.Close())
	}
	if s.rd != nil {
		errs = append(errs, s.rd.Close())
		<-s.readerDone
	}
	errs = append(errs, s.objs.Close())
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("close ebpf socket source: %w", err)
	}
	return nil
}
