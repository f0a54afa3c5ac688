package ebpfsrc

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"go.uber.org/zap/zaptest"

	"github.com/gostitch/gostitch/internal/roottest"
)

type conversation struct {
	client, server uint64 // cookies
	listen         netip.AddrPort
}

// converse sends req bytes over a fresh loopback connection, answers with resp bytes and
// closes both ends.
func converse(t *testing.T, req, resp int) conversation {
	t.Helper()
	return converseOn(t, "tcp4", "127.0.0.1:0", req, resp)
}

// serveOne accepts one connection on ln and serves it in a goroutine, closing it after; the
// channel gives the server end's cookie once serve returned (0 when the accept failed).
func serveOne(t *testing.T, ln net.Listener, serve func(*net.TCPConn)) <-chan uint64 {
	served := make(chan uint64, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			served <- 0
			return
		}
		defer c.Close()
		cookie := cookieOf(t, c.(*net.TCPConn))
		serve(c.(*net.TCPConn))
		served <- cookie
	}()
	return served
}

func converseOn(t *testing.T, network, addr string, req, resp int) conversation {
	t.Helper()
	ln, err := net.Listen(network, addr)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	served := serveOne(t, ln, func(c *net.TCPConn) {
		if _, err := io.ReadFull(c, make([]byte, req)); err == nil {
			_, _ = c.Write(make([]byte, resp))
		}
	})
	c, err := net.Dial(network, ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	cv := conversation{client: cookieOf(t, c.(*net.TCPConn)), listen: ln.Addr().(*net.TCPAddr).AddrPort()}
	if _, err := c.Write(make([]byte, req)); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(c, make([]byte, resp)); err != nil {
		t.Fatal(err)
	}
	c.Close()
	cv.server = <-served
	return cv
}

func TestCookiesAndBytes(t *testing.T) {
	pid := uint32(os.Getpid())
	s := openSource(t, Options{}, pid)
	for _, l := range []struct{ network, addr string }{{"tcp4", "127.0.0.1:0"}, {"tcp6", "[::1]:0"}} {
		t.Run(l.network, func(t *testing.T) {
			checkConversation(t, s, converseOn(t, l.network, l.addr, 3000, 70000), 3000, 70000)
		})
	}
}

// checkConversation checks what the source saw of a conversation of this process.
func checkConversation(t *testing.T, s *Source, cv conversation, req, resp uint64) {
	o := collectUntil(t, s, uint32(os.Getpid()), func(o *observed) bool {
		return o.has(KindClose, cv.client) && o.has(KindClose, cv.server)
	})
	for _, k := range []Kind{KindConnect, KindEstablished, KindClose} {
		if !o.has(k, cv.client) {
			t.Errorf("no %s event for the client socket (SO_COOKIE %d)", k, cv.client)
		}
	}
	if !o.has(KindOpen, cv.server) || !o.has(KindClose, cv.server) {
		t.Errorf("no open and close events for the accepted socket (SO_COOKIE %d)", cv.server)
	}
	if got := o.totals[cv.client]; got == nil || got.BytesSent != req || got.BytesReceived != resp {
		t.Errorf("client counters %+v, want %d sent and %d received", got, req, resp)
	}
	if got := o.totals[cv.server]; got == nil || got.BytesSent != resp || got.BytesReceived != req {
		t.Errorf("server counters %+v, want %d sent and %d received", got, resp, req)
	}
	// The client's reads wait for the server; every segment it receives samples the RTT.
	if got := o.totals[cv.client]; got == nil || got.RTT.Count() == 0 || got.QueueDelay.Count() == 0 {
		t.Errorf("client has no RTT or kernel queue delay samples: %+v", got)
	}
	for _, e := range o.events {
		if e.Cookie == cv.client && e.Kind == KindEstablished {
			if e.Peer != cv.listen || e.Since == 0 || e.Since > e.Mono || e.TID == 0 {
				t.Errorf("established event %+v: want peer %s, a connect start before it and the connecting thread", e, cv.listen)
			}
		}
	}
	if o.lost != (Losses{}) {
		t.Errorf("lost %+v", o.lost)
	}
}

// TestOtherPIDNotSeen: a connection between a non-target child and this target process is
// seen on this process's side only.
func TestOtherPIDNotSeen(t *testing.T) {
	s := openSource(t, Options{}, uint32(os.Getpid()))
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()

	child := helperCommand("TestHelperDial", "GOSTITCH_DIAL="+ln.Addr().String())
	stdin, err := child.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := child.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		stdin.Close() // lets the child close its connection and exit
		if err := child.Wait(); err != nil {
			t.Errorf("child: %v", err)
		}
	}()
	c, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	accepted := cookieOf(t, c.(*net.TCPConn))
	if _, err := io.ReadFull(c, make([]byte, helperBytes)); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	dialed, err := strconv.ParseUint(strings.TrimSpace(line), 10, 64)
	if err != nil {
		t.Fatal(err)
	}

	tracked := map[uint64]bool{}
	snap, err := s.snapshot()
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range snap {
		tracked[r.Cookie] = true
	}
	if !tracked[accepted] {
		t.Errorf("the target's accepted socket %d is not tracked", accepted)
	}
	if tracked[dialed] {
		t.Errorf("the non-target child's socket %d is tracked", dialed)
	}
}

// TestHelperDial is the child of TestOtherPIDNotSeen: it dials, writes, prints its socket's
// cookie and keeps the connection open until its stdin closes.
func TestHelperDial(t *testing.T) {
	addr := os.Getenv("GOSTITCH_DIAL")
	if addr == "" {
		t.Skip("helper process of TestOtherPIDNotSeen")
	}
	c, err := net.Dial("tcp4", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write(make([]byte, helperBytes)); err != nil {
		t.Fatal(err)
	}
	fmt.Println(cookieOf(t, c.(*net.TCPConn)))
	_, _ = io.Copy(io.Discard, os.Stdin)
}

const helperBytes = 1000

// TestUntargetedNotSeen: the test process's connections are seen only while it is a target.
func TestUntargetedNotSeen(t *testing.T) {
	pid := uint32(os.Getpid())
	s := openSource(t, Options{})
	off := converse(t, 100, 100)
	if err := s.SetPIDs([]uint32{pid}); err != nil {
		t.Fatal(err)
	}
	on := converse(t, 100, 100)
	o := collectUntil(t, s, pid, func(o *observed) bool { return o.has(KindClose, on.server) && o.has(KindClose, on.client) })
	if !o.has(KindConnect, on.client) {
		t.Errorf("no connect event for the socket of a target (%d)", on.client)
	}
	for _, e := range o.events {
		if e.Cookie == off.client || e.Cookie == off.server {
			t.Errorf("%s event for socket %d, opened and closed before its process became a target", e.Kind, e.Cookie)
		}
	}
}

// TestCloseDetaches: after Close no program, link or map of the source is left in the kernel.
func TestCloseDetaches(t *testing.T) {
	roottest.Need(t, "loading eBPF programs")
	s, err := Open(ModeOn, Options{}, zaptest.NewLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	var progs []ebpf.ProgramID
	for _, p := range s.progs {
		info, err := p.Info()
		if err != nil {
			t.Fatal(err)
		}
		id, _ := info.ID()
		progs = append(progs, id)
	}
	var links []link.ID
	for _, l := range s.links {
		info, err := l.Info()
		if err != nil {
			t.Fatal(err)
		}
		links = append(links, info.ID)
	}
	if len(progs) != len(programs) || len(links) != len(programs) {
		t.Fatalf("%d programs loaded and %d links attached, want %d", len(progs), len(links), len(programs))
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	// The kernel frees programs after an RCU grace period.
	deadline := time.Now().Add(5 * time.Second)
	for _, id := range progs {
		for {
			p, err := ebpf.NewProgramFromID(id)
			if errors.Is(err, os.ErrNotExist) {
				break
			}
			if err == nil {
				p.Close()
			}
			if time.Now().After(deadline) {
				t.Fatalf("program %d still loaded after Close (err %v)", id, err)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	for _, id := range links {
		if l, err := link.NewFromID(id); !errors.Is(err, os.ErrNotExist) {
			if l != nil {
				l.Close()
			}
			t.Errorf("link %d still exists after Close (err %v)", id, err)
		}
	}
}

func TestModeOff(t *testing.T) {
	s, err := Open(ModeOff, Options{}, zaptest.NewLogger(t))
	if s != nil || err != nil {
		t.Fatalf("Open(off) = %v, %v; want nothing", s, err)
	}
	if b, err := s.Collect(1, time.Now()); err != nil || len(b.Events) != 0 {
		t.Errorf("Collect on an off source = %+v, %v", b, err)
	}
	if err := Mode("sometimes").Validate(); err == nil {
		t.Error("mode sometimes is valid")
	}
}

// TestResets: an abortive close (SO_LINGER 0) sends a RST that the peer receives.
func TestResets(t *testing.T) {
	pid := uint32(os.Getpid())
	s := openSource(t, Options{}, pid)
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	c, err := net.Dial("tcp4", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	sc, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	client, server := cookieOf(t, c.(*net.TCPConn)), cookieOf(t, sc.(*net.TCPConn))
	if _, err := c.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(sc, make([]byte, 1)); err != nil { // tracks the accepted socket
		t.Fatal(err)
	}
	if err := sc.(*net.TCPConn).SetLinger(0); err != nil {
		t.Fatal(err)
	}
	sc.Close()
	if _, err := c.Read(make([]byte, 1)); err == nil {
		t.Fatal("read after the peer's reset succeeded")
	}
	o := collectUntil(t, s, pid, func(o *observed) bool {
		return o.has(KindResetSent, server) && o.has(KindResetReceived, client)
	})
	if !o.has(KindResetSent, server) || !o.has(KindResetReceived, client) {
		t.Errorf("reset sent by %d: %v, received by %d: %v", server, o.has(KindResetSent, server),
			client, o.has(KindResetReceived, client))
	}
}
