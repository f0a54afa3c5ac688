package main

import (
	"crypto/ed25519"
	"encoding/binary"
	"errors"
	"fmt"
)

// Binary encoding of headers and blocks, all integers big-endian:
//
//	header: height u64 | parent [32] | tx root [32] | time i64
//	tx:     from [32] | to [32] | amount u64 | nonce u64 | signature [64]
//	block:  header | tx count u32 | tx...
const (
	headerSize = 8 + HashSize + HashSize + 8
	txSize     = signedLen + ed25519.SignatureSize
	// maxTxsPerBlock bounds what a decoder accepts, so a hostile count cannot make it allocate.
	maxTxsPerBlock = 1 << 14
)

// ErrMalformed is wrapped by every decoding error of chain data.
var ErrMalformed = errors.New("malformed chain data")

func (h *Header) appendBinary(b []byte) []byte {
	b = binary.BigEndian.AppendUint64(b, h.Height)
	b = append(b, h.Parent[:]...)
	b = append(b, h.TxRoot[:]...)
	return binary.BigEndian.AppendUint64(b, uint64(h.Time))
}

func (tx *Tx) appendBinary(b []byte) []byte {
	b = tx.appendSigned(b)
	return append(b, tx.Sig[:]...)
}

// MarshalHeader returns the binary encoding of h.
func MarshalHeader(h *Header) []byte {
	return h.appendBinary(make([]byte, 0, headerSize))
}

// MarshalBlock returns the binary encoding of b.
func MarshalBlock(b *Block) []byte {
	out := make([]byte, 0, headerSize+4+len(b.Txs)*txSize)
	out = b.Header.appendBinary(out)
	out = binary.BigEndian.AppendUint32(out, uint32(len(b.Txs)))
	for i := range b.Txs {
		out = b.Txs[i].appendBinary(out)
	}
	return out
}

// UnmarshalHeader decodes a header; p must hold exactly one.
func UnmarshalHeader(p []byte) (Header, error) {
	if len(p) != headerSize {
		return Header{}, fmt.Errorf("header: %d bytes, want %d: %w", len(p), headerSize, ErrMalformed)
	}
	return decodeHeader(p), nil
}

func decodeHeader(p []byte) Header {
	var h Header
	h.Height = binary.BigEndian.Uint64(p)
	copy(h.Parent[:], p[8:])
	copy(h.TxRoot[:], p[8+HashSize:])
	h.Time = int64(binary.BigEndian.Uint64(p[8+2*HashSize:]))
	return h
}

// UnmarshalBlock decodes a block; p must hold exactly one.
func UnmarshalBlock(p []byte) (*Block, error) {
	if len(p) < headerSize+4 {
		return nil, fmt.Errorf("block: %d bytes is shorter than a header and count: %w", len(p), ErrMalformed)
	}
	n := binary.BigEndian.Uint32(p[headerSize:])
	if n > maxTxsPerBlock {
		return nil, fmt.Errorf("block: %d transactions, at most %d allowed: %w", n, maxTxsPerBlock, ErrMalformed)
	}
	body := p[headerSize+4:]
	if len(body) != int(n)*txSize {
		return nil, fmt.Errorf("block: %d bytes of transactions, want %d for %d: %w", len(body), int(n)*txSize, n, ErrMalformed)
	}
	b := &Block{Header: decodeHeader(p), Txs: make([]Tx, n)}
	for i := range b.Txs {
		tx := &b.Txs[i]
		q := body[i*txSize:]
		copy(tx.From[:], q)
		copy(tx.To[:], q[len(tx.From):])
		tx.Amount = binary.BigEndian.Uint64(q[len(tx.From)+len(tx.To):])
		tx.Nonce = binary.BigEndian.Uint64(q[len(tx.From)+len(tx.To)+8:])
		copy(tx.Sig[:], q[signedLen:])
	}
	return b, nil
}
