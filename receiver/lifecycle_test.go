package gostitchreceiver

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componentstatus"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/receiver/receivertest"
	"go.uber.org/goleak"

	"github.com/gostitch/gostitch/receiver/internal/collect"
	"github.com/gostitch/gostitch/receiver/internal/metadata"
	"github.com/gostitch/gostitch/receiver/internal/target"
)

// bpfFDs counts this process's file descriptors of eBPF programs, maps and links: a receiver
// whose source stays loaded keeps some open.
func bpfFDs(t *testing.T) int {
	t.Helper()
	entries, err := os.ReadDir("/proc/self/fd")
	require.NoError(t, err)
	n := 0
	for _, e := range entries {
		if dest, err := os.Readlink(filepath.Join("/proc/self/fd", e.Name())); err == nil && strings.HasPrefix(dest, "anon_inode:bpf") {
			n++
		}
	}
	return n
}

// failedStartLeavesNothing starts a receiver on cfg with TMPDIR set to tmp and eBPF on when
// root, and checks that Start fails naming want and leaves no goroutine, eBPF object or spool
// directory behind; the Shutdown the service calls next succeeds.
func failedStartLeavesNothing(t *testing.T, cfg *Config, tmp, want string) {
	t.Helper()
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	if os.Geteuid() == 0 {
		cfg.EBPF.Mode = EBPFModeOn
	}
	t.Setenv("TMPDIR", tmp)
	fds := bpfFDs(t)
	require.NoError(t, cfg.Validate())

	ctx := context.Background()
	r, err := NewFactory().CreateTraces(ctx, receivertest.NewNopSettings(metadata.Type), cfg, consumertest.NewNop())
	require.NoError(t, err)
	err = r.Start(ctx, componenttest.NewNopHost())
	require.ErrorContains(t, err, want)
	assert.Equal(t, fds, bpfFDs(t), "eBPF programs, maps or links left open")
	spools, _ := os.ReadDir(tmp)
	assert.Empty(t, spools, "spool directory left behind")
	require.NoError(t, r.Shutdown(ctx))
}

func TestStartFailsAtTargetClient(t *testing.T) {
	cfg := fileConfig(t.TempDir())
	tgt := endpointTarget("app", "http://127.0.0.1:1", 0)
	tgt.TLS.CAFile = filepath.Join(t.TempDir(), "missing-ca.pem")
	cfg.Targets = append(cfg.Targets, tgt)
	failedStartLeavesNothing(t, cfg, t.TempDir(), `target "app": create HTTP client`)
}

func TestStartFailsAtSpoolDirectory(t *testing.T) {
	// TMPDIR names a file: no directory can be made under it.
	file := filepath.Join(t.TempDir(), "file")
	require.NoError(t, os.WriteFile(file, nil, 0o600))
	failedStartLeavesNothing(t, fileConfig(t.TempDir()), file, "create spool directory")
}

func TestStartFailsAtPushListener(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	cfg := fileConfig(t.TempDir())
	cfg.Push.NetAddr.Endpoint = ln.Addr().String()
	failedStartLeavesNothing(t, cfg, t.TempDir(), "listen")
}

func TestStartFailsAtPushServer(t *testing.T) {
	cfg := fileConfig(t.TempDir())
	require.NoError(t, confmap.NewFromStringMap(map[string]any{"push": map[string]any{
		"endpoint": "127.0.0.1:0", "auth": map[string]any{"authenticator": "missing"},
	}}).Unmarshal(cfg))
	failedStartLeavesNothing(t, cfg, t.TempDir(), "push endpoint 127.0.0.1:0")
}

// statusHost records the status events a component reports.
type statusHost struct {
	component.Host
	events []*componentstatus.Event
}

func (h *statusHost) Report(ev *componentstatus.Event) { h.events = append(h.events, ev) }

// TestStartLeavesStatusToTheService: the service reports StatusStarting before Start and
// StatusOK once it returns nil (graph.StartAll in service v0.165.0); a component reports only
// what happens later, such as a fatal error of its push endpoint.
func TestStartLeavesStatusToTheService(t *testing.T) {
	host := &statusHost{Host: componenttest.NewNopHost()}
	ctx := context.Background()
	r, err := NewFactory().CreateTraces(ctx, receivertest.NewNopSettings(metadata.Type), fileConfig(t.TempDir()), consumertest.NewNop())
	require.NoError(t, err)
	require.NoError(t, r.Start(ctx, host))
	require.NoError(t, r.Shutdown(ctx))
	assert.Empty(t, host.events)
}

// TestTraceConversionStopsWithItsContext: a trace read slowly (a pipe fed a chunk at a time)
// stops converting soon after its context is cancelled, as at shutdown or when an upload's
// client leaves, and is not counted as bad input.
func TestTraceConversionStopsWithItsContext(t *testing.T) {
	data, err := os.ReadFile("internal/tracesrc/testdata/syncnode.trace")
	require.NoError(t, err)
	fifo := filepath.Join(t.TempDir(), "slow.trace")
	require.NoError(t, syscall.Mkfifo(fifo, 0o600))
	stop, written := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(written)
		f, err := os.OpenFile(fifo, os.O_WRONLY, 0)
		if err != nil {
			return
		}
		defer f.Close()
		for chunk := range slices.Chunk(data, 512) { // the whole trace takes over a second
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
			}
			if _, err := f.Write(chunk); err != nil {
				return
			}
		}
	}()
	defer func() {
		close(stop)
		<-written
	}()

	tel := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tel.Shutdown(context.Background())) })
	set := receivertest.NewNopSettings(metadata.Type)
	set.TelemetrySettings = tel.NewTelemetrySettings()
	r, err := newReceiver(fileConfig(t.TempDir()), set)
	require.NoError(t, err)
	w := &collect.Window{Target: target.Identity{Name: "offline"}, Origin: collect.OriginFile,
		Traces: []collect.Trace{collect.NewFileTrace(fifo, int64(len(data)))}}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	err = r.ConsumeWindow(ctx, w)
	assert.Less(t, time.Since(start), 700*time.Millisecond, "the conversion stops at its context's deadline")
	require.ErrorIs(t, err, context.DeadlineExceeded)
	assert.ErrorContains(t, err, "conversion stopped")
	assert.NotErrorIs(t, err, collect.ErrBadInput)
	assert.Zero(t, traceDrops(t, tel))
}

func TestHostNameFromTheEnvironment(t *testing.T) {
	t.Setenv(hostNameEnv, "node-1")
	assert.Equal(t, "node-1", hostName())
	t.Setenv(hostNameEnv, "")
	h, _ := os.Hostname()
	assert.Equal(t, h, hostName())
}
