//go:build ignore

// Writes a small annotated execution trace; go1.27.3.trace was written with
// GOTOOLCHAIN=go1.27.3 go run newer-go.go go1.27.3.trace (Go 1.27 still writes the go 1.26 format).
package main

import (
	"context"
	"os"
	"runtime/trace"
	"time"
)

func main() {
	f, err := os.Create(os.Args[1])
	if err != nil {
		panic(err)
	}
	if err := trace.Start(f); err != nil {
		panic(err)
	}
	ctx, task := trace.NewTask(context.Background(), "work")
	trace.WithRegion(ctx, "step", func() { time.Sleep(10 * time.Millisecond) })
	trace.Log(ctx, "k", "v")
	task.End()
	trace.Stop()
	if err := f.Close(); err != nil {
		panic(err)
	}
}
