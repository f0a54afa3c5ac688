package stitch

import (
	"strings"
	"testing"
	"time"

	"github.com/gostitch/gostitch/receiver/internal/ebpfsrc"
	"github.com/gostitch/gostitch/receiver/internal/metadata"
	"github.com/gostitch/gostitch/receiver/internal/target"
	"github.com/gostitch/gostitch/receiver/internal/tracesrc"
)

// TestReadLegsOnSyncnode checks the legs of the joined "tcp read wait" spans of a real syncnode
// window with a slow peer: they add up to the span's duration, and reads that waited for the
// slow peer show the netpoller's wakeup. The diagnoses of its slow tasks name the data that
// waited in the kernel.
func TestReadLegsOnSyncnode(t *testing.T) {
	if testing.Short() {
		t.Skip("skipped in -short: runs syncnode for a few seconds")
	}
	run := runSyncnode(t)
	id := target.Identity{Name: "syncnode", PID: run.pid, Host: "h"}
	out, err := convertWindow(t, NewTraceConverter(id, TraceOptions{Threads: tracesrc.TaskThreadIntervals}), run.trace, &run.batch)
	if err != nil {
		t.Fatal(err)
	}
	kernel := 0
	for sp, s := range diagnoses(t, out) {
		if strings.Contains(s, "data waiting in the kernel on peer 127.0.0.1:") {
			kernel++
		}
		t.Logf("%s of %v: %s", sp.Name(), spanDuration(sp), s)
	}
	if kernel == 0 {
		t.Error("no diagnosis names the data waiting in the kernel")
	}
	td := out.sockets // the window's own join, which the diagnosis above read
	readAt := map[uint64]bool{}
	for _, e := range run.batch.Events {
		readAt[e.Mono] = readAt[e.Mono] || e.Kind == ebpfsrc.KindReadWait
	}
	if run.batch.MonoOffset == out.res.tl.MonoWallOffset() {
		t.Log("the eBPF source's clock offset equals the trace's: the clock check below cannot tell them apart")
	} else {
		t.Logf("clock offsets: eBPF source %d, trace %d", run.batch.MonoOffset, out.res.tl.MonoWallOffset())
	}
	readTasks := map[int64]bool{} // the tasks of joined read waits
	var joined, woken, legless int
	var netpoll, sched, tail time.Duration
	rss := td.ResourceSpans()
	for i := range rss.Len() {
		ss := rss.At(i).ScopeSpans().At(0).Spans()
		for j := range ss.Len() {
			sp := ss.At(j)
			attrs := sp.Attributes()
			if _, inTask := attrs.Get(metadata.AttributeTaskID); sp.Name() != spanTCPReadWait || !inTask {
				continue
			}
			joined++
			readTasks[intAttr(sp, metadata.AttributeTaskID)] = true
			// One clock per window: the span ends at its event's CLOCK_MONOTONIC time placed by
			// the trace's offset, as its task span is, not by the eBPF source's own.
			if end := int64(sp.EndTimestamp()) - out.res.tl.MonoWallOffset(); !readAt[uint64(end)] {
				t.Fatalf("joined read wait ends at %s, at no read wait's time on the trace's clock", sp.EndTimestamp())
			}
			leg := func(key string) (time.Duration, bool) {
				v, ok := attrs.Get(key)
				return time.Duration(v.Int()), ok
			}
			r, ok := leg(metadata.AttributeTimeReadReturn)
			if !ok {
				legless++
				continue
			}
			n, hasN := leg(metadata.AttributeTimeNetpollWakeup)
			s, hasS := leg(metadata.AttributeTimeSchedWait)
			if hasN != hasS || n < 0 || s < 0 || r < 0 {
				t.Fatalf("read wait legs netpoll %v (%v), sched %v (%v), read %v", n, hasN, s, hasS, r)
			}
			dur := sp.EndTimestamp().AsTime().Sub(sp.StartTimestamp().AsTime())
			if d := n + s + r - dur; d < -time.Microsecond || d > time.Microsecond {
				t.Errorf("legs %v + %v + %v = %v, span lasts %v", n, s, r, n+s+r, dur)
			}
			if hasN {
				woken++
				netpoll, sched, tail = netpoll+n, sched+s, tail+r
			}
		}
	}
	// One join pass: a task whose diagnosis names the kernel's share has joined read waits.
	for sp, s := range diagnoses(t, out) {
		if strings.Contains(s, "data waiting in the kernel") && !readTasks[intAttr(sp, metadata.AttributeTaskID)] {
			t.Errorf("task %d's diagnosis names data waiting in the kernel, but no read wait joined it: %s",
				intAttr(sp, metadata.AttributeTaskID), s)
		}
	}
	t.Logf("%d joined read waits: %d woken by the netpoller (mean netpoll %v, sched %v, read %v), %d without legs",
		joined, woken, netpoll/time.Duration(max(woken, 1)), sched/time.Duration(max(woken, 1)), tail/time.Duration(max(woken, 1)), legless)
	if joined < 50 || woken < joined/10 {
		t.Errorf("%d joined read waits, %d with a netpoll leg: too few", joined, woken)
	}
	if legless > joined/100 {
		t.Errorf("%d of %d joined read waits have no legs: their thread ran no goroutine of the trace", legless, joined)
	}
}
