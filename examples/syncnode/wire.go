package main

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// The wire protocol between the syncer and a peer runs over one TCP connection. Every message
// is a frame:
//
//	length u32 (big-endian; counts the type byte and the payload) | type u8 | payload
//
// Requests (get_header, get_block) carry a height as u64 and get exactly one reply (header,
// block or error) in order. Announces carry a height and the block's header hash and get none.

// MsgType is the type byte of a frame.
type MsgType uint8

// Message types.
const (
	MsgGetHeader MsgType = 1 + iota // request: height
	MsgGetBlock                     // request: height
	MsgHeader                       // reply: encoded header
	MsgBlock                        // reply: encoded block
	MsgAnnounce                     // notice: height, header hash
	MsgError                        // reply: error text
)

// maxFrame bounds the length a reader accepts: a maximal block is about 2.3 MiB.
const maxFrame = 4 << 20

// frameHeaderSize is the length prefix plus the type byte.
const frameHeaderSize = 5

// ErrProtocol is wrapped by every error about bytes that break the protocol.
var ErrProtocol = errors.New("protocol violation")

// String returns the name used in pprof labels and logs.
func (t MsgType) String() string {
	switch t {
	case MsgGetHeader:
		return "get_header"
	case MsgGetBlock:
		return "get_block"
	case MsgHeader:
		return "header"
	case MsgBlock:
		return "block"
	case MsgAnnounce:
		return "announce"
	case MsgError:
		return "error"
	}
	return fmt.Sprintf("msg(%d)", uint8(t))
}

func (t MsgType) valid() bool { return t >= MsgGetHeader && t <= MsgError }

// AppendFrame appends a frame of type t carrying payload to dst.
func AppendFrame(dst []byte, t MsgType, payload []byte) []byte {
	dst = binary.BigEndian.AppendUint32(dst, uint32(1+len(payload)))
	dst = append(dst, byte(t))
	return append(dst, payload...)
}

// ReadFrame reads one frame from r into a new payload slice. It returns io.EOF only when r
// ends cleanly between frames.
func ReadFrame(r io.Reader) (MsgType, []byte, error) {
	var hdr [frameHeaderSize]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		if err == io.EOF {
			return 0, nil, io.EOF
		}
		return 0, nil, fmt.Errorf("reading frame header: %w", err)
	}
	n := binary.BigEndian.Uint32(hdr[:4])
	t := MsgType(hdr[4])
	if n == 0 || n > maxFrame {
		return 0, nil, fmt.Errorf("frame length %d outside [1, %d]: %w", n, maxFrame, ErrProtocol)
	}
	if !t.valid() {
		return 0, nil, fmt.Errorf("unknown message type %d: %w", uint8(t), ErrProtocol)
	}
	payload, err := readPayload(r, int(n-1))
	if err != nil {
		return 0, nil, fmt.Errorf("reading %s payload of %d bytes: %w", t, n-1, err)
	}
	return t, payload, nil
}

// readPayload reads exactly n bytes. Past 64 KiB it grows the buffer as bytes arrive instead
// of trusting n up front, so a peer cannot make the reader allocate megabytes with 5 bytes.
func readPayload(r io.Reader, n int) ([]byte, error) {
	const trusted = 64 << 10
	if n <= trusted {
		p := make([]byte, n)
		if _, err := io.ReadFull(r, p); err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
		return p, nil
	}
	var b bytes.Buffer
	b.Grow(trusted)
	m, err := b.ReadFrom(io.LimitReader(r, int64(n)))
	if err == nil && m < int64(n) {
		err = io.ErrUnexpectedEOF
	}
	return b.Bytes(), err
}

// AppendHeight appends the payload of a get_header or get_block request.
func AppendHeight(dst []byte, h uint64) []byte {
	return binary.BigEndian.AppendUint64(dst, h)
}

// DecodeHeight decodes the payload of a get_header or get_block request.
func DecodeHeight(p []byte) (uint64, error) {
	if len(p) != 8 {
		return 0, fmt.Errorf("height payload of %d bytes, want 8: %w", len(p), ErrProtocol)
	}
	return binary.BigEndian.Uint64(p), nil
}

// AppendAnnounce appends the payload of an announce of block h with header hash hash.
func AppendAnnounce(dst []byte, h uint64, hash Hash) []byte {
	dst = binary.BigEndian.AppendUint64(dst, h)
	return append(dst, hash[:]...)
}

// DecodeAnnounce decodes the payload of an announce.
func DecodeAnnounce(p []byte) (uint64, Hash, error) {
	var hash Hash
	if len(p) != 8+HashSize {
		return 0, hash, fmt.Errorf("announce payload of %d bytes, want %d: %w", len(p), 8+HashSize, ErrProtocol)
	}
	copy(hash[:], p[8:])
	return binary.BigEndian.Uint64(p), hash, nil
}
