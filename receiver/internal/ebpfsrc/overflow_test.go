package ebpfsrc

import (
	"os"
	"testing"
	"time"
)

// TestRingBufferOverflowIsCounted: a burst of connections while the reader cannot drain a
// one-page ring buffer makes the kernel drop events; the drops are counted in Source.Lost and
// handed out once in the next Batch, and the collection after that works in full.
func TestRingBufferOverflowIsCounted(t *testing.T) {
	pid := uint32(os.Getpid())
	s := openSource(t, Options{RingBufferSize: os.Getpagesize()}, pid)
	// The reader takes the lock for every record it decodes: holding it stops the draining.
	s.mu.Lock()
	for range 20 {
		converse(t, 100, 100) // two close records of 424 bytes each, besides the other events
	}
	s.mu.Unlock()

	losses, err := s.Lost()
	if err != nil {
		t.Fatal(err)
	}
	lost := losses.Events
	if lost == 0 {
		t.Fatalf("20 connections through a %d-byte ring buffer that nobody read lost no event", os.Getpagesize())
	}
	b, err := s.Collect(pid, time.Now())
	if err != nil {
		t.Fatalf("Collect after an overflow: %v", err)
	}
	if b.Lost.Events < lost {
		t.Errorf("Batch.Lost.Events = %d, want the %d events the kernel dropped", b.Lost.Events, lost)
	}
	total, err := s.Lost()
	if err != nil {
		t.Fatal(err)
	}
	if b.Lost != total {
		t.Errorf("Batch.Lost = %+v, Source.Lost = %+v: the first batch reports every loss so far", b.Lost, total)
	}

	// Drained again, the ring has room: a new conversation is seen whole and nothing more is lost.
	checkConversation(t, s, converse(t, 3000, 7000), 3000, 7000)
	if after, err := s.Lost(); err != nil || after != total {
		t.Errorf("Source.Lost = %+v (%v) after the overflow was reported, want still %+v", after, err, total)
	}
}

// TestPendingOverflowIsCounted: events beyond MaxPending between two Collects are dropped in
// userspace and counted like kernel drops; each Collect empties the buffer for the next window.
func TestPendingOverflowIsCounted(t *testing.T) {
	pid := uint32(os.Getpid())
	const maxPending = 2
	s := openSource(t, Options{MaxPending: maxPending}, pid)
	var reported uint64
	for round := range 2 {
		// Connect, established and the accepted socket's open happen before converse returns.
		converse(t, 100, 100)
		b, err := s.Collect(pid, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if len(b.Events) != maxPending || b.Lost.Events == 0 {
			t.Errorf("round %d: %d events kept and %d lost, want %d kept and the rest lost", round, len(b.Events), b.Lost.Events, maxPending)
		}
		reported += b.Lost.Events
	}
	total, err := s.Lost()
	if err != nil {
		t.Fatal(err)
	}
	if reported > total.Events {
		t.Errorf("batches reported %d lost events, more than Source.Lost %d", reported, total.Events)
	}
}

// TestSocketMapOverflowIsCounted: a socket beyond MaxSockets goes untracked, and its uses are
// counted as lost socket uses (not as lost events) rather than dropped silently.
func TestSocketMapOverflowIsCounted(t *testing.T) {
	pid := uint32(os.Getpid())
	s := openSource(t, Options{MaxSockets: 1}, pid)
	cv := converse(t, 100, 100) // the client socket takes the one entry
	o := collectUntil(t, s, pid, func(o *observed) bool { return o.has(KindClose, cv.client) })
	if !o.has(KindClose, cv.client) || o.has(KindOpen, cv.server) {
		t.Errorf("client closed %v, server opened %v; want the client tracked and the server not",
			o.has(KindClose, cv.client), o.has(KindOpen, cv.server))
	}
	if o.lost.SocketUses == 0 || o.lost.Events != 0 {
		t.Errorf("losses %+v: want the server socket's uses counted as unseen socket uses, and no event lost", o.lost)
	}
}
