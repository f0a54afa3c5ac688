package main

import (
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
)

// BlockStore appends imported blocks to a file in a fresh temporary directory, each prefixed
// by its u32 length, and fsyncs every few blocks: the durable write a node makes before it
// acknowledges a block. Close removes the directory.
type BlockStore struct {
	dir     string
	f       *os.File
	every   int // fsync every this many blocks; 0 = never
	pending int // blocks appended since the last fsync
	buf     []byte
}

// OpenBlockStore creates the store; fsyncEvery 0 disables fsync.
func OpenBlockStore(fsyncEvery int) (*BlockStore, error) {
	dir, err := os.MkdirTemp("", "syncnode-")
	if err != nil {
		return nil, fmt.Errorf("creating block store directory: %w", err)
	}
	f, err := os.OpenFile(filepath.Join(dir, "blocks.dat"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("creating block store file: %w", err)
	}
	return &BlockStore{dir: dir, f: f, every: fsyncEvery}, nil
}

// Dir returns the directory the store writes into.
func (s *BlockStore) Dir() string { return s.dir }

// Append writes one encoded block, then fsyncs if it is due.
func (s *BlockStore) Append(block []byte) error {
	s.buf = binary.BigEndian.AppendUint32(s.buf[:0], uint32(len(block)))
	s.buf = append(s.buf, block...)
	if _, err := s.f.Write(s.buf); err != nil {
		return fmt.Errorf("appending to %s: %w", s.f.Name(), err)
	}
	s.pending++
	if s.every > 0 && s.pending >= s.every {
		if err := s.f.Sync(); err != nil {
			return fmt.Errorf("fsync %s: %w", s.f.Name(), err)
		}
		s.pending = 0
	}
	return nil
}

// Close closes the file and removes the store's directory.
func (s *BlockStore) Close() error {
	cerr := s.f.Close()
	if err := os.RemoveAll(s.dir); err != nil {
		return fmt.Errorf("removing block store: %w", err)
	}
	if cerr != nil {
		return fmt.Errorf("closing block store: %w", cerr)
	}
	return nil
}
