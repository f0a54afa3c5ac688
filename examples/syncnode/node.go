package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log"
	"net/http"
	"os"
	"runtime"
	"strings"
	"sync"
	"time"
)

// otelShutdownTimeout bounds the final span flush, which waits on an unreachable collector.
const otelShutdownTimeout = 2 * time.Second

// node is the whole process: the pprof endpoint, the chain producer, the peers, the syncer
// and its outputs. close releases whatever start managed to set up.
type node struct {
	out     *log.Logger
	pprof   *http.Server
	tracing *Tracing
	peers   []*Peer
	store   *BlockStore
	truth   *TruthWriter
	syncer  *Syncer
	stats   LatencyStats

	stopBG context.CancelFunc // stops the chain producer and the GC pressure
	bg     sync.WaitGroup
}

// startNode sets up everything but does not sync yet. On error the caller still calls close.
func startNode(ctx context.Context, cfg config, out *log.Logger) (*node, error) {
	n := &node{out: out}
	runtime.SetBlockProfileRate(cfg.blockProfileRate)
	runtime.SetMutexProfileFraction(cfg.mutexProfileFraction)

	srv, addr, err := startPprof(cfg.pprofAddr)
	if err != nil {
		return n, err
	}
	n.pprof = srv
	out.Printf("pprof listening on http://%s", addr)

	if cfg.otlpEndpoint != "" {
		if n.tracing, err = NewTracing(ctx, cfg.otlpEndpoint); err != nil {
			return n, err
		}
	}

	chain := NewChain(cfg.seed, cfg.txs, cfg.blocks)
	bgCtx, stop := context.WithCancel(context.Background())
	n.stopBG = stop
	n.bg.Go(func() { chain.Run(bgCtx) })
	if cfg.gcPressure {
		n.bg.Go(func() { runGCPressure(bgCtx) })
	}

	tlsConfs, err := nodeTLS(cfg)
	if err != nil {
		return n, err
	}
	addrs, err := n.startPeers(cfg, chain, tlsConfs.Server)
	if err != nil {
		return n, err
	}

	if n.store, err = OpenBlockStore(cfg.fsyncEvery); err != nil {
		return n, err
	}
	if cfg.truthPath != "" {
		if n.truth, err = CreateTruth(cfg.truthPath); err != nil {
			return n, err
		}
	}
	n.syncer = &Syncer{
		Genesis:        GenesisHeader(cfg.seed),
		Blocks:         cfg.blocks,
		Queue:          cfg.queue,
		VerifyCost:     cfg.verifyCost,
		Interval:       cfg.blockInterval,
		LogEvery:       cfg.logEvery,
		TLS:            tlsConfs.Client,
		ReconnectEvery: cfg.reconnectEvery,
		Store:          n.store,
		Truth:          n.truth,
		Tracing:        n.tracing,
		LogConn:        cfg.logConn,
		Stats:          &n.stats,
		Log:            out,
	}
	if err := n.syncer.Connect(ctx, addrs); err != nil {
		return n, err
	}
	out.Printf("syncnode pid %d: syncing from %d peers, storing blocks in %s", os.Getpid(), len(addrs), n.store.Dir())
	return n, nil
}

// nodeTLS makes the peers' and the syncer's TLS configurations when cfg asks for TLS (zero otherwise).
func nodeTLS(cfg config) (TLSConfigs, error) {
	if !cfg.tls {
		return TLSConfigs{}, nil
	}
	confs, err := NewTLSConfigs()
	if err != nil {
		return confs, err
	}
	if cfg.tlsVersion == "1.2" {
		confs.Server.MaxVersion, confs.Client.MaxVersion = tls.VersionTLS12, tls.VersionTLS12
	}
	confs.Server.SessionTicketsDisabled = cfg.tlsNoResume
	return confs, nil
}

// startPeers starts cfg.peers peers serving chain (with TLS when serverTLS is set) and returns
// their addresses.
func (n *node) startPeers(cfg config, chain *Chain, serverTLS *tls.Config) ([]string, error) {
	addrs := make([]string, 0, cfg.peers)
	for i := range cfg.peers {
		var delay time.Duration
		if i == cfg.slowPeer {
			delay = cfg.slowPeerDelay
		}
		p, err := StartPeer(i, chain, delay, serverTLS)
		if err != nil {
			return addrs, err
		}
		n.peers = append(n.peers, p)
		addrs = append(addrs, p.Addr())
		var notes []string
		if cfg.tls {
			notes = append(notes, map[string]string{"1.2": "tls 1.2", "1.3": "tls"}[cfg.tlsVersion])
		}
		if delay > 0 {
			notes = append(notes, fmt.Sprintf("slow: +%s per reply", delay))
		}
		if len(notes) > 0 {
			n.out.Printf("peer %d listening on %s (%s)", i, p.Addr(), strings.Join(notes, ", "))
		} else {
			n.out.Printf("peer %d listening on %s", i, p.Addr())
		}
	}
	return addrs, nil
}

// close stops everything in reverse order of start and returns every error met.
func (n *node) close() error {
	var errs []error
	for _, p := range n.peers {
		p.Close()
	}
	if n.stopBG != nil {
		n.stopBG()
		n.bg.Wait()
	}
	if n.store != nil {
		errs = append(errs, n.store.Close())
	}
	if n.truth != nil {
		errs = append(errs, n.truth.Close())
	}
	if n.tracing != nil {
		ctx, cancel := context.WithTimeout(context.Background(), otelShutdownTimeout)
		defer cancel()
		// An unreachable collector must not fail the node: report and go on.
		if err := n.tracing.Shutdown(ctx); err != nil {
			log.Printf("warning: %v", err)
		}
	}
	if n.pprof != nil {
		if err := n.pprof.Close(); err != nil {
			errs = append(errs, fmt.Errorf("closing pprof server: %w", err))
		}
	}
	return errors.Join(errs...)
}

// announcedHeight returns the lowest height announced to any peer.
func (n *node) announcedHeight() uint64 {
	var low uint64
	for i, p := range n.peers {
		if h := p.Announced(); i == 0 || h < low {
			low = h
		}
	}
	return low
}
