package pprofsrc

import (
	"bytes"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gostitch/gostitch/receiver/internal/pprofsrc/testdata/workload"
)

//go:generate go run testdata/gen/main.go -dir testdata

// source is a real profile made by a Go program, with the kind it was taken as.
type source struct {
	name, kind string
	data       []byte
}

// fixtureSources are the committed profiles under testdata, named by kind.
func fixtureSources(t testing.TB) []source {
	t.Helper()
	paths, err := filepath.Glob("testdata/*.pb.gz")
	if err != nil || len(paths) == 0 {
		t.Fatalf("no fixtures (run go generate): %v", err)
	}
	var out []source
	for _, path := range paths {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		kind := strings.TrimSuffix(filepath.Base(path), ".pb.gz")
		out = append(out, source{name: "fixture/" + kind, kind: kind, data: data})
	}
	return out
}

// runtimeSources are profiles this test process takes of itself with runtime/pprof.
func runtimeSources(t testing.TB) []source {
	t.Helper()
	profiles := []struct {
		kind string
		take func(io.Writer) error
	}{
		{"cpu", func(w io.Writer) error { return workload.CPU(w, 300*time.Millisecond) }},
		{"heap", func(w io.Writer) error { return workload.Memory(w, "heap") }},
		{"allocs", func(w io.Writer) error { return workload.Memory(w, "allocs") }},
		{"goroutine", func(w io.Writer) error { return workload.Goroutines(w, 3) }},
		{"block", workload.Block},
		{"mutex", workload.Mutex},
	}
	var out []source
	for _, pr := range profiles {
		var b bytes.Buffer
		if err := pr.take(&b); err != nil {
			t.Fatalf("%s profile: %v", pr.kind, err)
		}
		out = append(out, source{name: "runtime/" + pr.kind, kind: pr.kind, data: b.Bytes()})
	}
	return out
}

// goTestSources are the profiles `go test` writes while testing package sync.
func goTestSources(t testing.TB) []source {
	t.Helper()
	if testing.Short() {
		t.Skip("runs go test")
	}
	dir := t.TempDir()
	cmd := exec.Command("go", "test", "-short", "-run", ".", "-o", "sync.test", "-cpuprofile", "cpu.out",
		"-memprofile", "allocs.out", "-blockprofile", "block.out", "-mutexprofile", "mutex.out", "sync")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOFLAGS=", "GOTOOLCHAIN=local")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go test sync: %v\n%s", err, out)
	}
	var out []source
	for _, kind := range []string{"cpu", "allocs", "block", "mutex"} {
		data, err := os.ReadFile(filepath.Join(dir, kind+".out"))
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, source{name: "gotest/sync/" + kind, kind: kind, data: data})
	}
	return out
}

// generatedSources are the benchmark's kinds of profile, smaller (testdata/gen): a heap profile
// with many distinct stacks, and the same as a CPU profile with labels and trace context on
// every sample.
func generatedSources(t testing.TB) []source {
	t.Helper()
	var b bytes.Buffer
	if err := workload.ManyStacks(&b, 3_200); err != nil {
		t.Fatal(err)
	}
	cpu, err := asLabeledCPU(b.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	return []source{
		{name: "gen/heap", kind: "heap", data: b.Bytes()},
		{name: "gen/cpu-labeled", kind: "cpu", data: cpu},
	}
}
