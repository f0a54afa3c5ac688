// Package ebpfsrc loads gostitch's eBPF socket programs (bpf/socket.bpf.c), keeps their pid
// filter current, reads their ring buffer into a socket event model and drains events and
// per-socket counter deltas per target and window.
package ebpfsrc

import (
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/cilium/ebpf/ringbuf"
	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	"github.com/gostitch/gostitch/bpf"
)

// Options tune the source; the zero value means the defaults.
type Options struct {
	// ReadWaitThreshold: reads whose data waited in the kernel socket queue longer than this
	// become KindReadWait events. Default 1ms.
	ReadWaitThreshold time.Duration
	// RingBufferSize is the ring buffer's size in bytes, a power of two and a multiple of the
	// page size. Default 256 KiB.
	RingBufferSize int
	// MaxPending caps the events buffered per target between two Collects; more are lost.
	// Default 65536.
	MaxPending int
}

func (o Options) withDefaults() Options {
	if o.ReadWaitThreshold <= 0 {
		o.ReadWaitThreshold = time.Millisecond
	}
	if o.RingBufferSize <= 0 {
		o.RingBufferSize = 256 << 10
	}
	if o.MaxPending <= 0 {
		o.MaxPending = 1 << 16
	}
	return o
}

// Source is the loaded and attached socket programs. A nil *Source is a source that is off:
// its methods do nothing.
type Source struct {
	opts   Options
	logger *zap.Logger
	bootID string
	objs   bpf.SocketObjects
	links  []link.Link
	iter   *link.Iter
	rd     *ringbuf.Reader

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
	lostSent  uint64 // lost events already reported in a Batch
}

// seen is what the previous Collect saw of a socket.
type seen struct {
	pid    uint32
	local  netip.AddrPort
	stats  rawStats
	absent int // consecutive snapshots without the socket
}

// Open starts the source as mode says. With ModeOff, and with ModeAuto when the machine lacks
// something the programs need (after one warning naming it), it returns a nil *Source and no
// error; with ModeOn that reason is the error.
func Open(mode Mode, opts Options, logger *zap.Logger) (*Source, error) {
	if err := mode.Validate(); err != nil {
		return nil, err
	}
	if mode == ModeOff {
		return nil, nil
	}
	s, err := open(opts.withDefaults(), logger)
	if err == nil {
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
	spec.Maps[bpf.SocketMapEvents].MaxEntries = uint32(opts.RingBufferSize)

	s := &Source{
		opts:       opts,
		logger:     logger,
		bootID:     boot,
		readerDone: make(chan struct{}),
		flushed:    make(chan struct{}, 1),
		pids:       map[uint32]bool{},
		pending:    map[uint32][]record{},
		last:       map[uint64]*seen{},
		windowEnd:  map[uint32]uint64{},
		openedAt:   monoNow(),
	}
	if err := spec.LoadAndAssign(&s.objs, nil); err != nil {
		if errors.Is(err, unix.EPERM) {
			return nil, fmt.Errorf("load eBPF programs: %w (the capabilities are there: a seccomp profile or LSM policy denies bpf())", err)
		}
		return nil, fmt.Errorf("load eBPF programs: %w", err)
	}
	if err := s.attach(); err != nil {
		return nil, errors.Join(err, s.Close())
	}
	return s, nil
}

// attach starts the ring buffer reader, then the iterator and the hooks.
func (s *Source) attach() error {
	rd, err := ringbuf.NewReader(s.objs.Events)
	if err != nil {
		return fmt.Errorf("open ring buffer: %w", err)
	}
	s.rd = rd
	go s.read()

	s.iter, err = link.AttachIter(link.IterOptions{Program: s.objs.DumpSocks, Map: s.objs.Socks})
	if err != nil {
		return fmt.Errorf("attach socket iterator: %w", err)
	}
	p := &s.objs.SocketPrograms
	hooks := []struct {
		name string
		prog *ebpf.Program
	}{
		{"inet_sock_set_state", p.OnState},
		{"sock_send_length", p.OnSend},
		{"sock_recv_length", p.OnRecv},
		{"sk_data_ready", p.OnDataReady},
		{"tcp_probe", p.OnProbe},
		{"tcp_retransmit_skb", p.OnRetransmit},
		{"tcp_receive_reset", p.OnResetReceived},
		{"tcp_send_reset", p.OnResetSent},
	}
	for _, h := range hooks {
		l, err := link.AttachTracing(link.TracingOptions{Program: h.prog, AttachType: ebpf.AttachTraceRawTp})
		if err != nil {
			return fmt.Errorf("attach tp_btf/%s: %w", h.name, err)
		}
		s.links = append(s.links, l)
	}
	return nil
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
		if p >= pidLimit {
			return fmt.Errorf("target pid %d: beyond the kernel's limit %d", p, pidLimit)
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

// pidLimit is the kernel's PID_MAX_LIMIT, the size of the target_pids bitmap.
const pidLimit = 1 << 22

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

// Lost counts the events lost since Open: the kernel found the ring buffer full, a target's
// buffer between two Collects was full, or a record was malformed.
func (s *Source) Lost() (uint64, error) {
	if s == nil {
		return 0, nil
	}
	var perCPU []uint64
	if err := s.objs.Drops.Lookup(uint32(0), &perCPU); err != nil {
		return 0, fmt.Errorf("read ring buffer drops: %w", err)
	}
	s.mu.Lock()
	n := s.lostUser
	s.mu.Unlock()
	for _, d := range perCPU {
		n += d
	}
	return n, nil
}

// Close detaches every program and frees the maps; nothing stays attached.
func (s *Source) Close() error {
	if s == nil {
		return nil
	}
	var errs []error
	for _, l := range s.links {
		errs = append(errs, l.Close())
	}
	if s.iter != nil {
		errs = append(errs, s.iter.Close())
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
