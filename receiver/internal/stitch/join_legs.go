package stitch

import (
	"go.opentelemetry.io/collector/pdata/pcommon"
	"golang.org/x/exp/trace"

	"github.com/gostitch/gostitch/receiver/internal/ebpfsrc"
	"github.com/gostitch/gostitch/receiver/internal/metadata"
)

// readLegs splits the wait of read-wait event e, from the data ready in the kernel (e.Since) to
// the read returning it (e.Mono), at the transitions of the goroutine that read: the one
// running on M = e.TID at e.Mono. When the netpoller woke that goroutine (its last unblock
// from a network block at or before the read, with no block since: tracesrc.Timeline.NetWakeAt)
// at or after the data was ready, the legs are
//
//	netpoll_wakeup = woken − data ready, sched_wait = running − woken, read_return = read − running;
//
// otherwise the goroutine was not parked for this data (it was busy when the data came, or read
// it without blocking): netpoll_wakeup and sched_wait are absent and read_return is the whole
// wait. Each time is clamped into [data ready, read], so the legs add up to the span's duration
// exactly. Nothing is set when no goroutine of the trace ran on the thread at the read.
func (x *joinIndex) readLegs(attrs pcommon.Map, e *ebpfsrc.Event) {
	read := x.tl.FromMono(int64(e.Mono))
	iv, ok := x.tl.RunningOn(trace.ThreadID(e.TID), read)
	if !ok || e.TID == 0 {
		return
	}
	ready := x.tl.FromMono(int64(e.Since))
	running := ready
	if w, ok := x.tl.NetWakeAt(iv.Goroutine, read); ok && w.Woken >= ready {
		woken := min(w.Woken, read)
		running = min(max(w.Running, woken), read)
		attrs.PutInt(metadata.AttributeTimeNetpollWakeup, int64(woken.Sub(ready)))
		attrs.PutInt(metadata.AttributeTimeSchedWait, int64(running.Sub(woken)))
	}
	attrs.PutInt(metadata.AttributeTimeReadReturn, int64(read.Sub(running)))
}
