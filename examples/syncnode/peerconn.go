package main

import (
	"bufio"
	"fmt"
	"net"
	"strconv"
	"sync"
)

// peerConn is the syncer's persistent connection to one peer. Only the fetch loop reads from
// it (each request's reply comes back in order); the fetch loop and broadcasts both write to
// it, one whole frame per locked write.
type peerConn struct {
	id     string // peer_id pprof label: the peer's index
	addr   string
	conn   *net.TCPConn
	r      *bufio.Reader
	cookie uint64 // SO_COOKIE of the syncer's end

	wmu  sync.Mutex
	wbuf []byte
}

func dialPeer(id int, addr string) (*peerConn, error) {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("dialing peer %d at %s: %w", id, addr, err)
	}
	tc := c.(*net.TCPConn)
	cookie, err := socketCookie(tc)
	if err != nil {
		tc.Close()
		return nil, fmt.Errorf("peer %d at %s: %w", id, addr, err)
	}
	return &peerConn{id: strconv.Itoa(id), addr: addr, conn: tc, r: bufio.NewReader(tc), cookie: cookie}, nil
}

// send writes one frame.
func (pc *peerConn) send(t MsgType, payload []byte) error {
	pc.wmu.Lock()
	defer pc.wmu.Unlock()
	pc.wbuf = AppendFrame(pc.wbuf[:0], t, payload)
	if _, err := pc.conn.Write(pc.wbuf); err != nil {
		return fmt.Errorf("peer %s (%s): sending %s: %w", pc.id, pc.addr, t, err)
	}
	return nil
}

// request asks for height h with a request of type t and returns the payload of the reply,
// which must be of type want. Only the fetch loop calls it.
func (pc *peerConn) request(t MsgType, h uint64, want MsgType) ([]byte, error) {
	var p [8]byte
	if err := pc.send(t, AppendHeight(p[:0], h)); err != nil {
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

func (pc *peerConn) close() { pc.conn.Close() }
