// Package pprofsrc turns raw pprof bytes into OTLP profiles and metrics (DecodeConvert), reading
// the pprof protobuf straight into pprofile and pmetric. No I/O, no configuration.
package pprofsrc

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"

	"github.com/gostitch/gostitch/receiver/internal/gzlimit"
)

// DefaultMaxSize bounds the decompressed size of a profile when DecodeConvert is given no limit.
const DefaultMaxSize = 64 << 20

// Classes of DecodeConvert errors, for callers that count or answer them differently (errors.Is).
var (
	// ErrEmpty: no bytes, or a profile without any sample type.
	ErrEmpty = errors.New("empty profile")
	// ErrTooLarge: the decompressed profile exceeds the size limit.
	ErrTooLarge = errors.New("profile too large")
	// ErrNotPprof: the bytes are something else, such as an HTML or text page.
	ErrNotPprof = errors.New("not a pprof profile")
	// ErrMalformed: a damaged gzip stream or an invalid pprof protobuf.
	ErrMalformed = errors.New("malformed profile")
)

// decode reads a pprof profile, gzip-compressed or plain protobuf, of at most maxSize bytes
// decompressed (DefaultMaxSize when maxSize <= 0). Errors name what is wrong with the bytes; the
// caller adds where they came from.
func decode(data []byte, maxSize int) (*pprofData, error) {
	if maxSize <= 0 {
		maxSize = DefaultMaxSize
	}
	if len(data) == 0 {
		return nil, fmt.Errorf("%w: no bytes", ErrEmpty)
	}
	raw := data
	if bytes.HasPrefix(data, gzlimit.Magic) {
		buf := rawBuffers.Get().(*[]byte)
		defer rawBuffers.Put(buf)
		var err error
		if raw, err = gunzip((*buf)[:0], data, maxSize); err != nil {
			return nil, err
		}
		if cap(raw) <= maxPooledBuffer {
			*buf = raw
		}
		if len(raw) == 0 {
			return nil, fmt.Errorf("%w: the gzip stream holds no data", ErrEmpty)
		}
	} else if len(data) > maxSize {
		return nil, fmt.Errorf("%w: %d bytes, the limit is %d", ErrTooLarge, len(data), maxSize)
	}

	p, err := readChecked(raw)
	if err == nil && len(p.sampleTypes) > 0 {
		if err := checkValues(p.values, len(raw)); err != nil {
			return nil, err
		}
		return p, nil
	}
	if errors.Is(err, ErrMalformed) {
		return nil, err
	}
	if kind := sniff(raw); kind != "" {
		return nil, fmt.Errorf("%w: got %s starting with %q", ErrNotPprof, kind, prefix(raw))
	}
	if err != nil {
		return nil, fmt.Errorf("%w: invalid pprof protobuf (%d bytes): %w", ErrMalformed, len(raw), err)
	}
	return nil, fmt.Errorf("%w: no sample types (%d bytes)", ErrEmpty, len(raw))
}

// readChecked reads and resolves a pprof protobuf once its records are known not to be too
// small on average (an ErrMalformed error when they are).
func readChecked(raw []byte) (*pprofData, error) {
	c, err := countRecords(raw)
	if err != nil {
		return nil, err
	}
	if err := checkDensity(c, len(raw)); err != nil {
		return nil, err
	}
	p, err := readProfile(raw, c)
	if err == nil {
		err = p.resolve()
	}
	return p, err
}

// rawBuffers holds buffers of decompressed profiles for reuse (*[]byte): decode keeps no part
// of them. Those over maxPooledBuffer are left to the garbage collector, not held.
var rawBuffers = sync.Pool{New: func() any { return new([]byte) }}

const maxPooledBuffer = 4 << 20

// gunzip decompresses data into dst's space, reading at most maxSize bytes of output.
func gunzip(dst, data []byte, maxSize int) ([]byte, error) {
	zr, err := gzlimit.NewReader(bytes.NewReader(data), int64(maxSize))
	if err != nil {
		return nil, fmt.Errorf("%w: bad gzip header: %w", ErrMalformed, err)
	}
	defer zr.Close()
	// The trailer's ISIZE (size mod 2^32) is a good capacity hint; trust it only up to maxSize.
	hint := min(maxSize, 4*len(data))
	if len(data) >= 18 {
		if isize := int(binary.LittleEndian.Uint32(data[len(data)-4:])); isize <= maxSize {
			hint = isize
		}
	}
	out := bytes.NewBuffer(slices.Grow(dst[:0], hint+bytes.MinRead))
	n, err := out.ReadFrom(zr)
	switch {
	case errors.Is(err, gzlimit.ErrTooLarge):
		return nil, fmt.Errorf("%w: decompresses to more than %d bytes", ErrTooLarge, maxSize)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return nil, fmt.Errorf("%w: truncated gzip stream (%d compressed bytes, %d decompressed before the end): %w",
			ErrMalformed, len(data), n, err)
	case err != nil:
		return nil, fmt.Errorf("%w: corrupt gzip stream: %w", ErrMalformed, err)
	}
	return out.Bytes(), nil
}

// sniff names what non-pprof bytes look like ("an HTML page", "text"), or returns "".
func sniff(b []byte) string {
	switch ct := http.DetectContentType(b); {
	case !strings.HasSuffix(ct, "charset=utf-8"):
		return ""
	case strings.HasPrefix(ct, "text/html"):
		return "an HTML page"
	case strings.HasPrefix(ct, "text/"):
		return "text"
	}
	return ""
}

// prefix is the start of b, short enough for an error message.
func prefix(b []byte) []byte {
	const n = 40
	if len(b) > n {
		return b[:n]
	}
	return b
}
