package gostitchreceiver

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/gostitch/gostitch/internal/roottest"
	"github.com/gostitch/gostitch/internal/syncnodetest"
	"github.com/gostitch/gostitch/receiver/internal/metadata"
)

// TestRestartedTargetIsFollowed: a target restarted with a new pid on the same port is
// resolved again and the eBPF pid filter follows: the old pid leaves the filter once its
// process is gone, and the socket events of the new process come out.
func TestRestartedTargetIsFollowed(t *testing.T) {
	roottest.Need(t, "loading eBPF programs")
	if testing.Short() {
		t.Skip("skipped in -short: runs syncnode twice")
	}
	addr := unusedAddr(t)
	args := []string{"-pprof-addr", addr, "-peers", "2", "-txs", "5", "-block-interval", "5ms", "-fsync-every", "0", "-duration", "60s"}
	first := syncnodetest.Start(t, args...)
	cfg := scrapeConfig(false, endpointTarget("node", "http://"+addr, 5*time.Second))
	cfg.EBPF.Mode = EBPFModeOn
	cfg.EBPF.ReadWaitThreshold = time.Microsecond
	s, logs := startReceiver(t, cfg)
	require.Eventually(t, func() bool { return socketSpansOf(s.traces.AllTraces())[first.PID] > 0 }, 20*time.Second, 50*time.Millisecond,
		"no eBPF span of the first process")
	assert.Equal(t, first.PID, filteredPID(cfg, "node"))

	require.NoError(t, first.Stop())
	require.Eventually(t, func() bool { return filteredPID(cfg, "node") == 0 }, 10*time.Second, 20*time.Millisecond,
		"the pid of the stopped process is withdrawn from the eBPF filter")
	second := syncnodetest.Start(t, args...)
	require.NotEqual(t, first.PID, second.PID)
	require.Eventually(t, func() bool { return socketSpansOf(s.traces.AllTraces())[second.PID] > 0 }, 20*time.Second, 50*time.Millisecond,
		"no eBPF span of the restarted process")
	assert.Equal(t, second.PID, filteredPID(cfg, "node"))
	gone := logs.FilterMessage("Target process is gone and no process listens on its endpoint").All()
	require.NotEmpty(t, gone)
	assert.Equal(t, int64(first.PID), gone[0].ContextMap()["old_pid"])
}

// filteredPID is the pid the running receiver of cfg keeps in its eBPF filter for target: the
// controller's, which the filter follows.
func filteredPID(cfg *Config, target string) int {
	instances.mu.Lock()
	r := instances.m[cfg].receiver
	instances.mu.Unlock()
	return r.controller.PID(target)
}

// socketSpansOf counts the eBPF spans by their process.pid.
func socketSpansOf(traces []ptrace.Traces) map[int]int {
	out := map[int]int{}
	for _, td := range traces {
		for i := range td.ResourceSpans().Len() {
			sss := td.ResourceSpans().At(i).ScopeSpans()
			for j := range sss.Len() {
				spans := sss.At(j).Spans()
				for k := range spans.Len() {
					attrs := spans.At(k).Attributes()
					if src, ok := attrs.Get(metadata.AttributeSource); !ok || src.Str() != metadata.AttributeSourceEbpf {
						continue
					}
					if pid, ok := attrs.Get(metadata.AttributeProcessPID); ok {
						out[int(pid.Int())]++
					}
				}
			}
		}
	}
	return out
}
