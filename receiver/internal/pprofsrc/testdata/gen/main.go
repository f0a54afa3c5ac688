//go:build ignore

// Command gen writes the committed pprof fixtures and fuzz seeds of package pprofsrc, or one
// heap profile with many distinct stacks for the benchmarks:
//
//	go run testdata/gen/main.go -dir testdata
//	go run testdata/gen/main.go -stacks 500000 -out big.pb.gz
package main

import (
	"bytes"
	"compress/gzip"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/gostitch/gostitch/receiver/internal/pprofsrc/testdata/workload"
)

func main() {
	dir := flag.String("dir", "", "write the fixtures and fuzz seeds under this testdata directory")
	stacks := flag.Int("stacks", 0, "with -out: write a heap profile with about this many distinct stacks")
	out := flag.String("out", "", "file for the -stacks profile, - for stdout")
	flag.Parse()
	var err error
	switch {
	case *dir != "":
		err = fixtures(*dir)
	case *stacks > 0 && *out != "":
		err = write(*out, func(w io.Writer) error { return workload.ManyStacks(w, *stacks) })
	default:
		flag.Usage()
		os.Exit(2)
	}
	if err != nil {
		log.Fatal(err)
	}
}

func fixtures(dir string) error {
	profiles := []struct {
		name string
		take func(io.Writer) error
	}{
		{"cpu", func(w io.Writer) error { return workload.CPU(w, 300*time.Millisecond) }},
		{"heap", func(w io.Writer) error { return workload.Memory(w, "heap") }},
		{"allocs", func(w io.Writer) error { return workload.Memory(w, "allocs") }},
		{"goroutine", func(w io.Writer) error { return workload.Goroutines(w, 2) }},
		{"block", workload.Block},
		{"mutex", workload.Mutex},
	}
	for _, p := range profiles {
		if err := write(filepath.Join(dir, p.name+".pb.gz"), p.take); err != nil {
			return err
		}
	}
	return seeds(dir)
}

// seeds writes the fuzz seed corpus: real profiles, damaged ones and what a wrong URL returns.
func seeds(dir string) error {
	mutex, err := os.ReadFile(filepath.Join(dir, "mutex.pb.gz"))
	if err != nil {
		return err
	}
	goroutine, err := os.ReadFile(filepath.Join(dir, "goroutine.pb.gz"))
	if err != nil {
		return err
	}
	plain, err := gunzip(goroutine)
	if err != nil {
		return err
	}
	corpus := map[string][]byte{
		"mutex-gzip":      mutex,
		"goroutine-plain": plain,
		"truncated-gzip":  mutex[:len(mutex)/2],
		"garbage":         []byte("\x1f\x8b\x08\x00garbage\xff\xfe\x00\x01"),
		"empty":           {},
		"html":            []byte("<!DOCTYPE html><html><head><title>Login</title></head><body>Sign in</body></html>"),
		"not-found":       []byte("404 page not found\n"),
	}
	fuzzDir := filepath.Join(dir, "fuzz", "FuzzDecodeConvert")
	if err := os.MkdirAll(fuzzDir, 0o755); err != nil {
		return err
	}
	for name, data := range corpus {
		entry := fmt.Sprintf("go test fuzz v1\n[]byte(%s)\n", strconv.Quote(string(data)))
		if err := os.WriteFile(filepath.Join(fuzzDir, name), []byte(entry), 0o644); err != nil {
			return err
		}
	}
	return nil
}

func write(path string, take func(io.Writer) error) error {
	var b bytes.Buffer
	if err := take(&b); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if path == "-" {
		_, err := os.Stdout.Write(b.Bytes())
		return err
	}
	return os.WriteFile(path, b.Bytes(), 0o644)
}

func gunzip(data []byte) ([]byte, error) {
	zr, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		return nil, err
	}
	return io.ReadAll(zr)
}
