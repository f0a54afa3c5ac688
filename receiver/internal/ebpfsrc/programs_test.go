package ebpfsrc

import (
	"os"
	"slices"
	"strings"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/gostitch/gostitch/bpf"
	"github.com/gostitch/gostitch/internal/roottest"
)

// TestRefusedOptionalProgram: the verifier rejects on_data_ready; the source comes up without
// it, says so once, and everything but kernel queue delays flows.
func TestRefusedOptionalProgram(t *testing.T) {
	roottest.Need(t, "loading eBPF programs")
	core, logs := observer.New(zap.InfoLevel)
	s, err := Open(ModeOn, Options{refuse: []string{bpf.SocketProgOnDataReady}}, zap.New(core))
	if err != nil {
		t.Fatalf("Open with an optional program refused: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Error(err)
		}
	})
	pid := uint32(os.Getpid())
	if err := s.SetPIDs([]uint32{pid}); err != nil {
		t.Fatal(err)
	}

	if logs.Len() != 1 {
		t.Fatalf("Open logged %d lines, want one: %v", logs.Len(), logs.All())
	}
	line := logs.All()[0]
	missing, _ := line.ContextMap()["missing"].([]any)
	if line.Message != "eBPF socket source on" || line.Level != zap.WarnLevel || len(missing) != 1 ||
		!strings.HasPrefix(missing[0].(string), "on_data_ready: EACCES: kernel queue delay") {
		t.Errorf("start line %s %q, missing %v; want one warning naming on_data_ready, EACCES and what is lost", line.Level, line.Message, missing)
	}
	if attached, _ := line.ContextMap()["attached"].([]any); len(attached) != len(programs)-1 || slices.Contains(attached, any(bpf.SocketProgOnDataReady)) {
		t.Errorf("attached %v, want every program but on_data_ready", attached)
	}
	for _, p := range s.Programs() {
		if (p.Err != nil) != (p.Name == bpf.SocketProgOnDataReady) {
			t.Errorf("Programs: %s has error %v", p.Name, p.Err)
		}
	}

	cv := converse(t, 3000, 70000)
	o := collectUntil(t, s, pid, func(o *observed) bool {
		return o.has(KindClose, cv.client) && o.has(KindClose, cv.server)
	})
	for _, k := range []Kind{KindConnect, KindEstablished, KindClose} {
		if !o.has(k, cv.client) {
			t.Errorf("no %s event for the client socket", k)
		}
	}
	got := o.totals[cv.client]
	if got == nil || got.BytesSent != 3000 || got.BytesReceived != 70000 || got.RTT.Count() == 0 {
		t.Fatalf("client counters %+v, want 3000 bytes sent, 70000 received and round-trip times", got)
	}
	if got.QueueDelay.Count() != 0 {
		t.Errorf("%d queue delay samples without on_data_ready", got.QueueDelay.Count())
	}
	if logs.Len() != 1 {
		t.Errorf("the loss was logged again: %v", logs.All()[1:])
	}
}

// TestRefusedRequiredProgram: without on_send the source is off: mode on fails the start
// naming the program, mode auto warns once and goes on without it.
func TestRefusedRequiredProgram(t *testing.T) {
	roottest.Need(t, "loading eBPF programs")
	opts := Options{refuse: []string{bpf.SocketProgOnSend}}
	if s, err := Open(ModeOn, opts, zap.NewNop()); s != nil || err == nil ||
		!strings.Contains(err.Error(), "required program on_send: ") || !strings.Contains(err.Error(), "permission denied") {
		t.Errorf("on: %v, %v; want an error naming on_send and the errno", s, err)
	}
	core, logs := observer.New(zap.InfoLevel)
	if s, err := Open(ModeAuto, opts, zap.New(core)); s != nil || err != nil {
		t.Fatalf("auto: %v, %v; want nothing", s, err)
	}
	if logs.Len() != 1 || logs.All()[0].Level != zap.WarnLevel ||
		!strings.HasPrefix(logs.All()[0].Message, "eBPF socket source off") ||
		!strings.Contains(logs.All()[0].ContextMap()["error"].(string), "required program on_send") {
		t.Errorf("auto logged %v, want one warning naming on_send", logs.All())
	}
}
