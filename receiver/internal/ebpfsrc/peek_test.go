package ebpfsrc

import (
	"io"
	"net"
	"os"
	"testing"

	"golang.org/x/sys/unix"
)

// TestPeekNotCounted: a MSG_PEEK read leaves the data queued, so it adds nothing to the bytes
// received; the read that consumes the data counts it once.
func TestPeekNotCounted(t *testing.T) {
	const n = 500
	s := openSource(t, Options{}, uint32(os.Getpid()))
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	served := serveOne(t, ln, func(c *net.TCPConn) {
		peekAll(t, c, n)
		peekAll(t, c, n)
		if _, err := io.ReadFull(c, make([]byte, n)); err != nil {
			t.Error(err)
		}
	})
	c, err := net.Dial("tcp4", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Write(make([]byte, n)); err != nil {
		t.Fatal(err)
	}
	server := <-served
	_, _ = c.Read(make([]byte, 1)) // returns once the server closed
	c.Close()
	o := collectUntil(t, s, uint32(os.Getpid()), func(o *observed) bool { return o.has(KindClose, server) })
	if got := o.totals[server]; got == nil || got.BytesReceived != n {
		t.Errorf("server counters %+v after two peeks and a read of %d bytes, want %d received", got, n, n)
	}
}

// peekAll waits until n bytes are queued on c, peeking at them with MSG_PEEK.
func peekAll(t *testing.T, c *net.TCPConn, n int) {
	rc, err := c.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, n)
	var got int
	var perr error
	if err := rc.Read(func(fd uintptr) bool {
		got, _, perr = unix.Recvfrom(int(fd), buf, unix.MSG_PEEK)
		return perr != unix.EAGAIN && (perr != nil || got == n)
	}); err != nil {
		t.Fatal(err)
	}
	if perr != nil {
		t.Fatal(perr)
	}
}
