package tracesrc

import "golang.org/x/exp/trace"

// The run after a network block. A goroutine parked in the netpoller is woken when its socket
// is ready, and its next run reads what came: the eBPF source sees that read on the run's
// thread (ebpfsrc.KindReadIdle, KindReadWait), which names the socket the goroutine waited on
// and when its data reached the kernel. Episode.Resumed keeps that run for the network-block
// episodes of tasks (those outside tasks are handed over when they end, before it).

// Run is one stretch a goroutine executed on one OS thread.
type Run struct {
	Thread trace.ThreadID
	// Start and End bound the run; End is 0 when the run outlasted what the trace showed of
	// the task.
	Start, End trace.Time
}

// netEpisode is the network-block episode of a task whose goroutine's next run is to be noted.
type netEpisode struct {
	ts *taskState
	i  int
}

// noteNetEpisode marks episode i of ts, a network block of g that just ended, as waiting for
// g's next run.
func (g *gState) noteNetEpisode(ts *taskState, i int, reason string) {
	g.netEp = netEpisode{}
	if reason == Network && i >= 0 {
		g.netEp = netEpisode{ts: ts, i: i}
	}
}

// netEpisodeRun notes g's run on thread m from now, after its network block.
func (g *gState) netEpisodeRun(m trace.ThreadID, now trace.Time) {
	if ts := g.netEp.ts; ts != nil && !ts.emitted {
		ts.t.Episodes[g.netEp.i].Resumed = Run{Thread: m, Start: now}
		return
	}
	g.netEp = netEpisode{}
}

// netEpisodeStop ends the run that netEpisodeRun noted, at now.
func (g *gState) netEpisodeStop(now trace.Time) {
	if ts := g.netEp.ts; ts != nil && !ts.emitted {
		if r := &ts.t.Episodes[g.netEp.i].Resumed; r.Start != 0 {
			r.End = now
		}
	}
	g.netEp = netEpisode{}
}
