// Command grpcflow regenerates grpcflow.trace: the execution trace of internal/flowstall's real
// gRPC streams, 20 read at full speed and the last read slowly, so the slow stream's sends wait
// for flow-control window in grpc-go's transport.
//
// Regenerate with: go run grpcflow.go (in this directory).
//
//go:build ignore

package main

import (
	"context"
	"log"
	"os"
	"runtime/trace"
	"time"

	"github.com/gostitch/gostitch/internal/flowstall"
)

func main() {
	out, err := os.Create("grpcflow.trace")
	if err != nil {
		log.Fatal(err)
	}
	if err := trace.Start(out); err != nil {
		log.Fatal(err)
	}
	err = flowstall.Run(context.Background(), flowstall.Config{
		Streams: 20, Slow: 1, Chunks: 16, ChunkSize: 16 << 10, ReadDelay: 5 * time.Millisecond})
	trace.Stop()
	if err != nil {
		log.Fatal(err)
	}
	if err := out.Close(); err != nil {
		log.Fatal(err)
	}
}
