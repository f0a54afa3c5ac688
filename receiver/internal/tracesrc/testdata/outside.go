// Command outside writes outside.trace, a real execution trace of work done outside any task,
// the way the Go team's own trace test programs do it ($GOROOT/src/internal/trace/testdata/
// testprog): as cpu-profile.go, a "cpuHogger" region opened with context.Background() around a
// CPU-bound loop while the CPU profiler runs, so the trace's CPU samples fall in it; as
// annotations.go, a trace.Log with context.Background(); as wait-on-pipe.go, a goroutine
// blocked in a read(2) on a pipe; and a goroutine blocked on a channel receive. One "request"
// task runs alongside, so the trace holds work in a task too.
//
// Regenerate with: go run outside.go (in this directory).
//
//go:build ignore

package main

import (
	"context"
	"io"
	"log"
	"os"
	"runtime/pprof"
	"runtime/trace"
	"syscall"
	"time"
)

func main() {
	out, err := os.Create("outside.trace")
	if err != nil {
		log.Fatal(err)
	}
	if err := pprof.StartCPUProfile(io.Discard); err != nil {
		log.Fatal(err)
	}
	var p [2]int
	if err := syscall.Pipe(p[:]); err != nil {
		log.Fatal(err)
	}
	piped, received := make(chan struct{}), make(chan struct{})
	ch := make(chan int)
	go func() { // blocked on the pipe (wait-on-pipe.go)
		var b [1]byte
		if _, err := syscall.Read(p[0], b[:]); err != nil {
			log.Fatal(err)
		}
		close(piped)
	}()
	go func() { // blocked on a channel
		<-ch
		close(received)
	}()
	time.Sleep(10 * time.Millisecond)
	if err := trace.Start(out); err != nil {
		log.Fatal(err)
	}
	bg := context.Background()

	ctx, task := trace.NewTask(bg, "request")
	trace.WithRegion(ctx, "handle", func() { time.Sleep(5 * time.Millisecond) })
	task.End()

	func() { // cpu-profile.go's region outside tasks
		defer trace.StartRegion(bg, "cpuHogger").End()
		trace.Log(bg, "phase", "hogging") // annotations.go's log, without a task
		trace.WithRegion(bg, "inner", func() { hog(200 * time.Millisecond) })
	}()

	time.Sleep(20 * time.Millisecond)
	ch <- 1
	<-received
	if _, err := syscall.Write(p[1], []byte{1}); err != nil {
		log.Fatal(err)
	}
	<-piped
	trace.Stop()
	pprof.StopCPUProfile()
	if err := out.Close(); err != nil {
		log.Fatal(err)
	}
}

var sink int

// hog keeps the CPU busy for d.
func hog(d time.Duration) {
	for start := time.Now(); time.Since(start) < d; {
		for i := range 100000 {
			sink += i * i
		}
	}
}
