package ebpfsrc

import (
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"
	"golang.org/x/sys/unix"

	"github.com/gostitch/gostitch/internal/roottest"
)

// openSource opens a source tracking pids, closed at the end of the test.
func openSource(tb testing.TB, opts Options, pids ...uint32) *Source {
	tb.Helper()
	roottest.Need(tb, "loading eBPF programs")
	s, err := Open(ModeOn, opts, zaptest.NewLogger(tb))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := s.Close(); err != nil {
			tb.Error(err)
		}
	})
	if err := s.SetPIDs(pids); err != nil {
		tb.Fatal(err)
	}
	return s
}

func cookieOf(tb testing.TB, c syscall.Conn) uint64 {
	tb.Helper()
	rc, err := c.SyscallConn()
	if err != nil {
		tb.Fatal(err)
	}
	var cookie uint64
	var gerr error
	if err := rc.Control(func(fd uintptr) {
		cookie, gerr = unix.GetsockoptUint64(int(fd), unix.SOL_SOCKET, unix.SO_COOKIE)
	}); err != nil {
		tb.Fatal(err)
	}
	if gerr != nil {
		tb.Fatal(gerr)
	}
	return cookie
}

// observed accumulates what several Collects returned.
type observed struct {
	events  []Event
	reads   []Event
	totals  map[uint64]*Counters
	sockets map[uint64]Socket
	lost    Losses
}

func (o *observed) has(kind Kind, cookie uint64) bool {
	for _, e := range o.events {
		if e.Kind == kind && e.Cookie == cookie {
			return true
		}
	}
	return false
}

func (o *observed) count(kind Kind, cookie uint64) int {
	n := 0
	for _, e := range o.events {
		if e.Kind == kind && e.Cookie == cookie {
			n++
		}
	}
	return n
}

// collectUntil collects pid's batches until done says so or 5s pass.
func collectUntil(tb testing.TB, s *Source, pid uint32, done func(*observed) bool) *observed {
	tb.Helper()
	o := &observed{totals: map[uint64]*Counters{}, sockets: map[uint64]Socket{}}
	deadline := time.Now().Add(5 * time.Second)
	for {
		b, err := s.Collect(pid, time.Now())
		if err != nil {
			tb.Fatal(err)
		}
		o.events = append(o.events, b.Events...)
		o.reads = append(o.reads, b.Reads...)
		o.lost.Events += b.Lost.Events
		o.lost.SocketUses += b.Lost.SocketUses
		for _, sk := range b.Sockets {
			o.sockets[sk.Cookie] = sk
			t := o.totals[sk.Cookie]
			if t == nil {
				t = &Counters{}
				o.totals[sk.Cookie] = t
			}
			t.BytesSent += sk.Delta.BytesSent
			t.BytesReceived += sk.Delta.BytesReceived
			t.Retransmits += sk.Delta.Retransmits
			t.SegmentsSent += sk.Delta.SegmentsSent
			t.SegmentsRetransmitted += sk.Delta.SegmentsRetransmitted
			for i := range HistogramBuckets {
				t.RTT.Counts[i] += sk.Delta.RTT.Counts[i]
				t.QueueDelay.Counts[i] += sk.Delta.QueueDelay.Counts[i]
			}
		}
		if done(o) || time.Now().After(deadline) {
			return o
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// helperCommand re-executes the test binary running only the helper test name, with env.
func helperCommand(name string, env ...string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], "-test.run=^"+name+"$", "-test.count=1")
	cmd.Env = append(os.Environ(), env...)
	cmd.Stderr = os.Stderr
	return cmd
}
