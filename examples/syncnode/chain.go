package main

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
)

// HashSize is the size in bytes of every hash in the chain (SHA-256).
const HashSize = sha256.Size

// Hash is a SHA-256 digest: a header hash, a transaction hash or a transaction root.
type Hash [HashSize]byte

// Verification failures. Block.Verify wraps them with the height and, for transactions, the
// index, so callers can test the cause with errors.Is.
var (
	ErrParentMismatch = errors.New("parent hash does not match the previous block")
	ErrTxRootMismatch = errors.New("transaction root does not match the transactions")
	ErrBadSignature   = errors.New("invalid transaction signature")
)

// Header is a block header. Its hash, the SHA-256 of its binary encoding, links the next block
// to it through Parent.
type Header struct {
	Height uint64
	Parent Hash
	TxRoot Hash
	Time   int64 // unix seconds
}

// Hash returns the SHA-256 of the header's binary encoding.
func (h *Header) Hash() Hash {
	var buf [headerSize]byte
	return sha256.Sum256(h.appendBinary(buf[:0]))
}

// Tx is a value transfer signed by the sender's ed25519 key.
type Tx struct {
	From   [ed25519.PublicKeySize]byte
	To     [ed25519.PublicKeySize]byte
	Amount uint64
	Nonce  uint64
	Sig    [ed25519.SignatureSize]byte
}

// signedLen is the length of the part of a transaction that its signature covers.
const signedLen = 2*ed25519.PublicKeySize + 8 + 8

// appendSigned appends the bytes the signature covers: everything but the signature.
func (tx *Tx) appendSigned(b []byte) []byte {
	b = append(b, tx.From[:]...)
	b = append(b, tx.To[:]...)
	b = binary.BigEndian.AppendUint64(b, tx.Amount)
	return binary.BigEndian.AppendUint64(b, tx.Nonce)
}

// Hash returns the SHA-256 of the full transaction encoding, signature included.
func (tx *Tx) Hash() Hash {
	var buf [txSize]byte
	return sha256.Sum256(tx.appendBinary(buf[:0]))
}

// Sign fills tx.From and tx.Sig from key.
func (tx *Tx) Sign(key ed25519.PrivateKey) {
	copy(tx.From[:], key.Public().(ed25519.PublicKey))
	var buf [signedLen]byte
	copy(tx.Sig[:], ed25519.Sign(key, tx.appendSigned(buf[:0])))
}

// verifySignature reports whether tx.Sig is From's signature of the transaction.
func (tx *Tx) verifySignature() bool {
	var buf [signedLen]byte
	return ed25519.Verify(tx.From[:], tx.appendSigned(buf[:0]), tx.Sig[:])
}

// TxRoot commits to an ordered list of transactions: the SHA-256 of their concatenated hashes.
func TxRoot(txs []Tx) Hash {
	d := sha256.New()
	for i := range txs {
		h := txs[i].Hash()
		d.Write(h[:])
	}
	var root Hash
	d.Sum(root[:0])
	return root
}

// Block is a header and the transactions its TxRoot commits to.
type Block struct {
	Header Header
	Txs    []Tx
}

// Verify checks that b extends the block whose header hash is parent, that the header's
// transaction root matches the transactions, and every transaction's signature.
func (b *Block) Verify(parent Hash) error {
	h := b.Header.Height
	if b.Header.Parent != parent {
		return fmt.Errorf("block %d: %w", h, ErrParentMismatch)
	}
	if TxRoot(b.Txs) != b.Header.TxRoot {
		return fmt.Errorf("block %d: %w", h, ErrTxRootMismatch)
	}
	for i := range b.Txs {
		if !b.Txs[i].verifySignature() {
			return fmt.Errorf("block %d: tx %d: %w", h, i, ErrBadSignature)
		}
	}
	return nil
}
