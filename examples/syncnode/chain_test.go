package main

import (
	"context"
	"errors"
	"testing"
	"time"
)

// testChain returns n generated blocks after genesis, and genesis's hash.
func testChain(tb testing.TB, seed uint64, txs, n int) ([]*Block, Hash) {
	tb.Helper()
	p := newProducer(seed, txs)
	blocks := make([]*Block, n)
	for i := range blocks {
		blocks[i] = p.next()
	}
	g := GenesisHeader(seed)
	return blocks, g.Hash()
}

func TestGeneratedChainVerifies(t *testing.T) {
	blocks, parent := testChain(t, 7, 20, 5)
	for _, b := range blocks {
		if err := b.Verify(parent); err != nil {
			t.Fatal(err)
		}
		parent = b.Header.Hash()
	}
	again, _ := testChain(t, 7, 20, 5)
	if again[4].Header.Hash() != blocks[4].Header.Hash() {
		t.Error("the same seed produced a different chain")
	}
	other, _ := testChain(t, 8, 20, 5)
	if other[4].Header.Hash() == blocks[4].Header.Hash() {
		t.Error("different seeds produced the same chain")
	}
}

func TestVerifyRejectsTamperedBlock(t *testing.T) {
	tests := []struct {
		name   string
		tamper func(b *Block)
		want   error
	}{
		{"amount", func(b *Block) { b.Txs[3].Amount++ }, ErrTxRootMismatch},
		{"amount and root", func(b *Block) { b.Txs[3].Amount++; b.Header.TxRoot = TxRoot(b.Txs) }, ErrBadSignature},
		{"signature and root", func(b *Block) { b.Txs[0].Sig[10] ^= 1; b.Header.TxRoot = TxRoot(b.Txs) }, ErrBadSignature},
		{"dropped tx", func(b *Block) { b.Txs = b.Txs[1:] }, ErrTxRootMismatch},
		{"parent", func(b *Block) { b.Header.Parent[0] ^= 1 }, ErrParentMismatch},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			blocks, genesis := testChain(t, 3, 8, 1)
			b := blocks[0]
			if err := b.Verify(genesis); err != nil {
				t.Fatalf("untampered block: %v", err)
			}
			// Tamper with a decoded copy, as the syncer would receive it.
			b, err := UnmarshalBlock(MarshalBlock(b))
			if err != nil {
				t.Fatal(err)
			}
			tt.tamper(b)
			if err := b.Verify(genesis); !errors.Is(err, tt.want) {
				t.Errorf("Verify = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestChainServesWindow(t *testing.T) {
	c := NewChain(1, 0, 0)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	done := make(chan struct{})
	go func() { defer close(done); c.Run(ctx) }()
	defer func() { cancel(); <-done }()

	far := uint64(2*chainKeep + 10)
	eb, err := c.Get(ctx, far)
	if err != nil {
		t.Fatal(err)
	}
	h, err := UnmarshalHeader(eb.Header)
	if err != nil || h.Height != far {
		t.Fatalf("Get(%d) = header %+v, %v", far, h, err)
	}
	if _, err := c.Get(ctx, 1); !errors.Is(err, ErrNoBlock) {
		t.Errorf("Get(1) after the window moved on = %v, want ErrNoBlock", err)
	}
}

func TestChainEndsAtLimit(t *testing.T) {
	c := NewChain(1, 1, 3)
	if _, err := c.Get(context.Background(), 3); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Get(context.Background(), 4); !errors.Is(err, ErrNoBlock) {
		t.Errorf("Get past the limit = %v, want ErrNoBlock", err)
	}
}
