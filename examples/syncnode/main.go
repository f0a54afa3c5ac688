// Command syncnode is gostitch's demo workload: a small blockchain node that syncs a chain
// from peers over loopback TCP, with the faults that make block sync stall in real nodes.
//
// Peers serve a deterministic chain (ed25519-signed transactions) over a length-prefixed
// binary protocol; the syncer fetches headers and blocks from them in turn, verifies, stores
// and re-announces each block. Every block import is a runtime/trace task with regions and
// pprof labels, net/http/pprof is on, and with -otlp-endpoint each import is also an
// OpenTelemetry span whose ids are logged into the execution trace. -truth writes the ground
// truth of every import for tests. -tls makes the peers serve TLS with a self-signed ECDSA
// P-256 certificate generated at start (in memory, for 127.0.0.1 and localhost) and the syncer
// dial them trusting that certificate only; the protocol above is unchanged. -reconnect-every N
// redials each peer after N blocks fetched from it, so connects and handshakes (resumed ones,
// with -tls) happen throughout the sync, inside the importBlock task that needed them.
// -tls-version 1.2 caps both sides at TLS 1.2 (full and resumed handshakes of the older protocol);
// -tls-no-resume makes every handshake a full one.
//
// Usage:
//
//	go run ./examples/syncnode -peers 4 -slow-peer 2 -gc-pressure -pprof-addr 127.0.0.1:6060
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"os/signal"
	"syscall"
	"time"
)

// config holds the command-line flags.
type config struct {
	peers                int
	blocks               uint64
	duration             time.Duration
	txs                  int
	seed                 uint64
	queue                int
	fsyncEvery           int
	verifyCost           int
	slowPeer             int
	slowPeerDelay        time.Duration
	gcPressure           bool
	blockInterval        time.Duration
	pprofAddr            string
	blockProfileRate     int
	mutexProfileFraction int
	otlpEndpoint         string
	logConn              bool
	truthPath            string
	logEvery             uint64
	tls                  bool
	tlsVersion           string
	tlsNoResume          bool
	reconnectEvery       int
}

func parseFlags(args []string, stderr io.Writer) (config, error) {
	var c config
	fs := flag.NewFlagSet("syncnode", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.IntVar(&c.peers, "peers", 4, "number of peers, each on its own loopback listener")
	fs.Uint64Var(&c.blocks, "blocks", 0, "stop after importing this many blocks (0 = never)")
	fs.DurationVar(&c.duration, "duration", 0, "stop after this long (0 = never)")
	fs.IntVar(&c.txs, "txs", 50, "signed transactions per block")
	fs.Uint64Var(&c.seed, "seed", 1, "seed of the generated chain")
	fs.IntVar(&c.queue, "queue", 16, "capacity of the fetch → import queue, in blocks")
	fs.IntVar(&c.fsyncEvery, "fsync-every", 1, "fsync the block store every K blocks (0 = never)")
	fs.IntVar(&c.verifyCost, "verify-cost", 1, "verify each block this many times (CPU cost multiplier)")
	fs.IntVar(&c.slowPeer, "slow-peer", -1, "index of the peer whose replies are delayed (-1 = none)")
	fs.DurationVar(&c.slowPeerDelay, "slow-peer-delay", 20*time.Millisecond, "delay of each reply of the slow peer")
	fs.BoolVar(&c.gcPressure, "gc-pressure", false, "allocate bursts of garbage so GC runs during imports")
	fs.DurationVar(&c.blockInterval, "block-interval", 0, "pause after each import")
	fs.StringVar(&c.pprofAddr, "pprof-addr", "127.0.0.1:6060", "net/http/pprof listen address (port 0 = any)")
	fs.IntVar(&c.blockProfileRate, "block-profile-rate", 10000, "runtime.SetBlockProfileRate: sample one blocking event per this many ns (0 = off)")
	fs.IntVar(&c.mutexProfileFraction, "mutex-profile-fraction", 10, "runtime.SetMutexProfileFraction: sample 1 in N contention events (0 = off)")
	fs.StringVar(&c.otlpEndpoint, "otlp-endpoint", "", "OTLP gRPC host:port (insecure) for importBlock spans; empty = no OpenTelemetry")
	fs.BoolVar(&c.logConn, "log-conn", false, "log the socket cookie of each conn an import uses into its runtime/trace task (gostitch's instrument helper)")
	fs.StringVar(&c.truthPath, "truth", "", "write one JSON line of ground truth per imported block to this file")
	fs.Uint64Var(&c.logEvery, "log-every", 100, "print a progress line every N blocks (0 = none)")
	fs.BoolVar(&c.tls, "tls", false, "peers serve TLS with a self-signed certificate made at start; the syncer dials with TLS")
	fs.StringVar(&c.tlsVersion, "tls-version", "1.3", "highest TLS version the peers and the syncer speak with -tls: 1.2 or 1.3")
	fs.BoolVar(&c.tlsNoResume, "tls-no-resume", false, "with -tls, every handshake is a full one: the peers issue no session tickets")
	fs.IntVar(&c.reconnectEvery, "reconnect-every", 0, "redial a peer after every N blocks fetched from it (0 = keep each connection)")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	switch {
	case fs.NArg() > 0:
		return c, fmt.Errorf("unexpected arguments: %q", fs.Args())
	case c.peers < 1:
		return c, fmt.Errorf("-peers %d: need at least 1", c.peers)
	case c.txs < 0 || c.txs > maxTxsPerBlock:
		return c, fmt.Errorf("-txs %d: want 0..%d", c.txs, maxTxsPerBlock)
	case c.queue < 0:
		return c, fmt.Errorf("-queue %d: must not be negative", c.queue)
	case c.fsyncEvery < 0:
		return c, fmt.Errorf("-fsync-every %d: must not be negative", c.fsyncEvery)
	case c.verifyCost < 1:
		return c, fmt.Errorf("-verify-cost %d: need at least 1", c.verifyCost)
	case c.slowPeer < -1 || c.slowPeer >= c.peers:
		return c, fmt.Errorf("-slow-peer %d: want -1 or a peer index below %d", c.slowPeer, c.peers)
	case c.tlsVersion != "1.2" && c.tlsVersion != "1.3":
		return c, fmt.Errorf("-tls-version %q: want 1.2 or 1.3", c.tlsVersion)
	case c.reconnectEvery < 0:
		return c, fmt.Errorf("-reconnect-every %d: must not be negative", c.reconnectEvery)
	case c.slowPeerDelay < 0 || c.blockInterval < 0 || c.duration < 0:
		return c, errors.New("durations must not be negative")
	}
	return c, nil
}

func main() {
	cfg, err := parseFlags(os.Args[1:], os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "syncnode:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	context.AfterFunc(ctx, stop) // a second signal during shutdown kills the process
	err = run(ctx, cfg, os.Stdout)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "syncnode:", err)
		os.Exit(1)
	}
}

// run syncs until -blocks, -duration or ctx ends it, shuts down and prints the summary.
func run(ctx context.Context, cfg config, stdout io.Writer) error {
	out := log.New(stdout, "", 0)
	if cfg.duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, cfg.duration)
		defer cancel()
	}
	n, err := startNode(ctx, cfg, out)
	if err != nil {
		return errors.Join(err, n.close())
	}
	start := time.Now()
	runErr := n.syncer.Run(ctx)
	elapsed := time.Since(start)
	closeErr := n.close()
	out.Printf("%s; peers announced up to height %d", n.stats.Summary(elapsed), n.announcedHeight())
	return errors.Join(runErr, closeErr)
}
