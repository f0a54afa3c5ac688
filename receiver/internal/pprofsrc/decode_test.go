package pprofsrc

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/google/pprof/profile"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/pprofile"

	"github.com/gostitch/gostitch/internal/gziptest"
)

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
		{"empty gzip", gziptest.Compress(t, nil), 0, ErrEmpty, "empty profile: the gzip stream holds no data"},
		{"no sample types", noSampleTypes.Bytes(), 0, ErrEmpty, "empty profile: no sample types"},
		{"truncated gzip", cpu[:len(cpu)/2], 0, ErrMalformed, "malformed profile: truncated gzip stream"},
		{"gzip header only", cpu[:5], 0, ErrMalformed, "malformed profile: bad gzip header"},
		{"corrupt gzip", corrupt, 0, ErrMalformed, "malformed profile: corrupt gzip stream"},
		{"garbage", []byte{0xff, 0xfe, 0x01, 0x02, 0x00, 0x9c, 0x7f}, 0, ErrMalformed, "malformed profile: invalid pprof protobuf (7 bytes)"},
		{"tiny records", gziptest.Compress(t, bytes.Repeat([]byte{0x12, 0x00}, 1<<16)), 0, ErrMalformed,
			"malformed profile: 65536 samples, mappings, locations and functions in 131072 bytes"},
		{"many values", manyValues.Bytes(), 0, ErrMalformed, "malformed profile: 100000 non-zero sample values in "},
		{"HTML", html, 0, ErrNotPprof, `not a pprof profile: got an HTML page starting with "<!DOCTYPE html>\n<html><head><title>Sign `},
		{"gzipped HTML", gziptest.Compress(t, html), 0, ErrNotPprof, "not a pprof profile: got an HTML page"},
		{"404", []byte("404 page not found\n"), 0, ErrNotPprof, `not a pprof profile: got text starting with "404 page not found\n"`},
		{"over the limit", noSampleTypes.Bytes(), 1, ErrTooLarge, "profile too large: 4 bytes, the limit is 1"},
		{"gzip bomb", gziptest.Compress(t, make([]byte, 8<<20)), 1 << 20, ErrTooLarge, "profile too large: decompresses to more than 1048576 bytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := DecodeConvert(tc.data, tc.max, "", testID, Options{})
			if !errors.Is(err, tc.class) || !strings.HasPrefix(err.Error(), tc.message) {
				t.Errorf("got %v, want %v: %s…", err, tc.class, tc.message)
			}
		})
	}
}

// TestDecodeGzipAndPlain converts each fixture gzip-compressed and plain: the same output.
func TestDecodeGzipAndPlain(t *testing.T) {
	for _, src := range fixtureSources(t) {
		p, err := profile.ParseData(src.data)
		if err != nil {
			t.Fatal(err)
		}
		plain := encode(t, p)
		gzPD, gzMD, err := DecodeConvert(src.data, 0, src.kind, testID, Options{})
		if err != nil {
			t.Fatal(err)
		}
		pd, md, err := DecodeConvert(plain, len(plain), src.kind, testID, Options{})
		if err != nil {
			t.Fatalf("%s plain: %v", src.name, err)
		}
		if pd.SampleCount() == 0 || !samePdata(t, pd, md, gzPD, gzMD) {
			t.Errorf("%s: plain and gzip differ (%d and %d samples)", src.name, pd.SampleCount(), gzPD.SampleCount())
		}
	}
}

// encode writes p as a plain pprof protobuf.
func encode(t *testing.T, p *profile.Profile) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := p.WriteUncompressed(&b); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// samePdata reports whether two conversions are equal, by their OTLP protobuf encoding.
func samePdata(t *testing.T, pd pprofile.Profiles, md pmetric.Metrics, pd2 pprofile.Profiles, md2 pmetric.Metrics) bool {
	t.Helper()
	enc := func(pd pprofile.Profiles, md pmetric.Metrics) []byte {
		b, err := (&pprofile.ProtoMarshaler{}).MarshalProfiles(pd)
		if err != nil {
			t.Fatal(err)
		}
		m, err := (&pmetric.ProtoMarshaler{}).MarshalMetrics(md)
		if err != nil {
			t.Fatal(err)
		}
		return append(b, m...)
	}
	return bytes.Equal(enc(pd, md), enc(pd2, md2))
}
