// Package workload makes real Go profiles with runtime/pprof: labeled CPU burners, retained and
// freed allocations, labeled parked goroutines, channel blocking, mutex contention, and a heap
// with many distinct stacks. The tests and the fixture generator (../gen) share it.
package workload

import (
	"context"
	"io"
	"math/rand/v2"
	"runtime"
	"runtime/pprof"
	"sync"
	"time"
)

// Worker is one labeled goroutine of the CPU and goroutine workloads.
type Worker struct {
	// Labels are pprof label key/value pairs.
	Labels []string
}

// Workers carry the labels the tests look for: trace context in the OpenTelemetry and Datadog
// spellings, an invalid trace id that must stay an attribute, and the allowlist-style keys.
var Workers = []Worker{
	{Labels: []string{"msg_type", "block", "peer_id", "peer-1",
		"otel.trace_id", "4bf92f3577b34da6a3ce929d0e0e4736", "otel.span_id", "00f067aa0ba902b7"}},
	{Labels: []string{"msg_type", "tx", "peer_id", "peer-2",
		"span id", "1234567890123456789", "local root span id", "987654321"}},
	{Labels: []string{"msg_type", "ping", "trace_id", "not-a-trace-id"}},
}

// CPU writes a CPU profile of d while every worker burns CPU under its labels.
func CPU(w io.Writer, d time.Duration) error {
	if err := pprof.StartCPUProfile(w); err != nil {
		return err
	}
	var wg sync.WaitGroup
	deadline := time.Now().Add(d)
	for _, wk := range Workers {
		wg.Go(func() {
			pprof.Do(context.Background(), pprof.Labels(wk.Labels...), func(context.Context) {
				for time.Now().Before(deadline) {
					burn(1 << 14)
				}
			})
		})
	}
	wg.Wait()
	pprof.StopCPUProfile()
	return nil
}

var sink uint64

//go:noinline
func burn(n int) {
	x := sink
	for i := range n {
		x = x*6364136223846793005 + uint64(i)
	}
	sink = x
}

// Retained keeps the Memory workload's live objects reachable.
var Retained [][]byte

// Memory writes the heap or allocs profile (name) after retaining and freeing allocations of
// known sizes with every allocation sampled.
func Memory(w io.Writer, name string) error {
	prev := runtime.MemProfileRate
	runtime.MemProfileRate = 1
	defer func() { runtime.MemProfileRate = prev }()
	Retained = retain(64, 1024)
	discard(128, 2048)
	runtime.GC()
	runtime.GC()
	return pprof.Lookup(name).WriteTo(w, 0)
}

//go:noinline
func retain(n, size int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		out[i] = make([]byte, size)
	}
	return out
}

//go:noinline
func discard(n, size int) {
	for range n {
		sink += uint64(len(make([]byte, size)))
	}
}

// Goroutines writes the goroutine profile while each worker parks n goroutines under its labels.
func Goroutines(w io.Writer, n int) error {
	release := make(chan struct{})
	var parked, done sync.WaitGroup
	for _, wk := range Workers {
		for range n {
			parked.Add(1)
			done.Go(func() {
				pprof.Do(context.Background(), pprof.Labels(wk.Labels...), func(context.Context) {
					parked.Done()
					<-release
				})
			})
		}
	}
	parked.Wait()
	err := pprof.Lookup("goroutine").WriteTo(w, 0)
	close(release)
	done.Wait()
	return err
}

// Block writes the block profile after goroutines waited on channels, every event recorded.
func Block(w io.Writer) error {
	runtime.SetBlockProfileRate(1)
	defer runtime.SetBlockProfileRate(0)
	ch := make(chan int)
	go func() {
		for i := range 20 {
			time.Sleep(time.Millisecond)
			ch <- i
		}
		close(ch)
	}()
	for range ch {
	}
	return pprof.Lookup("block").WriteTo(w, 0)
}

// Mutex writes the mutex profile after goroutines contended on one mutex, every event recorded.
func Mutex(w io.Writer) error {
	prev := runtime.SetMutexProfileFraction(1)
	defer runtime.SetMutexProfileFraction(prev)
	var mu sync.Mutex
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 50 {
				mu.Lock()
				time.Sleep(100 * time.Microsecond)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return pprof.Lookup("mutex").WriteTo(w, 0)
}

// ManyStacks writes a heap profile with about n distinct stacks: each allocation comes from a
// random path of calls through two call sites on each of 32 levels, has a random size, and one
// in four is retained, the rest garbage.
func ManyStacks(w io.Writer, n int) error {
	prev := runtime.MemProfileRate
	runtime.MemProfileRate = 1
	defer func() { runtime.MemProfileRate = prev }()
	rng := rand.New(rand.NewPCG(1, 2))
	keep := make([][]byte, 0, n/4)
	for i := range n {
		b := branch(rng.Uint64(), 32, 16+rng.IntN(496))
		if i%4 == 0 {
			keep = append(keep, b)
		}
	}
	runtime.GC()
	err := pprof.Lookup("heap").WriteTo(w, 0)
	runtime.KeepAlive(keep)
	return err
}

// branch allocates size bytes at the end of the call path the low depth bits of path choose.
//
//go:noinline
func branch(path uint64, depth, size int) []byte {
	switch {
	case depth == 0:
		return make([]byte, size)
	case path&1 == 0:
		return branch(path>>1, depth-1, size)
	default:
		return branch(path>>1, depth-1, size)
	}
}
