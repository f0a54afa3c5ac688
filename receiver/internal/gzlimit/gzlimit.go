// Package gzlimit reads outside inputs that may be gzip-compressed, bounding what they
// decompress to, so a small gzip bomb is cut at the limit instead of filling memory or disk.
//
// Its place among the layers: docs/design.md, "Layers".
package gzlimit

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/klauspost/compress/gzip"
)

// Magic starts every gzip stream (RFC 1952).
var Magic = []byte{0x1f, 0x8b}

// ErrTooLarge: the input holds more bytes than the limit.
var ErrTooLarge = errors.New("input too large")

// decompressors holds gzip readers for reuse: a new one allocates and clears some 40 KB of
// window and tables, more than decompressing a small profile costs.
var decompressors sync.Pool

// NewReader returns a reader of the gzip stream r that fails with ErrTooLarge once it would
// yield more than limit bytes. Errors of the gzip header are returned as the gzip package's.
// Closing it, which is optional, lets another reader reuse its decompressor; it must not be
// read after.
func NewReader(r io.Reader, limit int64) (io.ReadCloser, error) {
	zr, ok := decompressors.Get().(*gzip.Reader)
	if !ok {
		zr = new(gzip.Reader)
	}
	if err := zr.Reset(r); err != nil {
		decompressors.Put(zr)
		return nil, err
	}
	return &pooled{limited{r: zr, left: limit, limit: limit, what: "decompresses to more than"}, zr}, nil
}

// pooled is a limited gzip reader whose Close gives its decompressor back.
type pooled struct {
	limited
	zr *gzip.Reader
}

func (p *pooled) Close() error {
	if p.zr != nil {
		p.r = nil
		decompressors.Put(p.zr)
		p.zr = nil
	}
	return nil
}

// Sniff returns r's bytes, decompressed when they start with Magic and as they are otherwise,
// failing with ErrTooLarge once it would yield more than limit bytes.
func Sniff(r io.Reader, limit int64) (io.Reader, error) {
	br := bufio.NewReader(r)
	if head, _ := br.Peek(len(Magic)); bytes.Equal(head, Magic) {
		return NewReader(br, limit)
	}
	return &limited{r: br, left: limit, limit: limit, what: "more than"}, nil
}

// limited reads at most left bytes from r and fails with ErrTooLarge at the first byte beyond
// them; the error says the input "<what> <limit> bytes". It is made only then.
type limited struct {
	r           io.Reader
	left, limit int64
	what        string
}

func (l *limited) Read(p []byte) (int, error) {
	if int64(len(p)) > l.left+1 {
		p = p[:l.left+1]
	}
	n, err := l.r.Read(p)
	if int64(n) > l.left {
		n = int(l.left)
		l.left = 0
		return n, fmt.Errorf("%w: %s %d bytes", ErrTooLarge, l.what, l.limit)
	}
	l.left -= int64(n)
	return n, err
}
