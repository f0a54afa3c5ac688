package ebpfsrc

import (
	"cmp"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"time"

	"github.com/cilium/ebpf"
)

// Batch is what the kernel saw of one target process in one window.
type Batch struct {
	PID uint32
	// BootID names the boot the cookies belong to (they are unique only within one).
	BootID string
	// Start and End bound the window, CLOCK_MONOTONIC ns: End is the Collect's until, Start
	// the previous Collect's end for this pid (or when the source opened).
	Start, End uint64
	// MonoOffset converts the window's times to wall clock: Unix ns = mono + MonoOffset.
	MonoOffset int64
	// Events holds the window's discrete events, by time. An event that reached userspace
	// after the Collect of its window comes with the next one.
	Events []Event
	// Reads holds the window's KindReadIdle events, by time: reads after a wait long enough to
	// be a block span, which name the socket a goroutine waited on and when its data came
	// (kept apart from Events, whose events make spans of their own).
	Reads []Event
	// Sockets holds the sockets with activity since the previous Collect, by cookie.
	Sockets []Socket
	// Lost counts what any target lost since the previous Collect of any target, so that the
	// Lost of all batches add up to Source.Lost.
	Lost Losses
}

// Time converts a CLOCK_MONOTONIC time of the batch to wall clock.
func (b *Batch) Time(mono uint64) time.Time { return time.Unix(0, int64(mono)+b.MonoOffset) }

// Socket is one socket's activity in a window.
type Socket struct {
	Cookie      uint64
	PID         uint32
	Local, Peer netip.AddrPort
	// State is the TCP state when last seen.
	State TCPState
	// ConnectStart is when the target connected the socket (CLOCK_MONOTONIC ns); 0 for
	// accepted sockets and sockets connected before their process became a target.
	ConnectStart uint64
	// SRTT is the latest smoothed round-trip time, 0 before the first sample.
	SRTT time.Duration
	// Closed says the socket closed in the window.
	Closed bool
	// Delta is the activity since the previous Collect.
	Delta Counters
}

// Collect drains what the kernel saw of process pid up to until: the events so far and the
// counter deltas of its sockets since the previous Collect for pid.
func (s *Source) Collect(pid uint32, until time.Time) (Batch, error) {
	if s == nil {
		return Batch{PID: pid}, nil
	}
	if err := s.sync(); err != nil {
		return Batch{}, err
	}
	snap, err := s.snapshot()
	if err != nil {
		return Batch{}, err
	}
	lost, err := s.Lost()
	if err != nil {
		return Batch{}, err
	}
	offset := monoOffset()
	end := uint64(max(until.UnixNano()-offset, 0))

	s.mu.Lock()
	defer s.mu.Unlock()
	b := Batch{PID: pid, BootID: s.bootID, Start: s.openedAt, End: end, MonoOffset: offset,
		Lost: lost.sub(s.lostSent)}
	s.lostSent = lost
	if !s.pids[pid] {
		return b, nil
	}
	if prev, ok := s.windowEnd[pid]; ok {
		b.Start = prev
	}
	s.windowEnd[pid] = end

	events := s.take(pid, end)
	socks := map[uint64]Socket{}
	inSnap := map[uint64]bool{}
	for _, r := range snap {
		if r.PID == pid {
			inSnap[r.Cookie] = true
			socks[r.Cookie] = s.account(r)
		}
	}
	locals := map[uint64]netip.AddrPort{}
	for _, r := range events {
		if r.Local.Port() != 0 {
			locals[r.Cookie] = r.Local
		}
	}
	for _, r := range events {
		if r.Kind == KindClose {
			// The kernel has released the local port by the time the socket closes.
			if local, ok := locals[r.Cookie]; ok && r.Local.Port() == 0 {
				r.Local = local
			} else if prev := s.last[r.Cookie]; prev != nil && r.Local.Port() == 0 {
				r.Local = prev.local
			}
			socks[r.Cookie] = s.account(r)
		}
		if r.Kind == KindReadIdle {
			b.Reads = append(b.Reads, r.Event)
			continue
		}
		b.Events = append(b.Events, r.Event)
	}
	s.forgetAbsent(pid, inSnap)
	for _, sk := range socks {
		if sk.Closed || !sk.Delta.IsZero() {
			b.Sockets = append(b.Sockets, sk)
		}
	}
	slices.SortFunc(b.Sockets, func(x, y Socket) int { return cmp.Compare(x.Cookie, y.Cookie) })
	return b, nil
}

// take removes pid's pending events up to end and returns them by time.
func (s *Source) take(pid uint32, end uint64) []record {
	var taken, kept []record
	for _, r := range s.pending[pid] {
		if r.Mono <= end {
			taken = append(taken, r)
		} else {
			kept = append(kept, r)
		}
	}
	s.pending[pid] = kept
	slices.SortStableFunc(taken, func(x, y record) int { return cmp.Compare(x.Mono, y.Mono) })
	return taken
}

// account turns a snapshot or close record into the socket's delta since it was last seen.
func (s *Source) account(r record) Socket {
	var base rawStats
	if prev := s.last[r.Cookie]; prev != nil {
		base = prev.stats
	}
	closed := r.Kind == KindClose
	if closed {
		delete(s.last, r.Cookie)
	} else {
		s.last[r.Cookie] = &seen{pid: r.PID, local: r.Local, stats: *r.stats}
	}
	return Socket{
		Cookie:       r.Cookie,
		PID:          r.PID,
		Local:        r.Local,
		Peer:         r.Peer,
		State:        r.State,
		ConnectStart: r.Since,
		SRTT:         time.Duration(r.stats.srttUs) * time.Microsecond,
		Closed:       closed,
		Delta:        r.stats.sub(&base),
	}
}

// forgetAbsent drops the counters of pid's sockets missing from two snapshots in a row: they
// closed and their close event was lost (one absence may be a close still in flight).
func (s *Source) forgetAbsent(pid uint32, inSnap map[uint64]bool) {
	for c, v := range s.last {
		if v.pid != pid || inSnap[c] {
			continue
		}
		if v.absent++; v.absent >= 2 {
			delete(s.last, c)
		}
	}
}

// snapshotBatch is how many sockets one batch lookup reads.
const snapshotBatch = 256

// snapshot reads every tracked socket's entry but closed ones (their close record is on its
// way): with batch lookups, or one by one where the kernel has no batch operations.
func (s *Source) snapshot() ([]record, error) {
	var (
		recs   []record
		cursor ebpf.MapBatchCursor
		keys   = make([]uint64, snapshotBatch)
		vals   = make([][recordSize]byte, snapshotBatch)
	)
	for {
		n, lerr := s.objs.Socks.BatchLookup(&cursor, keys, vals, nil)
		if errors.Is(lerr, ebpf.ErrNotSupported) {
			return s.snapshotEach()
		}
		if lerr != nil && !errors.Is(lerr, ebpf.ErrKeyNotExist) {
			return nil, fmt.Errorf("read socket map: %w", lerr)
		}
		var err error
		for _, v := range vals[:n] {
			if recs, err = appendSnapshot(recs, v[:]); err != nil {
				return nil, err
			}
		}
		if lerr != nil { // ErrKeyNotExist: the last batch
			return recs, nil
		}
	}
}

// snapshotEach is snapshot without batch operations.
func (s *Source) snapshotEach() ([]record, error) {
	var (
		recs   []record
		cookie uint64
		v      [recordSize]byte
	)
	it := s.objs.Socks.Iterate()
	for it.Next(&cookie, &v) {
		var err error
		if recs, err = appendSnapshot(recs, v[:]); err != nil {
			return nil, err
		}
	}
	if err := it.Err(); err != nil {
		return nil, fmt.Errorf("read socket map: %w", err)
	}
	return recs, nil
}

// appendSnapshot appends the socket map entry v to recs unless it is closed.
func appendSnapshot(recs []record, v []byte) ([]record, error) {
	r, err := decodeSnapshot(v)
	if err != nil || r.State == StateClose {
		return recs, err
	}
	return append(recs, r), nil
}
