package ebpfsrc

import (
	"io"
	"net"
	"os"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"

	"github.com/gostitch/gostitch/bpf"
	"github.com/gostitch/gostitch/internal/roottest"
)

// BenchmarkLoopback measures loopback TCP without the programs, with them attached (this
// process being the target) and with empty programs on the same hooks (the hooks' own cost),
// alternating off/on/empty benchRounds times because the machine is noisy; repeated names get
// #NN suffixes:
//
//	go test -run '^$' -bench Loopback -benchtime 500ms ./receiver/internal/ebpfsrc/
//
// The stats runs report the kernel's average ns per program run (BPF_STATS_RUN_TIME, which
// itself slows the runs, hence separate); the readwait-all runs make every read an event to
// push the ring buffer to its highest rate and report events/s and kernel drops.
const benchRounds = 8

func BenchmarkLoopback(b *testing.B) {
	roottest.Need(b, "loading eBPF programs")
	workloads := []struct {
		name string
		run  func(*testing.B)
	}{{"rr64", requestResponse}, {"stream64k", stream}}
	for _, w := range workloads {
		for range benchRounds {
			b.Run(w.name+"/off", w.run)
			b.Run(w.name+"/on", func(b *testing.B) {
				openSource(b, Options{}, uint32(os.Getpid()))
				w.run(b)
			})
			b.Run(w.name+"/empty", func(b *testing.B) {
				openSource(b, Options{empty: true}, uint32(os.Getpid()))
				w.run(b)
			})
		}
	}
	for _, w := range workloads {
		b.Run(w.name+"/stats", func(b *testing.B) {
			s := openSource(b, Options{}, uint32(os.Getpid()))
			stats, err := ebpf.EnableStats(unix.BPF_STATS_RUN_TIME)
			if err != nil {
				b.Fatal(err)
			}
			defer stats.Close()
			w.run(b)
			reportProgramStats(b, s)
		})
	}
	b.Run("rr64/readwait-all", func(b *testing.B) {
		s := openSource(b, Options{ReadWaitThreshold: time.Nanosecond}, uint32(os.Getpid()))
		done := make(chan struct{})
		events := make(chan int)
		go drain(b, s, done, events)
		start := time.Now()
		requestResponse(b)
		close(done)
		b.ReportMetric(float64(<-events)/time.Since(start).Seconds(), "events/s")
		lost, err := s.Lost()
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(lost.Events), "lost")
	})
}

// drain collects the test process's events every 100ms, as the receiver would, and sends
// their count once done closes.
func drain(b *testing.B, s *Source, done <-chan struct{}, count chan<- int) {
	n := 0
	collect := func() {
		batch, err := s.Collect(uint32(os.Getpid()), time.Now())
		if err != nil {
			b.Error(err)
		}
		n += len(batch.Events)
	}
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-tick.C:
			collect()
		case <-done:
			collect()
			count <- n
			return
		}
	}
}

func reportProgramStats(b *testing.B, s *Source) {
	p := s.progs
	for name, prog := range map[string]*ebpf.Program{"send": p[bpf.SocketProgOnSend], "recv": p[bpf.SocketProgOnRecv],
		"data_ready": p[bpf.SocketProgOnDataReady]} {
		st, err := prog.Stats()
		if err != nil {
			b.Fatal(err)
		}
		if st.RunCount > 0 {
			b.ReportMetric(float64(st.Runtime.Nanoseconds())/float64(st.RunCount), "ns/run-"+name)
			b.ReportMetric(float64(st.RunCount)/float64(b.N), "runs/op-"+name)
		}
	}
}

// reportCPU reports the process's CPU time (user and system, so the programs' too) per op
// when the returned function runs: less sensitive to other load than ns/op.
func reportCPU(b *testing.B) func() {
	cpu := func() time.Duration {
		var ru unix.Rusage
		if err := unix.Getrusage(unix.RUSAGE_SELF, &ru); err != nil {
			b.Fatal(err)
		}
		return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	start := cpu()
	return func() { b.ReportMetric(float64(cpu()-start)/float64(b.N), "cpu-ns/op") }
}

// loopbackPair connects to a loopback server that serve runs on.
func loopbackPair(b *testing.B, serve func(net.Conn)) net.Conn {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { ln.Close() })
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		serve(c)
	}()
	c, err := net.Dial("tcp4", ln.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Close() })
	return c
}

// requestResponse: one op is a 64-byte request and its 64-byte response.
func requestResponse(b *testing.B) {
	c := loopbackPair(b, func(c net.Conn) {
		buf := make([]byte, 64)
		for {
			if _, err := io.ReadFull(c, buf); err != nil {
				return
			}
			if _, err := c.Write(buf); err != nil {
				return
			}
		}
	})
	buf := make([]byte, 64)
	b.SetBytes(2 * 64)
	defer reportCPU(b)()
	for b.Loop() {
		if _, err := c.Write(buf); err != nil {
			b.Fatal(err)
		}
		if _, err := io.ReadFull(c, buf); err != nil {
			b.Fatal(err)
		}
	}
}

// stream: one op is a 64 KiB write the server reads.
func stream(b *testing.B) {
	read := make(chan int64, 1)
	c := loopbackPair(b, func(c net.Conn) {
		n, _ := io.Copy(io.Discard, c)
		read <- n
	})
	buf := make([]byte, 64<<10)
	b.SetBytes(int64(len(buf)))
	var sent int64
	defer reportCPU(b)()
	for b.Loop() {
		n, err := c.Write(buf)
		if err != nil {
			b.Fatal(err)
		}
		sent += int64(n)
	}
	c.(*net.TCPConn).CloseWrite()
	if got := <-read; got != sent {
		b.Fatalf("server read %d bytes of %d", got, sent)
	}
}
