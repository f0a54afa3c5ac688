package main

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"sync"
	"time"
)

// replySize is the size of each backend reply, in bytes.
const replySize = 1024

// backend is a plain TCP server on loopback standing for a cache or database the service
// calls: it reads 8-byte big-endian keys and answers each with replySize bytes derived from the
// key, after an optional delay. It carries no instrumentation.
type backend struct {
	ln    net.Listener
	delay time.Duration
	wg    sync.WaitGroup

	mu    sync.Mutex
	conns map[net.Conn]struct{}
}

// startBackend listens on a free loopback port and serves until close.
func startBackend(delay time.Duration) (*backend, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("backend listen: %w", err)
	}
	b := &backend{ln: ln, delay: delay, conns: map[net.Conn]struct{}{}}
	b.wg.Go(b.accept)
	return b, nil
}

// addr is the host:port the backend listens on.
func (b *backend) addr() string { return b.ln.Addr().String() }

func (b *backend) accept() {
	for {
		c, err := b.ln.Accept()
		if err != nil {
			return
		}
		b.mu.Lock()
		b.conns[c] = struct{}{}
		b.mu.Unlock()
		b.wg.Go(func() { b.serve(c) })
	}
}

// serve answers keys on c until the client hangs up.
func (b *backend) serve(c net.Conn) {
	defer func() {
		b.mu.Lock()
		delete(b.conns, c)
		b.mu.Unlock()
		c.Close()
	}()
	var key [8]byte
	reply := make([]byte, replySize)
	for {
		if _, err := io.ReadFull(c, key[:]); err != nil {
			return
		}
		if b.delay > 0 {
			time.Sleep(b.delay)
		}
		fillReply(reply, key)
		if _, err := c.Write(reply); err != nil {
			return
		}
	}
}

// fillReply fills reply with the SHA-256 chain of key: the value stored under it.
func fillReply(reply []byte, key [8]byte) {
	sum := sha256.Sum256(key[:])
	for i := 0; i < len(reply); i += len(sum) {
		copy(reply[i:], sum[:])
		sum = sha256.Sum256(sum[:])
	}
}

// close stops accepting, hangs up every connection and waits for the server's goroutines.
func (b *backend) close() {
	b.ln.Close()
	b.mu.Lock()
	for c := range b.conns {
		c.Close()
	}
	b.mu.Unlock()
	b.wg.Wait()
}

// backendPool keeps idle connections to the backend, as a database driver's pool does: a
// request takes one (or dials), makes one round trip and puts it back.
type backendPool struct {
	addr string
	idle chan net.Conn
}

func newBackendPool(addr string, size int) *backendPool {
	return &backendPool{addr: addr, idle: make(chan net.Conn, size)}
}

// fetch sends key and reads the reply into buf (replySize bytes).
func (p *backendPool) fetch(key uint64, buf []byte) error {
	var c net.Conn
	select {
	case c = <-p.idle:
	default:
		var err error
		if c, err = net.Dial("tcp", p.addr); err != nil {
			return fmt.Errorf("dial backend %s: %w", p.addr, err)
		}
	}
	if err := roundTrip(c, key, buf); err != nil {
		c.Close()
		return fmt.Errorf("backend %s: %w", p.addr, err)
	}
	select {
	case p.idle <- c:
	default:
		c.Close()
	}
	return nil
}

func roundTrip(c net.Conn, key uint64, buf []byte) error {
	var req [8]byte
	binary.BigEndian.PutUint64(req[:], key)
	if _, err := c.Write(req[:]); err != nil {
		return err
	}
	_, err := io.ReadFull(c, buf[:replySize])
	return err
}

// close hangs up the idle connections.
func (p *backendPool) close() {
	for {
		select {
		case c := <-p.idle:
			c.Close()
		default:
			return
		}
	}
}
