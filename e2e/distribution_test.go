// Package e2e tests the collector distribution built by ocb (dist/otelcol-gostitch) with real
// processes: the syncnode demo as the target, the collector as users run it.
package e2e

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gostitch/gostitch/internal/syncnodetest"
)

// selfTelemetry is the telemetry section, under service:, of a test collector's config:
// detailed self-telemetry served to Prometheus on 127.0.0.1:port, where the tests read it.
func selfTelemetry(port string) string {
	return `  telemetry:
    metrics:
      level: detailed
      readers:
        - pull:
            exporter:
              prometheus:
                host: 127.0.0.1
                port: ` + port + "\n"
}

// distBinary is the collector under test; `make test` builds it and sets GOSTITCH_DIST.
func distBinary(t testing.TB) string {
	t.Helper()
	bin := os.Getenv("GOSTITCH_DIST")
	if bin == "" {
		t.Skip("GOSTITCH_DIST is not set: run `make test`, which builds dist/otelcol-gostitch first")
	}
	_, err := os.Stat(bin)
	require.NoError(t, err, "GOSTITCH_DIST=%s", bin)
	return bin
}

func TestDistributionListsItsComponents(t *testing.T) {
	out, err := exec.Command(distBinary(t), "components").CombinedOutput()
	require.NoError(t, err, "%s", out)
	for _, name := range []string{"gostitch", "gostitchjoin", "otlp", "batch", "memory_limiter", "debug", "otlp_grpc", "otlp_http", "pprof", "health_check"} {
		assert.Contains(t, string(out), "name: "+name+"\n", "components lists %s", name)
	}
}

func TestDistributionRunsTheDemoConfig(t *testing.T) {
	bin := distBinary(t)
	node := "http://" + syncnodetest.Start(t, "-peers", "3", "-slow-peer", "1").Addr
	ports := freePorts(t, 4)
	var log syncBuffer
	cmd := exec.Command(bin, "--config", "../examples/demo.yaml", "--feature-gates=service.profilesSupport")
	cmd.Env = append(os.Environ(),
		"SYNCNODE_PPROF="+node,
		"DEMO_OTLP_GRPC=127.0.0.1:"+ports[0],
		"DEMO_HEALTH=127.0.0.1:"+ports[1],
		"DEMO_TELEMETRY_PORT="+ports[2],
		"DEMO_VERBOSITY=detailed",
		"DEMO_JAEGER_OTLP=127.0.0.1:"+ports[3], // nothing listens: the export to Jaeger fails and is retried, the rest goes on
	)
	cmd.Stdout, cmd.Stderr = &log, &log
	require.NoError(t, cmd.Start())
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("collector log:\n%s", log.String())
		}
	})

	require.Eventually(t, func() bool { return httpOK("http://127.0.0.1:" + ports[1] + "/") }, 60*time.Second, 200*time.Millisecond,
		"health_check reports ready")

	// The first window ends after the 10s CPU profile and trace; the receiver's own telemetry
	// then counts successful collections of the syncnode target.
	metricsURL := "http://127.0.0.1:" + ports[2] + "/metrics"
	require.Eventually(t, func() bool {
		body := httpBody(metricsURL)
		return strings.Contains(body, `gostitch_receiver_collections{`) &&
			containsLine(body, `gostitch_kind="trace"`, `gostitch_outcome="success"`, `gostitch_target="syncnode"`) &&
			containsLine(body, `gostitch_kind="cpu"`, `gostitch_outcome="success"`)
	}, 40*time.Second, 500*time.Millisecond, "self-telemetry counts the scrapes")
	assert.Contains(t, log.String(), `Resolved target pid`)
	// It also counts the events read per source and how they were stitched (the join's hit rate).
	require.Eventually(t, func() bool {
		body := httpBody(metricsURL)
		return containsLine(body, `gostitch_receiver_events`, `gostitch_source="go.trace"`, `gostitch_target="syncnode"`) &&
			containsLine(body, `gostitch_receiver_events`, `gostitch_source="pprof"`) &&
			containsLine(body, `gostitch_receiver_events`, `gostitch_source="ebpf"`) &&
			containsLine(body, `gostitch_receiver_joined`, `gostitch_join_method="thread"`, `gostitch_source="ebpf"`) &&
			containsLine(body, `gostitch_receiver_joined`, `gostitch_join_method="task"`, `gostitch_source="go.trace"`)
	}, 20*time.Second, 500*time.Millisecond, "self-telemetry counts events per source and join methods")

	// What the debug exporter printed: spans from the execution trace and the kernel, metrics
	// from all three sources and profiles, all with the target's service.name.
	require.Eventually(t, func() bool {
		out := log.String()
		return strings.Contains(out, "gostitch.source: Str(go.trace)") && strings.Contains(out, "Name           : importBlock") &&
			strings.Contains(out, "gostitch.source: Str(ebpf)") && strings.Contains(out, "Name           : tcp connection") &&
			strings.Contains(out, "-> Name: go.schedule.duration") && strings.Contains(out, "-> Name: gostitch.tcp.bytes") &&
			strings.Contains(out, "-> Name: go.goroutine.count") && strings.Contains(out, "Sample #")
	}, 20*time.Second, 500*time.Millisecond, "spans, metrics and profiles of every source reach the exporter")
	assert.Contains(t, log.String(), "-> service.name: Str(syncnode)")

	require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
	select {
	case err := <-exited:
		require.NoError(t, err, "collector exits cleanly on SIGTERM")
	case <-time.After(30 * time.Second):
		t.Fatal("collector did not stop within 30s of SIGTERM")
	}
	assert.Contains(t, log.String(), "Shutdown complete")
	assert.NotContains(t, log.String(), "panic")
}

func freePorts(t testing.TB, n int) []string {
	t.Helper()
	var ports []string
	var listeners []net.Listener
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		listeners = append(listeners, l)
		ports = append(ports, fmt.Sprint(l.Addr().(*net.TCPAddr).Port))
	}
	for _, l := range listeners {
		l.Close()
	}
	return ports
}

func httpOK(url string) bool {
	resp, err := http.Get(url)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

func httpBody(url string) string {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// containsLine reports whether one line of text holds every part.
func containsLine(text string, parts ...string) bool {
	for _, line := range strings.Split(text, "\n") {
		all := true
		for _, p := range parts {
			all = all && strings.Contains(line, p)
		}
		if all {
			return true
		}
	}
	return false
}
