package stitch

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/ptrace"
	"golang.org/x/exp/trace"

	"github.com/gostitch/gostitch/receiver/internal/tracesrc"
)

// BenchmarkTrace compares converting an execution trace to spans and metrics (convert), and
// reading it into the model alone (model), with a bare x/exp/trace ReadEvent loop over the same
// file (bare), on traces of the syncnode-like blocksync workload (tracesrc/testdata/blocksync.go)
// of 10, 30 and 100 MB. The traces are generated once into $HOME/.cache/gostitch/bench
// ($GOSTITCH_BENCH_DIR overrides), which takes a minute or two. Each run reports events/s and
// peak-heap-MB, the highest heap in use above the heap before the run (sampled every
// millisecond): flat as the trace grows, because memory follows open tasks, not trace size.
// $GOSTITCH_BENCH_TRACE names one more trace file to run on (size=file), e.g. a syncnode scrape.
//
//	go test ./receiver/internal/stitch -run '^$' -bench Trace -count 6 | tee new.txt
//	go run golang.org/x/perf/cmd/benchstat@latest -col /mode new.txt
func BenchmarkTrace(b *testing.B) {
	type input struct{ size, path string }
	var inputs []input
	for _, mb := range []int{10, 30, 100} {
		inputs = append(inputs, input{fmt.Sprintf("%dMB", mb), benchTrace(b, mb)})
	}
	if extra := os.Getenv("GOSTITCH_BENCH_TRACE"); extra != "" {
		inputs = append(inputs, input{"file", extra})
	}
	for _, in := range inputs {
		size, path := in.size, in.path
		b.Run(fmt.Sprintf("size=%s/mode=bare", size), func(b *testing.B) {
			benchRead(b, path, func(f *os.File) int {
				r, err := trace.NewReader(f)
				if err != nil {
					b.Fatal(err)
				}
				n := 0
				for {
					_, err := r.ReadEvent()
					if errors.Is(err, io.EOF) {
						return n
					}
					if err != nil {
						b.Fatal(err)
					}
					n++
				}
			})
		})
		b.Run(fmt.Sprintf("size=%s/mode=model", size), func(b *testing.B) {
			benchRead(b, path, func(f *os.File) int {
				tl, err := tracesrc.Read(f, tracesrc.Options{MinSpanDuration: time.Millisecond}, discard{})
				if err != nil {
					b.Fatal(err)
				}
				return tl.Events
			})
		})
		b.Run(fmt.Sprintf("size=%s/mode=convert", size), func(b *testing.B) {
			benchRead(b, path, func(f *os.File) int {
				c := NewTraceConverter(testIdentity, TraceOptions{MinSpanDuration: time.Millisecond})
				res, err := c.Convert(f, func(ptrace.Traces) error { return nil })
				if err != nil {
					b.Fatal(err)
				}
				return res.Timeline.Events
			})
		})
	}
}

// benchRead runs read over the trace file b.N times, reporting events/s and peak heap.
func benchRead(b *testing.B, path string, read func(*os.File) int) {
	events := 0
	peak := newHeapPeak()
	for b.Loop() {
		f, err := os.Open(path)
		if err != nil {
			b.Fatal(err)
		}
		events += read(f)
		f.Close()
	}
	b.ReportMetric(float64(events)/b.Elapsed().Seconds(), "events/s")
	b.ReportMetric(float64(peak.stop())/(1<<20), "peak-heap-MB")
}

// discard is a tracesrc.Handler that drops everything.
type discard struct{}

func (discard) Begin(*tracesrc.Timeline) {}
func (discard) Task(*tracesrc.Task)      {}
func (discard) STW(tracesrc.STW)         {}
func (discard) Wait(tracesrc.Wait)       {}

// heapPeak samples the heap in use until stopped.
type heapPeak struct {
	base, peak uint64
	done       chan struct{}
	wg         sync.WaitGroup
}

const heapMetric = "/memory/classes/heap/objects:bytes"

func newHeapPeak() *heapPeak {
	runtime.GC()
	p := &heapPeak{done: make(chan struct{})}
	p.base = heapInUse()
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-p.done:
				return
			case <-tick.C:
				p.peak = max(p.peak, heapInUse())
			}
		}
	}()
	return p
}

// stop returns the peak above the starting heap.
func (p *heapPeak) stop() uint64 {
	close(p.done)
	p.wg.Wait()
	if p.peak < p.base {
		return 0
	}
	return p.peak - p.base
}

func heapInUse() uint64 {
	s := []metrics.Sample{{Name: heapMetric}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// benchTrace returns the path of a blocksync trace of at least mb megabytes, generating it once
// per Go version and version of the generator.
func benchTrace(b *testing.B, mb int) string {
	b.Helper()
	dir := os.Getenv("GOSTITCH_BENCH_DIR")
	if dir == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			b.Fatal(err)
		}
		dir = filepath.Join(home, ".cache", "gostitch", "bench")
	}
	gen, err := filepath.Abs(filepath.Join(traceFixtures, "blocksync.go"))
	if err != nil {
		b.Fatal(err)
	}
	src, err := os.ReadFile(gen)
	if err != nil {
		b.Fatal(err)
	}
	sum := sha256.Sum256(src)
	path := filepath.Join(dir, fmt.Sprintf("blocksync-%x-%s-%dMB.trace", sum[:4], runtime.Version(), mb))
	if _, err := os.Stat(path); err == nil {
		return path
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		b.Fatal(err)
	}
	tmp := path + ".tmp"
	cmd := exec.Command("go", "run", gen, "-duration", "0", "-size", fmt.Sprint(mb<<20), "-o", tmp)
	cmd.Stderr = os.Stderr
	b.Logf("generating %s", path)
	if err := cmd.Run(); err != nil {
		b.Fatalf("generating the benchmark trace: %v", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		b.Fatal(err)
	}
	return path
}
