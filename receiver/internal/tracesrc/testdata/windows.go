// Command windows writes three real execution traces of one process:
//
//   - window1.trace and window2.trace, two back-to-back collection windows: a "longImport"
//     task (which logs otel.trace_id and otel.span_id), its "verifyTx" child task and a
//     "fetch" region begin in the first window and end in the second; short "importBlock"
//     tasks come and go in both;
//   - flight.trace, a runtime/trace.FlightRecorder snapshot taken while a "slowImport" task
//     that began long before is still running and after an "earlyImport" task that began
//     before the snapshot's oldest event ended inside it.
//
// Regenerate with: go run windows.go (in this directory).
//
//go:build ignore

package main

import (
	"context"
	"log"
	"os"
	"runtime/trace"
	"time"
)

func main() {
	bg := context.Background()
	w1 := create("window1.trace")
	if err := trace.Start(w1); err != nil {
		log.Fatal(err)
	}
	ctx, long := trace.NewTask(bg, "longImport")
	trace.Log(ctx, "otel.trace_id", "0af7651916cd43dd8448eb211c80319c")
	trace.Log(ctx, "otel.span_id", "b7ad6b7169203331")
	vctx, verify := trace.NewTask(ctx, "verifyTx")
	shortTasks(bg, 3)
	fetch := trace.StartRegion(ctx, "fetch")
	work(vctx, "checkSignature", 2*time.Millisecond)
	trace.Stop()
	closeFile(w1)

	w2 := create("window2.trace")
	if err := trace.Start(w2); err != nil {
		log.Fatal(err)
	}
	work(ctx, "deserialize", time.Millisecond)
	fetch.End()
	work(vctx, "checkSignature", time.Millisecond)
	verify.End()
	work(ctx, "store", time.Millisecond)
	long.End()
	shortTasks(bg, 3)
	trace.Stop()
	closeFile(w2)

	flight()
}

// flight takes a flight-recorder snapshot in the middle of a slow task.
func flight() {
	fr := trace.NewFlightRecorder(trace.FlightRecorderConfig{MinAge: 20 * time.Millisecond, MaxBytes: 64 << 10})
	if err := fr.Start(); err != nil {
		log.Fatal(err)
	}
	bg := context.Background()
	ctx, slow := trace.NewTask(bg, "slowImport")
	trace.Log(ctx, "height", "42")
	ectx, early := trace.NewTask(bg, "earlyImport")
	for range 250 { // churn enough generations that the snapshot starts after both tasks began
		shortTasks(bg, 5)
		time.Sleep(5 * time.Millisecond)
	}
	work(ectx, "store", time.Millisecond)
	early.End()
	work(ctx, "verify", 2*time.Millisecond)
	f := create("flight.trace")
	if _, err := fr.WriteTo(f); err != nil {
		log.Fatal(err)
	}
	closeFile(f)
	fr.Stop()
	slow.End()
}

// shortTasks runs n importBlock tasks with a fetch region each.
func shortTasks(bg context.Context, n int) {
	for range n {
		ctx, task := trace.NewTask(bg, "importBlock")
		work(ctx, "fetch", 200*time.Microsecond)
		task.End()
	}
}

// work runs a region that sleeps on a channel for d.
func work(ctx context.Context, region string, d time.Duration) {
	trace.WithRegion(ctx, region, func() {
		done := make(chan struct{})
		go func() {
			time.Sleep(d)
			close(done)
		}()
		<-done
	})
}

func create(name string) *os.File {
	f, err := os.Create(name)
	if err != nil {
		log.Fatal(err)
	}
	return f
}

func closeFile(f *os.File) {
	if err := f.Close(); err != nil {
		log.Fatal(err)
	}
}
