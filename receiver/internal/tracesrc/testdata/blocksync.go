// Command blocksync writes a real Go execution trace of a small block-sync pipeline (the
// shape of examples/syncnode, denser): per peer a fetcher goroutine begins an "importBlock"
// task, logs height and peer (and, for every third block, otel.trace_id/otel.span_id),
// fetches the block over loopback TCP in a "fetch" region and queues it; the importer runs
// "deserialize", "verify" (with a "verifyTx" child task fanned out to workers for every fifth
// block), "store" (file writes, an fsync every 256 blocks) and "broadcast" regions and ends
// the task. Garbage keeps the GC busy. The CPU profiler runs meanwhile, so the trace holds
// CPU samples.
//
// It regenerates the fixtures of the tracesrc and stitch tests:
//
//	go run blocksync.go -duration 40ms > blocksync.trace
//
// and, with -cpuprofile and -heapprofile, the repository's top-level testdata (see its README).
//
// and, with -size, the large traces of the benchmarks (which run it themselves).
//
//go:build ignore

package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"runtime"
	"runtime/pprof"
	"runtime/trace"
	"sync"
	"sync/atomic"
	"time"
)

func main() {
	duration := flag.Duration("duration", 300*time.Millisecond, "trace this long (0: until -size)")
	size := flag.Int64("size", 0, "stop once the trace has this many bytes (0: no limit)")
	out := flag.String("o", "", "write the trace to this file instead of stdout")
	peers := flag.Int("peers", 3, "number of peers")
	cpuProfile := flag.String("cpuprofile", "", "write the CPU profile taken with the trace to this file")
	flag.IntVar(&verifyRounds, "verify-rounds", 1, "hash each block this many times in verify (more CPU per block)")
	heapProfile := flag.String("heapprofile", "", "write a heap profile to this file at the end, every 4 KiB allocated sampled")
	flag.Parse()
	if *heapProfile != "" {
		runtime.MemProfileRate = 4096
	}

	var w io.Writer = os.Stdout
	if *out != "" {
		f, err := os.Create(*out)
		if err != nil {
			log.Fatal(err)
		}
		defer f.Close()
		w = f
	}
	bw := bufio.NewWriterSize(w, 1<<20)
	defer bw.Flush()
	cw := &countingWriter{w: bw}

	ctx, stop := context.WithCancel(context.Background())
	addrs := make([]string, *peers)
	for i := range addrs {
		addrs[i] = servePeer(ctx, i)
	}
	jobs := make(chan job, 8)
	broadcasts := make(chan []byte, 64)
	go func() {
		for range broadcasts {
		}
	}()
	store, err := os.CreateTemp("", "blocksync-*.dat")
	if err != nil {
		log.Fatal(err)
	}
	defer os.Remove(store.Name())
	defer store.Close()

	if err := trace.Start(cw); err != nil {
		log.Fatal(err)
	}
	cpu := io.Discard // CPU samples land in the trace
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			log.Fatal(err)
		}
		defer f.Close()
		cpu = f
	}
	if err := pprof.StartCPUProfile(cpu); err != nil {
		log.Fatal(err)
	}
	var height atomic.Uint64
	var wg sync.WaitGroup
	for _, addr := range addrs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			fetcher(ctx, addr, &height, jobs)
		}()
	}
	done := make(chan struct{})
	go func() {
		importer(jobs, store, broadcasts)
		close(done)
	}()

	deadline := time.Now().Add(*duration)
	for (*duration == 0 || time.Now().Before(deadline)) && (*size == 0 || cw.n.Load() < *size) {
		time.Sleep(5 * time.Millisecond)
	}
	stop()
	wg.Wait()
	close(jobs)
	<-done
	pprof.StopCPUProfile()
	trace.Stop()
	if *heapProfile != "" {
		if err := os.WriteFile(*heapProfile, heap(), 0o644); err != nil {
			log.Fatal(err)
		}
	}
}

// heap returns the heap profile as of the last GC.
func heap() []byte {
	runtime.GC()
	var b bytes.Buffer
	if err := pprof.Lookup("heap").WriteTo(&b, 0); err != nil {
		log.Fatal(err)
	}
	return b.Bytes()
}

// countingWriter counts the trace bytes written.
type countingWriter struct {
	w io.Writer
	n atomic.Int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	c.n.Add(int64(len(p)))
	return c.w.Write(p)
}

type job struct {
	ctx    context.Context
	task   *trace.Task
	height uint64
	block  []byte
}

// servePeer answers each 8-byte height request with a block; peer 0 is slow.
func servePeer(ctx context.Context, idx int) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	context.AfterFunc(ctx, func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				var req [8]byte
				for {
					if _, err := io.ReadFull(c, req[:]); err != nil {
						return
					}
					if idx == 0 {
						time.Sleep(200 * time.Microsecond)
					}
					h := binary.BigEndian.Uint64(req[:])
					block := make([]byte, 1024+int(h%7)*512)
					for i := range block {
						block[i] = byte(h) + byte(i)
					}
					var hdr [4]byte
					binary.BigEndian.PutUint32(hdr[:], uint32(len(block)))
					if _, err := c.Write(append(hdr[:], block...)); err != nil {
						return
					}
				}
			}()
		}
	}()
	return ln.Addr().String()
}

// fetcher begins one importBlock task per block and fetches it from its peer.
func fetcher(ctx context.Context, addr string, height *atomic.Uint64, jobs chan<- job) {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	for ctx.Err() == nil {
		h := height.Add(1)
		tctx, task := trace.NewTask(context.Background(), "importBlock")
		trace.Log(tctx, "height", fmt.Sprint(h))
		trace.Log(tctx, "peer", addr)
		if h%3 == 0 {
			trace.Log(tctx, "otel.trace_id", fmt.Sprintf("%016x%016x", h, ^h))
			trace.Log(tctx, "otel.span_id", fmt.Sprintf("%016x", h*7919))
		}
		var block []byte
		trace.WithRegion(tctx, "fetch", func() {
			var req [8]byte
			binary.BigEndian.PutUint64(req[:], h)
			if _, err = c.Write(req[:]); err != nil {
				return
			}
			var hdr [4]byte
			if _, err = io.ReadFull(c, hdr[:]); err != nil {
				return
			}
			block = make([]byte, binary.BigEndian.Uint32(hdr[:]))
			_, err = io.ReadFull(c, block)
		})
		if err != nil {
			task.End()
			return
		}
		jobs <- job{ctx: tctx, task: task, height: h, block: block}
	}
}

// importer runs the import stages of each queued block and ends its task.
func importer(jobs <-chan job, store *os.File, broadcasts chan<- []byte) {
	var garbage [][]byte
	for j := range jobs {
		var words []uint64
		trace.WithRegion(j.ctx, "deserialize", func() {
			for i := 0; i+8 <= len(j.block); i += 8 {
				words = append(words, binary.LittleEndian.Uint64(j.block[i:]))
			}
			garbage = append(garbage, make([]byte, 64<<10))
			if len(garbage) > 64 {
				garbage = garbage[:0]
			}
		})
		trace.WithRegion(j.ctx, "verify", func() { verify(j, words) })
		trace.WithRegion(j.ctx, "store", func() {
			if _, err := store.Write(j.block); err != nil {
				log.Fatal(err)
			}
			if j.height%256 == 0 {
				if err := store.Sync(); err != nil {
					log.Fatal(err)
				}
			}
		})
		trace.WithRegion(j.ctx, "broadcast", func() { broadcasts <- j.block[:32] })
		j.task.End()
	}
	close(broadcasts)
}

// verifyRounds is how many times verify hashes a block.
var verifyRounds int

// verify hashes the block; every fifth block fans out to workers in a child task.
func verify(j job, words []uint64) {
	sum := sha256.Sum256(j.block)
	for range verifyRounds - 1 {
		sum = sha256.Sum256(append(sum[:], j.block...))
	}
	if j.height%5 != 0 {
		return
	}
	ctx, task := trace.NewTask(j.ctx, "verifyTx")
	defer task.End()
	var wg sync.WaitGroup
	var mu sync.Mutex
	for w := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			trace.WithRegion(ctx, "checkSignature", func() {
				s := sum
				for i := w; i < len(words); i += 3 {
					binary.LittleEndian.PutUint64(s[:], words[i])
					s = sha256.Sum256(s[:])
				}
				mu.Lock()
				sum[0] ^= s[0]
				mu.Unlock()
			})
		}()
	}
	wg.Wait()
}
