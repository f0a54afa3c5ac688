package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"time"
)

// peerConn is the syncer's connection to one peer, kept open unless the syncer redials it
// (-reconnect-every). Only the fetch loop reads from it (each request's reply comes back in
// order) and only the fetch loop redials it; the fetch loop and broadcasts both write to it,
// one whole frame per locked write.
type peerConn struct {
	id   string // peer_id pprof label: the peer's index
	addr string
	tls  *tls.Config // nil: plain TCP

	// The fields below change on redial, under wmu and mu both: the fetch loop, which redials,
	// reads them freely; any other goroutine holds one of the locks.
	conn   net.Conn     // *net.TCPConn, or a *tls.Conn over tcp
	tcp    *net.TCPConn // the socket under conn
	r      *bufio.Reader
	cookie uint64 // SO_COOKIE of the syncer's end

	fetches int // blocks fetched over conn; the fetch loop's own

	wmu  sync.Mutex // one frame at a time; a redial waits for the frame being written
	wbuf []byte

	mu     sync.Mutex // guards closed and the swap of conn against close, which must not wait for a write
	closed bool
}

// dialTimeout bounds a dial, TLS handshake included.
const dialTimeout = 10 * time.Second

// errConnClosed is wrapped when the syncer redials a connection it has closed.
var errConnClosed = errors.New("peer connection closed")

// dialPeer connects to peer id at addr, over TLS when tlsConf is not nil.
func dialPeer(ctx context.Context, id int, addr string, tlsConf *tls.Config) (*peerConn, error) {
	pc := &peerConn{id: strconv.Itoa(id), addr: addr, tls: tlsConf}
	conn, tcp, cookie, err := pc.dial(ctx)
	if err != nil {
		return nil, err
	}
	pc.conn, pc.tcp, pc.r, pc.cookie = conn, tcp, bufio.NewReader(conn), cookie
	return pc, nil
}

// dial opens a new connection to the peer; over TLS it returns after the handshake.
func (pc *peerConn) dial(ctx context.Context) (net.Conn, *net.TCPConn, uint64, error) {
	var (
		conn net.Conn
		err  error
	)
	nd := &net.Dialer{Timeout: dialTimeout}
	if pc.tls != nil {
		d := tls.Dialer{NetDialer: nd, Config: pc.tls}
		conn, err = d.DialContext(ctx, "tcp", pc.addr)
	} else {
		conn, err = nd.DialContext(ctx, "tcp", pc.addr)
	}
	if err != nil {
		return nil, nil, 0, fmt.Errorf("dialing peer %s at %s: %w", pc.id, pc.addr, err)
	}
	tcp, ok := conn.(*net.TCPConn)
	if tc, isTLS := conn.(*tls.Conn); isTLS {
		tcp, ok = tc.NetConn().(*net.TCPConn)
	}
	if !ok {
		conn.Close()
		return nil, nil, 0, fmt.Errorf("peer %s at %s: dialed a %T, not TCP", pc.id, pc.addr, conn)
	}
	cookie, err := socketCookie(tcp)
	if err != nil {
		conn.Close()
		return nil, nil, 0, fmt.Errorf("peer %s at %s: %w", pc.id, pc.addr, err)
	}
	return conn, tcp, cookie, nil
}

// redial replaces the connection with a new one and closes the old. Only the fetch loop calls
// it, between requests, so no reply is pending on the old connection.
func (pc *peerConn) redial(ctx context.Context) error {
	conn, tcp, cookie, err := pc.dial(ctx)
	if err != nil {
		return err
	}
	pc.wmu.Lock()
	defer pc.wmu.Unlock()
	pc.mu.Lock()
	defer pc.mu.Unlock()
	if pc.closed {
		conn.Close()
		return fmt.Errorf("redialing peer %s at %s: %w", pc.id, pc.addr, errConnClosed)
	}
	old := pc.conn
	pc.conn, pc.tcp, pc.r, pc.cookie = conn, tcp, bufio.NewReader(conn), cookie
	pc.fetches = 0
	old.Close()
	return nil
}

// send writes one frame and returns the socket cookie of the connection it went out on.
func (pc *peerConn) send(t MsgType, payload []byte) (uint64, error) {
	pc.wmu.Lock()
	defer pc.wmu.Unlock()
	pc.wbuf = AppendFrame(pc.wbuf[:0], t, payload)
	if _, err := pc.conn.Write(pc.wbuf); err != nil {
		return 0, fmt.Errorf("peer %s (%s): sending %s: %w", pc.id, pc.addr, t, err)
	}
	return pc.cookie, nil
}

// request asks for height h with a request of type t and returns the payload of the reply,
// which must be of type want. Only the fetch loop calls it.
func (pc *peerConn) request(t MsgType, h uint64, want MsgType) ([]byte, error) {
	var p [8]byte
	if _, err := pc.send(t, AppendHeight(p[:0], h)); err != nil {
		return nil, err
	}
	rt, payload, err := ReadFrame(pc.r)
	switch {
	case err != nil:
		return nil, fmt.Errorf("peer %s (%s): reading reply to %s %d: %w", pc.id, pc.addr, t, h, err)
	case rt == MsgError:
		return nil, fmt.Errorf("peer %s (%s): %s %d failed on the peer: %s", pc.id, pc.addr, t, h, payload)
	case rt != want:
		return nil, fmt.Errorf("peer %s (%s): %s %d answered with %s: %w", pc.id, pc.addr, t, h, rt, ErrProtocol)
	}
	return payload, nil
}

// close closes the connection without waiting for a write in progress, which fails.
func (pc *peerConn) close() {
	pc.mu.Lock()
	defer pc.mu.Unlock()
	pc.closed = true
	pc.conn.Close()
}
