package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"runtime/pprof"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Peer serves the chain to the syncer over its own loopback TCP listener, one goroutine per
// accepted connection, over TLS when it has a TLS configuration. A slow peer (delay > 0) holds
// every reply back, and over TLS its answer to the ClientHello too, as a remote node behind a
// congested link would.
type Peer struct {
	id    string // peer_id pprof label
	chain *Chain
	delay time.Duration
	tls   *tls.Config // nil: plain TCP
	ln    net.Listener

	ctx    context.Context // ends at Close; bounds waits for blocks and delays
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu     sync.Mutex
	closed bool
	conns  map[net.Conn]struct{}

	announced atomic.Uint64 // highest height the syncer announced to this peer
}

// StartPeer listens on 127.0.0.1:0 and serves chain until Close, over TLS with tlsConf
// unless it is nil.
func StartPeer(id int, chain *Chain, delay time.Duration, tlsConf *tls.Config) (*Peer, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("peer %d: listen: %w", id, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	p := &Peer{
		id:     strconv.Itoa(id),
		chain:  chain,
		delay:  delay,
		tls:    tlsConf,
		ln:     ln,
		ctx:    ctx,
		cancel: cancel,
		conns:  make(map[net.Conn]struct{}),
	}
	if tlsConf != nil && delay > 0 {
		p.tls = tlsConf.Clone()
		p.tls.GetConfigForClient = func(hello *tls.ClientHelloInfo) (*tls.Config, error) {
			return nil, sleepCtx(hello.Context(), delay)
		}
	}
	p.wg.Go(p.acceptLoop)
	return p, nil
}

// Addr returns the listener's address, host:port.
func (p *Peer) Addr() string { return p.ln.Addr().String() }

// Announced returns the highest block height announced to the peer.
func (p *Peer) Announced() uint64 { return p.announced.Load() }

// Close stops the listener and every connection and waits for their goroutines.
func (p *Peer) Close() {
	p.cancel()
	p.ln.Close()
	p.mu.Lock()
	p.closed = true
	for c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
}

func (p *Peer) acceptLoop() {
	for {
		conn, err := p.ln.Accept()
		if err != nil {
			if !errors.Is(err, net.ErrClosed) {
				log.Printf("peer %s: accept: %v", p.id, err)
			}
			return
		}
		if p.tls != nil {
			conn = tls.Server(conn, p.tls)
		}
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			conn.Close()
			return
		}
		p.conns[conn] = struct{}{}
		p.mu.Unlock()
		p.wg.Go(func() { p.serveConn(conn) })
	}
}

// serveConn answers requests in order and records announces until the connection ends.
func (p *Peer) serveConn(conn net.Conn) {
	defer func() {
		p.mu.Lock()
		delete(p.conns, conn)
		p.mu.Unlock()
		conn.Close()
	}()
	if tc, ok := conn.(*tls.Conn); ok {
		ctx, cancel := context.WithTimeout(p.ctx, dialTimeout)
		err := tc.HandshakeContext(ctx)
		cancel()
		if err != nil {
			if p.ctx.Err() == nil {
				log.Printf("peer %s: %v", p.id, err)
			}
			return
		}
	}
	r := bufio.NewReader(conn)
	var out []byte
	for {
		t, payload, err := ReadFrame(r)
		if err != nil {
			if !disconnected(err) && p.ctx.Err() == nil {
				log.Printf("peer %s: %v", p.id, err)
			}
			return
		}
		switch t {
		case MsgAnnounce:
			h, _, err := DecodeAnnounce(payload)
			if err != nil {
				log.Printf("peer %s: %v", p.id, err)
				return
			}
			p.noteAnnounce(h)
			continue
		case MsgGetHeader, MsgGetBlock:
			pprof.Do(p.ctx, pprof.Labels("peer_id", p.id, "msg_type", t.String()), func(ctx context.Context) {
				out = p.answer(ctx, out[:0], t, payload)
			})
		default:
			out = AppendFrame(out[:0], MsgError, []byte("unexpected message "+t.String()))
		}
		if _, err := conn.Write(out); err != nil {
			return
		}
	}
}

// answer appends the reply frame to a get_header or get_block request.
func (p *Peer) answer(ctx context.Context, dst []byte, t MsgType, payload []byte) []byte {
	h, err := DecodeHeight(payload)
	var eb EncodedBlock
	if err == nil {
		eb, err = p.chain.Get(ctx, h)
	}
	if err == nil && p.delay > 0 {
		err = sleepCtx(ctx, p.delay)
	}
	switch {
	case err != nil:
		return AppendFrame(dst, MsgError, []byte(err.Error()))
	case t == MsgGetHeader:
		return AppendFrame(dst, MsgHeader, eb.Header)
	default:
		return AppendFrame(dst, MsgBlock, eb.Block)
	}
}

// disconnected reports whether err only says that the other side went away, which peers see
// all the time: the syncer closing a connection with replies still unread resets it.
func disconnected(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) || errors.Is(err, syscall.ECONNRESET)
}

func (p *Peer) noteAnnounce(h uint64) {
	for {
		old := p.announced.Load()
		if h <= old || p.announced.CompareAndSwap(old, h) {
			return
		}
	}
}
