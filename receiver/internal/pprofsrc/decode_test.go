package pprofsrc

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/google/pprof/profile"
)

func gzipped(t *testing.T, data []byte) []byte {
	t.Helper()
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	if _, err := zw.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestDecodeErrors(t *testing.T) {
	cpu, err := os.ReadFile("testdata/cpu.pb.gz")
	if err != nil {
		t.Fatal(err)
	}
	corrupt := bytes.Clone(cpu)
	corrupt[len(corrupt)-6] ^= 0xff // in the CRC-32 of the trailer
	var noSampleTypes bytes.Buffer
	if err := (&profile.Profile{}).WriteUncompressed(&noSampleTypes); err != nil {
		t.Fatal(err)
	}
	var manyValues bytes.Buffer
	wide := &profile.Profile{}
	for i := range 1000 {
		wide.SampleType = append(wide.SampleType, &profile.ValueType{Type: fmt.Sprint(i)})
	}
	for range 100 {
		wide.Sample = append(wide.Sample, &profile.Sample{Value: slices.Repeat([]int64{1}, 1000)})
	}
	if err := wide.WriteUncompressed(&manyValues); err != nil {
		t.Fatal(err)
	}
	html := []byte("<!DOCTYPE html>\n<html><head><title>Sign in</title></head><body>…</body></html>")

	for _, tc := range []struct {
		name    string
		data    []byte
		max     int
		class   error
		message string
	}{
		{"no bytes", nil, 0, ErrEmpty, "empty profile: no bytes"},
		{"empty gzip", gzipped(t, nil), 0, ErrEmpty, "empty profile: the gzip stream holds no data"},
		{"no sample types", noSampleTypes.Bytes(), 0, ErrEmpty, "empty profile: no sample types"},
		{"truncated gzip", cpu[:len(cpu)/2], 0, ErrMalformed, "malformed profile: truncated gzip stream"},
		{"gzip header only", cpu[:5], 0, ErrMalformed, "malformed profile: bad gzip header"},
		{"corrupt gzip", corrupt, 0, ErrMalformed, "malformed profile: corrupt gzip stream"},
		{"garbage", []byte{0xff, 0xfe, 0x01, 0x02, 0x00, 0x9c, 0x7f}, 0, ErrMalformed, "malformed profile: invalid pprof protobuf (7 bytes)"},
		{"tiny records", gzipped(t, bytes.Repeat([]byte{0x12, 0x00}, 1<<16)), 0, ErrMalformed,
			"malformed profile: 65536 samples, mappings, locations and functions in 131072 bytes"},
		{"many values", manyValues.Bytes(), 0, ErrMalformed, "malformed profile: 100000 non-zero sample values in "},
		{"HTML", html, 0, ErrNotPprof, `not a pprof profile: got an HTML page starting with "<!DOCTYPE html>\n<html><head><title>Sign `},
		{"gzipped HTML", gzipped(t, html), 0, ErrNotPprof, "not a pprof profile: got an HTML page"},
		{"404", []byte("404 page not found\n"), 0, ErrNotPprof, `not a pprof profile: got text starting with "404 page not found\n"`},
		{"over the limit", noSampleTypes.Bytes(), 1, ErrTooLarge, "profile too large: 4 bytes, the limit is 1"},
		{"gzip bomb", gzipped(t, make([]byte, 8<<20)), 1 << 20, ErrTooLarge, "profile too large: decompresses to more than 1048576 bytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := Decode(tc.data, tc.max)
			if p != nil || !errors.Is(err, tc.class) || !strings.HasPrefix(err.Error(), tc.message) {
				t.Errorf("got %v, want %v: %s…", err, tc.class, tc.message)
			}
		})
	}
}

func TestDecodeGzipAndPlain(t *testing.T) {
	for _, src := range fixtureSources(t) {
		gz, err := Decode(src.data, 0)
		if err != nil {
			t.Fatal(err)
		}
		var plain bytes.Buffer
		if err := gz.WriteUncompressed(&plain); err != nil {
			t.Fatal(err)
		}
		p, err := Decode(plain.Bytes(), plain.Len())
		if err != nil {
			t.Fatalf("%s plain: %v", src.name, err)
		}
		if len(p.Sample) != len(gz.Sample) {
			t.Errorf("%s: %d samples plain, %d gzip", src.name, len(p.Sample), len(gz.Sample))
		}
	}
}
