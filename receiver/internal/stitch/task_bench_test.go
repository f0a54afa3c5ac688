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

	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/pprofile"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"golang.org/x/exp/trace"

	"github.com/gostitch/gostitch/internal/syncnodetest"
	"github.com/gostitch/gostitch/receiver/internal/tracesrc"
)

// BenchmarkTrace compares converting an execution trace to spans and metrics (convert, and
// convert-defaults with the receiver's span selection), reading it into the model alone (model)
// and copying convert-defaults' output into new pdata (copy-output: the floor of building it),
// with a bare x/exp/trace ReadEvent loop over the same file (bare), on a scrape of examples/syncnode of at least 50 MB (size=syncnode50MB) and on
// traces of the denser blocksync workload (tracesrc/testdata/blocksync.go: a task every ~80
// events, syncnode ~1,700) of 10, 30 and 100 MB, and on a one-second scrape of
// examples/otelapp under load (size=otelapp, testdata/bench/otelapp.trace: an OTel service
// whose SDK begins a task for every span). The syncnode and blocksync traces are generated
// once, when their input first runs, into $HOME/.cache/gostitch/bench ($GOSTITCH_BENCH_DIR
// overrides), which takes about ten minutes; -bench 'Trace/size=otelapp' needs none of them.
// Each run reports events/s and peak-heap-MB, the highest heap in use above the heap before the
// run (sampled every millisecond): flat as the trace grows, because memory follows open tasks,
// not trace size. $GOSTITCH_BENCH_TRACE names one more trace file to run on (size=file).
// GOSTITCH_BENCH_PEAK=off leaves the heap sampler out, for instruction counts under callgrind,
// where its ticks would add work in proportion to the run's (slowed) wall time.
//
//	go test ./receiver/internal/stitch -run '^$' -bench Trace -count 6 | tee new.txt
//	go run golang.org/x/perf/cmd/benchstat@latest -col /mode new.txt
func BenchmarkTrace(b *testing.B) {
	type input struct {
		size string
		path func(*testing.B) string // the trace file, generated if need be
	}
	inputs := []input{{"syncnode50MB", func(b *testing.B) string { return syncnodeBenchTrace(b, 50) }}}
	for _, mb := range []int{10, 30, 100} {
		inputs = append(inputs, input{fmt.Sprintf("%dMB", mb), func(b *testing.B) string { return benchTrace(b, mb) }})
	}
	inputs = append(inputs, input{"otelapp", func(*testing.B) string { return otelappBenchTrace }})
	if extra := os.Getenv("GOSTITCH_BENCH_TRACE"); extra != "" {
		inputs = append(inputs, input{"file", func(*testing.B) string { return extra }})
	}
	for _, in := range inputs {
		size, path := in.size, ""
		// resolve returns the input's file, generated in the first of its sub-benchmarks that
		// runs: -bench can pick one input without generating the others.
		resolve := func(b *testing.B) string {
			if path == "" {
				path = in.path(b)
			}
			return path
		}
		b.Run(fmt.Sprintf("size=%s/mode=bare", size), func(b *testing.B) {
			benchRead(b, resolve(b), func(f *os.File) int {
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
			benchRead(b, resolve(b), func(f *os.File) int {
				tl, err := tracesrc.Read(f, tracesrc.Options{MinSpanDuration: time.Millisecond}, discard{})
				if err != nil {
					b.Fatal(err)
				}
				return tl.Events
			})
		})
		for _, conv := range []struct {
			mode string
			opts TraceOptions
		}{
			// every task makes a span, no work outside tasks: the conversion as it was first measured
			{"convert", TraceOptions{MinSpanDuration: time.Millisecond}},
			// the receiver's defaults: tasks that say something, work outside tasks up to 1,000 spans
			{"convert-defaults", TraceOptions{MinSpanDuration: time.Millisecond, TaskSpans: NotableTaskSpans, MaxGoroutineSpans: 1000}},
		} {
			b.Run(fmt.Sprintf("size=%s/mode=%s", size, conv.mode), func(b *testing.B) {
				benchRead(b, resolve(b), func(f *os.File) int {
					c := NewTraceConverter(testIdentity, conv.opts)
					res, err := c.ConvertWindow(Window{Trace: f}, func(string, ptrace.Traces) error { return nil })
					if err != nil {
						b.Fatal(err)
					}
					return res.Stats.Events
				})
			})
		}
		// copying the defaults' output, a floor for building it: every span, attribute, event,
		// link, data point and sample allocated again in pdata, with nothing to work out
		b.Run(fmt.Sprintf("size=%s/mode=copy-output", size), func(b *testing.B) {
			f, err := os.Open(resolve(b))
			if err != nil {
				b.Fatal(err)
			}
			var batches []ptrace.Traces
			c := NewTraceConverter(testIdentity, TraceOptions{MinSpanDuration: time.Millisecond, TaskSpans: NotableTaskSpans, MaxGoroutineSpans: 1000})
			res, err := c.ConvertWindow(Window{Trace: f}, func(_ string, td ptrace.Traces) error {
				batches = append(batches, td)
				return nil
			})
			f.Close()
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				for _, td := range batches {
					td.CopyTo(ptrace.NewTraces())
				}
				res.Metrics.CopyTo(pmetric.NewMetrics())
				res.Profiles.CopyTo(pprofile.NewProfiles())
			}
			b.ReportMetric(float64(res.Stats.Events)*float64(b.N)/b.Elapsed().Seconds(), "events/s")
		})
	}
}

// otelappBenchTrace is a one-second execution trace of examples/otelapp under load
// (testdata/README.md says how it was taken).
const otelappBenchTrace = "../../../testdata/bench/otelapp.trace"

// benchRead runs read over the trace file b.N times, reporting events/s and peak heap.
func benchRead(b *testing.B, path string, read func(*os.File) int) {
	events := 0
	peak := newHeapPeak()
	if os.Getenv("GOSTITCH_BENCH_PEAK") == "off" {
		peak.stop()
		peak = nil
	}
	for b.Loop() {
		f, err := os.Open(path)
		if err != nil {
			b.Fatal(err)
		}
		events += read(f)
		f.Close()
	}
	b.ReportMetric(float64(events)/b.Elapsed().Seconds(), "events/s")
	if peak != nil {
		b.ReportMetric(float64(peak.stop())/(1<<20), "peak-heap-MB")
	}
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

// benchDir is where the benchmark traces are kept.
func benchDir(b *testing.B) string {
	if dir := os.Getenv("GOSTITCH_BENCH_DIR"); dir != "" {
		return dir
	}
	home, err := os.UserHomeDir()
	if err != nil {
		b.Fatal(err)
	}
	return filepath.Join(home, ".cache", "gostitch", "bench")
}

// syncnodeBenchTrace returns the path of an execution trace of examples/syncnode (8 peers,
// GC pressure, socket cookies logged) of at least mb megabytes, scraped over net/http/pprof
// once per Go version: a 5 s scrape measures the rate, then one scrape is long enough.
func syncnodeBenchTrace(b *testing.B, mb int) string {
	b.Helper()
	path := filepath.Join(benchDir(b), fmt.Sprintf("syncnode-%s-%dMB.trace", runtime.Version(), mb))
	if _, err := os.Stat(path); err == nil {
		return path
	}
	b.Logf("generating %s", path)
	node := syncnodetest.Start(b, "-peers", "8", "-fsync-every", "0", "-gc-pressure", "-log-conn")
	defer node.Stop()
	probe := node.Get(b, "/debug/pprof/trace?seconds=5")
	seconds := int(float64(mb<<20)/float64(len(probe))*5*1.2) + 1
	data := node.Get(b, fmt.Sprintf("/debug/pprof/trace?seconds=%d", seconds))
	if len(data) < mb<<20 {
		b.Fatalf("a %d s scrape of syncnode gave %d bytes, want %d MB", seconds, len(data), mb)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		b.Fatal(err)
	}
	return path
}

// benchTrace returns the path of a blocksync trace of at least mb megabytes, generating it once
// per Go version and version of the generator.
func benchTrace(b *testing.B, mb int) string {
	b.Helper()
	dir := benchDir(b)
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
