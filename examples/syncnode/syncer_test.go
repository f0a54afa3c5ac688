package main

import (
	"context"
	"encoding/binary"
	"io"
	"log"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestSyncInProcess runs peers and the syncer in the test process, over plain TCP and over TLS
// with reconnects: every block is stored in height order and announced to every peer, and the
// truth records name the right peer and the connections used.
func TestSyncInProcess(t *testing.T) {
	confs, err := NewTLSConfigs()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name      string
		tls       TLSConfigs
		reconnect int
	}{
		{name: "tcp"},
		{name: "tls reconnecting", tls: confs, reconnect: 2},
	} {
		t.Run(tc.name, func(t *testing.T) { testSyncInProcess(t, tc.tls, tc.reconnect) })
	}
}

func testSyncInProcess(t *testing.T, confs TLSConfigs, reconnect int) {
	const blocks = 12
	chain := NewChain(5, 4, blocks)
	var peers []*Peer
	var addrs []string
	for i := range 3 {
		p, err := StartPeer(i, chain, time.Duration(i)*time.Millisecond, confs.Server)
		if err != nil {
			t.Fatal(err)
		}
		defer p.Close()
		peers = append(peers, p)
		addrs = append(addrs, p.Addr())
	}
	store, err := OpenBlockStore(2)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	truthPath := filepath.Join(t.TempDir(), "truth.jsonl")
	truth, err := CreateTruth(truthPath)
	if err != nil {
		t.Fatal(err)
	}
	var stats LatencyStats
	s := &Syncer{
		Genesis:        GenesisHeader(5),
		Blocks:         blocks,
		Queue:          2,
		VerifyCost:     2,
		TLS:            confs.Client,
		ReconnectEvery: reconnect,
		Store:          store,
		Truth:          truth,
		Stats:          &stats,
		Log:            log.New(io.Discard, "", 0),
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.Connect(ctx, addrs); err != nil {
		t.Fatal(err)
	}
	if err := s.Run(ctx); err != nil {
		t.Fatal(err)
	}
	if err := truth.Close(); err != nil {
		t.Fatal(err)
	}
	if stats.count != blocks {
		t.Errorf("stats counted %d imports, want %d", stats.count, blocks)
	}

	data, err := os.ReadFile(filepath.Join(store.Dir(), "blocks.dat"))
	if err != nil {
		t.Fatal(err)
	}
	for h := uint64(1); h <= blocks; h++ {
		if len(data) < 4 {
			t.Fatalf("store ends before block %d", h)
		}
		n := binary.BigEndian.Uint32(data)
		b, err := UnmarshalBlock(data[4 : 4+n])
		if err != nil || b.Header.Height != h {
			t.Fatalf("stored block %d: height %d, %v", h, b.Header.Height, err)
		}
		data = data[4+n:]
	}
	if len(data) != 0 {
		t.Errorf("%d bytes after the last stored block", len(data))
	}

	// Announces are read by the peers asynchronously; give them a moment.
	deadline := time.Now().Add(5 * time.Second)
	for _, p := range peers {
		for p.Announced() != blocks && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		if got := p.Announced(); got != blocks {
			t.Errorf("peer %s saw announces up to %d, want %d", p.Addr(), got, blocks)
		}
	}

	recs := readTruth(t, truthPath)
	if len(recs) != blocks {
		t.Fatalf("%d truth records, want %d", len(recs), blocks)
	}
	for _, r := range recs {
		if want := addrs[(r.Height-1)%3]; r.Peer != want {
			t.Errorf("block %d: peer %s, want %s (round-robin)", r.Height, r.Peer, want)
		}
		if r.TraceID != "" || r.SpanID != "" {
			t.Errorf("block %d: OTel ids %q/%q without OTel", r.Height, r.TraceID, r.SpanID)
		}
	}
	checkFetchConns(t, recs, reconnect)
}

func TestLatencyStats(t *testing.T) {
	var s LatencyStats
	for i := 1; i <= 100; i++ {
		s.Add(time.Duration(i) * time.Millisecond)
	}
	if p95 := s.Quantile(0.95); p95 < 95*time.Millisecond || p95 > 97*time.Millisecond {
		t.Errorf("p95 = %v, want 95ms within 2%%", p95)
	}
	if got := s.Quantile(1); got != 100*time.Millisecond {
		t.Errorf("p100 = %v, want the max", got)
	}
	line := s.Summary(time.Second)
	if !strings.Contains(line, "imported 100 blocks") {
		t.Errorf("summary %q", line)
	}
}
