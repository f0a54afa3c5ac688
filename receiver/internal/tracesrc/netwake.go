package tracesrc

import (
	"sort"

	"golang.org/x/exp/trace"
)

// Network is the block reason of a goroutine parked in the netpoller.
const Network = "network"

// NetWake is one wakeup of a goroutine by the netpoller: its unblock from a "network" block,
// when it next ran, and when it next blocked. It is what the eBPF join needs to split a read's
// wait into legs; 24 bytes each, kept as Options.Threads asks (see Timeline.NetWakes).
type NetWake struct {
	// Woken is when the goroutine became runnable; Running is when it began to execute next.
	Woken, Running trace.Time
	// Until is when the goroutine next blocked (for any reason) after Running; 0 when it had
	// not by the end of the trace.
	Until trace.Time
}

// NetWakeAt returns the wakeup of goroutine g that its execution at time t follows: the last one
// woken by t, provided g did not block again between it and t. It reports false when g has
// not been woken by the netpoller since it last blocked: what it does at t found its data
// without waiting in the netpoller.
func (tl *Timeline) NetWakeAt(g trace.GoID, t trace.Time) (NetWake, bool) {
	ws := tl.NetWakes[g]
	lo := sort.Search(len(ws), func(i int) bool { return ws[i].Woken > t })
	if lo == 0 {
		return NetWake{}, false
	}
	w := ws[lo-1]
	if w.Until != 0 && w.Until < t {
		return NetWake{}, false
	}
	return w, true
}

// netUnblock notes that g leaves a block at now for state to: a network block ending in
// runnable is a netpoller wakeup, logged when it first runs (see netRun).
func (s *state) netUnblock(g *gState, to trace.GoState, now trace.Time) {
	if s.tl.NetWakes == nil || to != trace.GoRunnable || s.reasons[g.reason] != Network {
		return
	}
	if g.cur != nil || g.began || s.opts.Threads == AllThreadIntervals {
		g.netWoken = now
	}
}

// netRun logs a pending netpoller wakeup of g when it begins to execute at now.
func (s *state) netRun(g *gState, now trace.Time) {
	if g.netWoken == 0 {
		return
	}
	s.tl.NetWakes[g.id] = append(s.tl.NetWakes[g.id], NetWake{Woken: g.netWoken, Running: now})
	g.netWoken, g.netOpen = 0, true
}

// netBlock closes g's last wakeup when it blocks again at now.
func (s *state) netBlock(g *gState, now trace.Time) {
	g.netWoken = 0
	if !g.netOpen {
		return
	}
	g.netOpen = false
	if ws := s.tl.NetWakes[g.id]; len(ws) > 0 {
		ws[len(ws)-1].Until = now
	}
}
