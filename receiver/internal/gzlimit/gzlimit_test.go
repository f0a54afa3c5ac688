package gzlimit

import (
	"bytes"
	"errors"
	"io"
	"testing"

	"github.com/gostitch/gostitch/internal/gziptest"
)

// TestSniff: plain and gzip'd inputs read whole up to the limit and fail one byte beyond it.
func TestSniff(t *testing.T) {
	data := bytes.Repeat([]byte("go 1.26 trace"), 100)
	for _, tc := range []struct {
		name  string
		in    []byte
		limit int64
		err   string
	}{
		{"plain at the limit", data, int64(len(data)), ""},
		{"plain over the limit", data, int64(len(data)) - 1, "input too large: more than 1299 bytes"},
		{"gzip at the limit", gziptest.Compress(t, data), int64(len(data)), ""},
		{"gzip over the limit", gziptest.Compress(t, data), int64(len(data)) - 1, "input too large: decompresses to more than 1299 bytes"},
		{"empty", nil, 0, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := Sniff(bytes.NewReader(tc.in), tc.limit)
			if err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(r)
			if tc.err == "" {
				if err != nil || !bytes.Equal(got, data[:len(got)]) || int64(len(got)) != tc.limit {
					t.Fatalf("read %d bytes, %v; want %d", len(got), err, tc.limit)
				}
				return
			}
			if !errors.Is(err, ErrTooLarge) || err.Error() != tc.err || int64(len(got)) != tc.limit {
				t.Fatalf("read %d bytes, %v; want %d and %q", len(got), err, tc.limit, tc.err)
			}
		})
	}
	if _, err := Sniff(bytes.NewReader(Magic), 10); err == nil {
		t.Error("a gzip header cut short is an error")
	}
}
