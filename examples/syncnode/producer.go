package main

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
)

const (
	// genesisTime is block 0's timestamp; each block is stamped blockTime seconds after its parent.
	genesisTime = 1_700_000_000
	blockTime   = 12
	// numAccounts is the number of deterministic key pairs that send and receive transactions.
	numAccounts = 16
)

// GenesisHeader returns the header of block 0 of the chain generated from seed. Peers and the
// syncer agree on it without talking, as real nodes agree on a genesis file.
func GenesisHeader(seed uint64) Header {
	return Header{
		Parent: sha256.Sum256(binary.BigEndian.AppendUint64([]byte("syncnode genesis"), seed)),
		TxRoot: TxRoot(nil),
		Time:   genesisTime,
	}
}

// producer generates the chain from a seed: the same seed gives the same keys, transactions,
// signatures (ed25519 signing is deterministic) and hashes, so every peer serves the same chain.
type producer struct {
	rng    *rand.Rand
	keys   []ed25519.PrivateKey
	nonces []uint64
	txs    int
	prev   Header
}

func newProducer(seed uint64, txs int) *producer {
	p := &producer{
		rng:    rand.New(rand.NewPCG(seed, ^seed)),
		nonces: make([]uint64, numAccounts),
		txs:    txs,
		prev:   GenesisHeader(seed),
	}
	for i := range numAccounts {
		s := sha256.Sum256(fmt.Appendf(nil, "syncnode account %d/%d", seed, i))
		p.keys = append(p.keys, ed25519.NewKeyFromSeed(s[:]))
	}
	return p
}

// next returns the block after the last one produced.
func (p *producer) next() *Block {
	b := &Block{Txs: make([]Tx, p.txs)}
	for i := range b.Txs {
		from, to := p.rng.IntN(numAccounts), p.rng.IntN(numAccounts)
		tx := &b.Txs[i]
		copy(tx.To[:], p.keys[to].Public().(ed25519.PublicKey))
		tx.Amount = 1 + p.rng.Uint64N(1_000_000)
		tx.Nonce = p.nonces[from]
		p.nonces[from]++
		tx.Sign(p.keys[from])
	}
	b.Header = Header{
		Height: p.prev.Height + 1,
		Parent: p.prev.Hash(),
		TxRoot: TxRoot(b.Txs),
		Time:   p.prev.Time + blockTime,
	}
	p.prev = b.Header
	return b
}
