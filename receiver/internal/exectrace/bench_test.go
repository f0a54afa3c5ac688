package exectrace

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/exp/trace"
)

// BenchmarkRead compares reading every event of a trace with this reader (reader=exectrace)
// and with x/exp/trace's ReadEvent loop (reader=xexp), on tracesrcTestdata's syncnode trace and on
// $GOSTITCH_BENCH_TRACE when set.
//
//	go test -run '^$' -bench Read -count 6 ./receiver/internal/exectrace/ > r.txt
//	go run golang.org/x/perf/cmd/benchstat@latest -col /reader r.txt
func BenchmarkRead(b *testing.B) {
	paths := []string{filepath.Join(tracesrcTestdata, "syncnode.trace")}
	if p := os.Getenv("GOSTITCH_BENCH_TRACE"); p != "" {
		paths = append(paths, p)
	}
	for _, path := range paths {
		data, err := os.ReadFile(path)
		if err != nil {
			b.Fatal(err)
		}
		name := filepath.Base(path)
		b.Run("trace="+name+"/reader=xexp", func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				r, err := trace.NewReader(bytes.NewReader(data))
				if err != nil {
					b.Fatal(err)
				}
				for {
					_, err := r.ReadEvent()
					if errors.Is(err, io.EOF) {
						break
					}
					if err != nil {
						b.Fatal(err)
					}
				}
			}
		})
		b.Run("trace="+name+"/reader=exectrace", func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				r, err := NewReader(bytes.NewReader(data))
				if err != nil {
					b.Fatal(err)
				}
				for {
					_, err := r.Next()
					if errors.Is(err, io.EOF) {
						break
					}
					if err != nil {
						b.Fatal(err)
					}
				}
			}
		})
	}
}
