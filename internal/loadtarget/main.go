// Command loadtarget is a small Go service for gostitch's load test: it serves net/http/pprof,
// prints "pprof listening on http://ADDR" and handles -rate requests per second, each a
// runtime/trace task with regions, a log and pprof labels, that allocates, makes a loopback
// TCP round trip and takes a shared lock. At the default rate one uses about 1 % of a core.
//
// Usage:
//
//	go run ./internal/loadtarget -rate 20
package main

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"math/rand/v2"
	"net"
	"net/http"
	_ "net/http/pprof" // the endpoint gostitch scrapes
	"os/signal"
	"runtime"
	"runtime/pprof"
	"runtime/trace"
	"strconv"
	"sync"
	"syscall"
	"time"
)

func main() {
	addr := flag.String("pprof-addr", "127.0.0.1:0", "net/http/pprof listen address")
	rate := flag.Int("rate", 20, "requests per second")
	workers := flag.Int("workers", 4, "goroutines serving requests, each with its own TCP connection")
	flag.Parse()
	if err := run(*addr, *rate, *workers); err != nil {
		log.Fatal(err)
	}
}

func run(addr string, rate, workers int) error {
	if rate <= 0 || workers <= 0 {
		return fmt.Errorf("rate (%d) and workers (%d) must be positive", rate, workers)
	}
	runtime.SetBlockProfileRate(int(time.Millisecond))
	runtime.SetMutexProfileFraction(10)

	pprofLn, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("pprof listener: %w", err)
	}
	go func() { log.Print(http.Serve(pprofLn, nil)) }()
	echoLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("echo listener: %w", err)
	}
	go serveEcho(echoLn)

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	s := &service{jobs: make(chan int)}
	for range workers {
		conn, err := net.Dial("tcp", echoLn.Addr().String())
		if err != nil {
			return fmt.Errorf("dial echo server: %w", err)
		}
		defer conn.Close()
		go s.work(ctx, conn)
	}
	fmt.Printf("pprof listening on http://%s\n", pprofLn.Addr())

	tick := time.NewTicker(time.Second / time.Duration(rate))
	defer tick.Stop()
	for id := 0; ; id++ {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
		select {
		case s.jobs <- id:
		case <-ctx.Done():
			return nil
		}
	}
}

// serveEcho answers each length-prefixed message with its SHA-256.
func serveEcho(ln net.Listener) {
	for {
		conn, err := ln.Accept()
		if err != nil {
			return
		}
		go func() {
			defer conn.Close()
			r := bufio.NewReader(conn)
			for {
				msg, err := readMsg(r)
				if err != nil {
					return
				}
				sum := sha256.Sum256(msg)
				if err := writeMsg(conn, sum[:]); err != nil {
					return
				}
			}
		}()
	}
}

// service holds the state the requests share.
type service struct {
	jobs chan int
	mu   sync.Mutex
	// recent keeps the last payloads, so the heap profile has live data.
	recent [64][]byte
}

// work serves requests from s.jobs over its own connection to the echo server.
func (s *service) work(ctx context.Context, conn net.Conn) {
	r := bufio.NewReader(conn)
	for {
		select {
		case <-ctx.Done():
			return
		case id := <-s.jobs:
			if err := s.handle(ctx, id, conn, r); err != nil {
				if !errors.Is(err, net.ErrClosed) {
					log.Printf("request %d: %v", id, err)
				}
				return
			}
		}
	}
}

// handle is one request: a task with encode, roundtrip and store regions.
func (s *service) handle(ctx context.Context, id int, conn net.Conn, r *bufio.Reader) error {
	ctx, task := trace.NewTask(ctx, "request")
	defer task.End()
	trace.Log(ctx, "request.id", strconv.Itoa(id))
	route := []string{"get", "put", "list"}[id%3]
	var err error
	pprof.Do(ctx, pprof.Labels("route", route), func(ctx context.Context) {
		var payload []byte
		trace.WithRegion(ctx, "encode", func() {
			payload = make([]byte, 1024+rand.IntN(16<<10))
			for i := range payload {
				payload[i] = byte(id + i)
			}
		})
		var reply []byte
		trace.WithRegion(ctx, "roundtrip", func() {
			if err = writeMsg(conn, payload); err == nil {
				reply, err = readMsg(r)
			}
		})
		if err != nil {
			return
		}
		trace.WithRegion(ctx, "store", func() {
			s.mu.Lock()
			defer s.mu.Unlock()
			copy(payload, reply)
			s.recent[id%len(s.recent)] = payload
		})
	})
	return err
}

func writeMsg(w io.Writer, msg []byte) error {
	buf := binary.BigEndian.AppendUint32(make([]byte, 0, 4+len(msg)), uint32(len(msg)))
	_, err := w.Write(append(buf, msg...))
	return err
}

func readMsg(r *bufio.Reader) ([]byte, error) {
	var n uint32
	if err := binary.Read(r, binary.BigEndian, &n); err != nil {
		return nil, err
	}
	if n > 1<<20 {
		return nil, fmt.Errorf("message of %d bytes", n)
	}
	msg := make([]byte, n)
	_, err := io.ReadFull(r, msg)
	return msg, err
}
