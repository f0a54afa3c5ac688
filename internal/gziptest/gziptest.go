// Package gziptest compresses test inputs, such as gzip bombs for the decompression limits.
package gziptest

import (
	"bytes"
	"compress/gzip"
	"testing"
)

// Compress returns data gzip-compressed; n zero bytes compress to a few hundred bytes that
// inflate to n.
func Compress(tb testing.TB, data []byte) []byte {
	tb.Helper()
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	if _, err := zw.Write(data); err != nil {
		tb.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		tb.Fatal(err)
	}
	return b.Bytes()
}
