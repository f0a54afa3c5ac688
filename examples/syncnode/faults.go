package main

import (
	"context"
	"time"
)

// Fault injection: the stalls a syncing node meets in the wild, made reproducible.

const (
	// gcBurstEvery and gcBurstNodes shape -gc-pressure: every 100ms, build and drop a linked
	// list of 128k nodes (8 MiB of pointerful memory), so collections with mark assists and
	// stop-the-world phases keep landing in the middle of imports.
	gcBurstEvery = 100 * time.Millisecond
	gcBurstNodes = 1 << 17
)

// garbage is a node of the lists -gc-pressure allocates: pointerful, so the collector must
// trace it.
type garbage struct {
	next *garbage
	pad  [56]byte
}

// gcSink keeps the last burst reachable until the next one, so the compiler cannot drop the
// allocations and the collector finds live data to mark.
var gcSink *garbage

// runGCPressure allocates a burst every gcBurstEvery until ctx ends.
func runGCPressure(ctx context.Context) {
	t := time.NewTicker(gcBurstEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			gcSink = nil
			return
		case <-t.C:
		}
		var head *garbage
		for range gcBurstNodes {
			head = &garbage{next: head}
		}
		gcSink = head
	}
}

// sleepCtx waits for d or until ctx ends, whichever is first, and returns ctx's error if it
// ended.
func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
