package main

import (
	"context"
	"errors"
	"fmt"
	"sync"
)

const (
	// chainAhead is how many blocks the producer keeps ready above the highest requested height.
	chainAhead = 64
	// chainKeep is how many recent blocks stay servable; older ones are forgotten so that a node
	// syncing forever runs in constant memory.
	chainKeep = 1024
)

// ErrNoBlock is wrapped when a requested height is outside what the chain can serve.
var ErrNoBlock = errors.New("no such block")

// EncodedBlock is a block in the form peers send it.
type EncodedBlock struct {
	Header []byte
	Block  []byte
}

func encodeBlock(b *Block) EncodedBlock {
	return EncodedBlock{Header: MarshalHeader(&b.Header), Block: MarshalBlock(b)}
}

// Chain is the canonical chain that all peers serve. One goroutine (Run) produces it ahead of
// demand; Get waits for a height that is not produced yet.
type Chain struct {
	prod  *producer
	limit uint64 // last height to produce; 0 = no end

	mu     sync.Mutex
	base   uint64         // height of blocks[0]
	blocks []EncodedBlock // contiguous heights from base
	wanted uint64         // highest height requested so far
	grown  chan struct{}  // closed and replaced after each append
	wake   chan struct{}  // 1-buffered: demand moved, the producer may have work
}

// NewChain generates the genesis block and the first blocks of the chain of seed with txs
// transactions per block, ending at height limit (0 = no end).
func NewChain(seed uint64, txs int, limit uint64) *Chain {
	c := &Chain{
		prod:   newProducer(seed, txs),
		limit:  limit,
		blocks: []EncodedBlock{encodeBlock(&Block{Header: GenesisHeader(seed)})},
		grown:  make(chan struct{}),
		wake:   make(chan struct{}, 1),
	}
	for c.needsMore() {
		c.append(c.prod.next())
	}
	return c
}

// Run extends the chain as demand rises until ctx ends.
func (c *Chain) Run(ctx context.Context) {
	for ctx.Err() == nil {
		if c.needsMore() {
			c.append(c.prod.next())
			continue
		}
		select {
		case <-c.wake:
		case <-ctx.Done():
		}
	}
}

// tip returns the highest produced height; c.mu must be held.
func (c *Chain) tip() uint64 { return c.base + uint64(len(c.blocks)) - 1 }

func (c *Chain) needsMore() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := c.tip()
	return t < c.wanted+chainAhead && (c.limit == 0 || t < c.limit)
}

func (c *Chain) append(b *Block) {
	eb := encodeBlock(b)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.blocks = append(c.blocks, eb)
	if len(c.blocks) >= 2*chainKeep {
		drop := len(c.blocks) - chainKeep
		c.blocks = append([]EncodedBlock(nil), c.blocks[drop:]...)
		c.base += uint64(drop)
	}
	close(c.grown)
	c.grown = make(chan struct{})
}

// Get returns the block at height h, waiting until it is produced or ctx ends.
func (c *Chain) Get(ctx context.Context, h uint64) (EncodedBlock, error) {
	for {
		c.mu.Lock()
		if h > c.wanted {
			c.wanted = h
			select {
			case c.wake <- struct{}{}:
			default:
			}
		}
		switch {
		case h < c.base:
			c.mu.Unlock()
			return EncodedBlock{}, fmt.Errorf("height %d is below the oldest kept block %d: %w", h, c.base, ErrNoBlock)
		case c.limit != 0 && h > c.limit:
			c.mu.Unlock()
			return EncodedBlock{}, fmt.Errorf("height %d is above the chain end %d: %w", h, c.limit, ErrNoBlock)
		case h <= c.tip():
			eb := c.blocks[h-c.base]
			c.mu.Unlock()
			return eb, nil
		}
		grown := c.grown
		c.mu.Unlock()
		select {
		case <-grown:
		case <-ctx.Done():
			return EncodedBlock{}, fmt.Errorf("waiting for block %d: %w", h, ctx.Err())
		}
	}
}
