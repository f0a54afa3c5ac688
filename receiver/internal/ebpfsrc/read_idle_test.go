package ebpfsrc

import (
	"io"
	"net"
	"os"
	"runtime"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// pingPong runs rounds of a 16-byte request and a 100-byte reply over a fresh loopback
// connection, the server sleeping delay before each reply. The client reads on one OS thread,
// returned with the client's cookie and, per round, the CLOCK_MONOTONIC time just before the
// server wrote its reply.
func pingPong(t *testing.T, rounds int, delay time.Duration) (tid int, client uint64, replied []uint64) {
	t.Helper()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	replies := make(chan uint64, rounds)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			close(replies)
			return
		}
		defer c.Close()
		defer close(replies)
		for range rounds {
			if _, err := io.ReadFull(c, make([]byte, 16)); err != nil {
				return
			}
			time.Sleep(delay)
			replies <- monoNow()
			if _, err := c.Write(make([]byte, 100)); err != nil {
				return
			}
		}
	}()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	c, err := net.Dial("tcp4", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for range rounds {
		if _, err := c.Write(make([]byte, 16)); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(c, make([]byte, 100)); err != nil {
			t.Fatal(err)
		}
	}
	for r := range replies {
		replied = append(replied, r)
	}
	return unix.Gettid(), cookieOf(t, c.(*net.TCPConn)), replied
}

// TestReadIdleAfterWait: each read that comes a threshold or more after its socket's previous
// read is a KindReadIdle event in Batch.Reads (and in no Events) on the reading thread, with
// the time its data reached the kernel: after the peer began to write it, before the read.
func TestReadIdleAfterWait(t *testing.T) {
	const rounds, delay = 5, 10 * time.Millisecond
	pid := uint32(os.Getpid())
	s := openSource(t, Options{ReadWaitThreshold: time.Hour, ReadIdleThreshold: delay / 2}, pid)
	tid, client, replied := pingPong(t, rounds, delay)
	if len(replied) != rounds {
		t.Fatalf("%d replies, want %d", len(replied), rounds)
	}
	o := collectUntil(t, s, pid, func(o *observed) bool { return o.has(KindClose, client) })
	var reads []Event
	for _, e := range o.reads {
		if e.Kind != KindReadIdle {
			t.Errorf("Batch.Reads holds a %s event", e.Kind)
		}
		if e.Cookie == client {
			reads = append(reads, e)
		}
	}
	if o.count(KindReadIdle, client) != 0 {
		t.Errorf("read idle events in Batch.Events")
	}
	// Every reply came delay after the client's previous read, its request in between.
	if len(reads) != rounds {
		t.Fatalf("%d read idle events of the client, want one per round (%d): %+v", len(reads), rounds, reads)
	}
	for i, e := range reads {
		if e.TID != uint32(tid) || e.Value != 100 || e.Since < replied[i] || e.Since > e.Mono {
			t.Errorf("round %d: %+v; want thread %d, 100 bytes, data ready between the reply's write (%d) and the read",
				i, e, tid, replied[i])
		}
	}
}

// TestReadIdleNotWhenBusy: reads that follow their socket's previous one within the threshold
// make no event; the socket's first read always does.
func TestReadIdleNotWhenBusy(t *testing.T) {
	pid := uint32(os.Getpid())
	s := openSource(t, Options{ReadWaitThreshold: time.Hour, ReadIdleThreshold: time.Hour}, pid)
	_, client, _ := pingPong(t, 20, 0)
	o := collectUntil(t, s, pid, func(o *observed) bool { return o.has(KindClose, client) })
	n := 0
	for _, e := range o.reads {
		if e.Cookie == client {
			n++
		}
	}
	if n != 1 {
		t.Errorf("%d read idle events of the client in 20 quick rounds, want 1 (its first read)", n)
	}
}
