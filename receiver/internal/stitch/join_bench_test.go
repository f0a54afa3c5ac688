package stitch

import (
	"net/netip"
	"testing"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"golang.org/x/exp/trace"

	"github.com/gostitch/gostitch/receiver/internal/ebpfsrc"
	"github.com/gostitch/gostitch/receiver/internal/tracesrc"
)

// Sizes of the join benchmark's window, at syncnode's rates (~250 blocks/s, 2 s windows): one
// task per block with five regions, run on 4 threads switching every 50µs, one read wait
// event per fetch read.
const (
	benchTasks   = 500
	benchThreads = 4
	benchSwitch  = 50_000 // ns between goroutine switches on a thread
	benchTaskLen = 4_000_000
	benchEvents  = 2_000
)

// benchJoin builds a window: a join index of benchTasks tasks over benchThreads threads and a
// batch of read waits, each on a thread while a task's goroutine runs there.
func benchJoin() (*joinIndex, *ebpfsrc.Batch) {
	x := newJoinIndex()
	x.tl = &tracesrc.Timeline{Threads: map[trace.ThreadID][]tracesrc.RunInterval{}}
	for i := range benchTasks {
		start := trace.Time(i * benchTaskLen)
		jt := &joinTask{id: trace.TaskID(i + 1), start: start, end: start + benchTaskLen,
			traceID: pcommon.TraceID{byte(i)}, span: pcommon.SpanID{byte(i)}}
		for r := range 5 {
			rs := start + trace.Time(r*benchTaskLen/5)
			jt.regions = append(jt.regions, joinRegion{g: trace.GoID(i + 1), start: rs, end: rs + benchTaskLen/5, span: pcommon.SpanID{byte(i), byte(r)}})
		}
		x.tasks[jt.id] = jt
	}
	for m := range benchThreads {
		for t := trace.Time(0); t < benchTasks*benchTaskLen; t += benchSwitch {
			task := t/benchTaskLen + 1
			x.tl.Threads[trace.ThreadID(m+1)] = append(x.tl.Threads[trace.ThreadID(m+1)],
				tracesrc.RunInterval{Start: t, End: t + benchSwitch, Goroutine: trace.GoID(task), Task: trace.TaskID(task)})
		}
	}
	b := &ebpfsrc.Batch{PID: 42, BootID: "boot", End: benchTasks * benchTaskLen}
	peer := netip.MustParseAddrPort("127.0.0.1:30303")
	for i := range benchEvents {
		mono := uint64(i)*(benchTasks*benchTaskLen/benchEvents) + 1_000
		b.Events = append(b.Events, ebpfsrc.Event{Kind: ebpfsrc.KindReadWait, Cookie: uint64(i%4 + 1), PID: 42,
			TID: uint32(i%benchThreads + 1), Mono: mono, Since: mono - 500, Value: 100, Peer: peer})
	}
	return x, b
}

// BenchmarkJoin measures the eBPF join per event: attribution alone, and attribution with the
// event's span built (socket spans and metrics).
func BenchmarkJoin(b *testing.B) {
	x, batch := benchJoin()
	b.Run("attribute", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if j := x.join(batch); j.stats.Unjoined != 0 {
				b.Fatalf("%d events not attributed", j.stats.Unjoined)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(batch.Events)), "ns/event")
	})
	b.Run("sockets", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			sockets(batch, socketIdentity, x)
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(batch.Events)), "ns/event")
	})
}

// BenchmarkJoinCPUSamples measures linking CPU samples to their spans into the OTLP profile,
// per sample, at syncnode's rates: 500 tasks of five regions, 2 samples each, from 40 distinct
// stacks of 24 frames (tracesrc shares one frames slice per stack and generation).
func BenchmarkJoinCPUSamples(b *testing.B) {
	stacks := make([][]trace.StackFrame, 40)
	for i := range stacks {
		for f := range 24 {
			stacks[i] = append(stacks[i], trace.StackFrame{PC: uint64(i*100 + f), Func: "main.f" + string(rune('a'+f)), File: "main.go", Line: uint64(f)})
		}
	}
	tasks := make([]*tracesrc.Task, benchTasks)
	for i := range tasks {
		t := &tracesrc.Task{ID: trace.TaskID(i + 1), Regions: make([]tracesrc.Region, 5)}
		for s := range 2 {
			t.Samples = append(t.Samples, tracesrc.CPUSample{Time: trace.Time(i*1000 + s), Region: (i + s) % 5, Stack: stacks[(i+s)%len(stacks)]})
		}
		tasks[i] = t
	}
	ids := &taskSpanIDs{regions: make([]pcommon.SpanID, 5)}
	tl := &tracesrc.Timeline{}
	b.ReportAllocs()
	for b.Loop() {
		p := cpuProfile{period: DefaultCPUSamplePeriod.Nanoseconds()}
		for i, t := range tasks {
			ids.task = pcommon.SpanID{byte(i), byte(i >> 8)}
			p.add(t, pcommon.TraceID{byte(i), byte(i >> 8)}, ids, tl)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*benchTasks*2), "ns/sample")
}
