package e2e

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Load test parameters (issue #7): 50 small Go services scraped every 10s by one collector.
const (
	loadTargets  = 50
	loadInterval = 10 * time.Second
	// clockTicks is USER_HZ, the unit of utime and stime in /proc/<pid>/stat (100 on Linux).
	clockTicks = 100
)

// loadKinds are the collections every window makes: all six profiles and the execution trace.
var loadKinds = []string{"cpu", "trace", "heap", "allocs", "goroutine", "block", "mutex"}

// TestFiftyTargets runs the distribution on 50 loadtarget processes at a 10s interval for
// GOSTITCH_LOAD_SECONDS (35 by default, about three windows). From the receiver's
// self-telemetry it asserts that no target starves another: each got every kind of collection
// in at least three quarters of its expected windows, and none lags another by more than one
// window; failures stay within 1 % and nothing is dropped. It logs the collector's CPU and
// peak memory and never asserts on them.
func TestFiftyTargets(t *testing.T) {
	bin := distBinary(t)
	run := 35 * time.Second
	if s := os.Getenv("GOSTITCH_LOAD_SECONDS"); s != "" {
		n, err := strconv.Atoi(s)
		require.NoError(t, err, "GOSTITCH_LOAD_SECONDS")
		run = time.Duration(n) * time.Second
	}
	// Windows end about one interval apart from the start; half an interval goes to startup and
	// drift. A quarter of them is slack for a busy machine.
	expected := int((run - loadInterval/2) / loadInterval)
	minWindows := expected * 3 / 4
	require.Positive(t, minWindows, "GOSTITCH_LOAD_SECONDS=%v is too short for the %v interval", run.Seconds(), loadInterval)

	targets := startLoadTargets(t, loadTargets)
	telemetryPort := freePorts(t, 1)[0]
	config := filepath.Join(t.TempDir(), "collector.yaml")
	require.NoError(t, os.WriteFile(config, []byte(loadConfig(targets, telemetryPort)), 0o600))

	started := time.Now()
	cmd := exec.Command(bin, "--config", config, "--feature-gates=service.profilesSupport")
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL} // no orphan if the test dies
	col := startLogged(t, "collector", cmd)
	metricsURL := "http://127.0.0.1:" + telemetryPort + "/metrics"
	require.Eventually(t, func() bool { return httpOK(metricsURL) }, 30*time.Second, 100*time.Millisecond, "self-telemetry endpoint up")

	pids := make([]int, len(targets))
	for i, tg := range targets {
		pids[i] = tg.pid
	}
	colCPU0, targetsCPU0, t0 := cpuSeconds(t, cmd.Process.Pid), cpuSeconds(t, pids...), time.Now()
	select {
	case <-col.done:
		t.Fatalf("collector exited during the run: %v", col.err)
	case <-time.After(time.Until(started.Add(run))):
	}
	colCPU, targetsCPU, wall := cpuSeconds(t, cmd.Process.Pid)-colCPU0, cpuSeconds(t, pids...)-targetsCPU0, time.Since(t0)
	peakRSS := vmHWM(t, cmd.Process.Pid)

	metrics := httpBody(metricsURL)
	counts := collectionCounts(metrics)
	windows := make([]int, len(targets))
	var successes, failures int
	for i, tg := range targets {
		name := tg.name
		windows[i] = counts[[3]string{name, "trace", "success"}]
		for _, kind := range loadKinds {
			n := counts[[3]string{name, kind, "success"}]
			successes += n
			assert.GreaterOrEqual(t, n, minWindows, "target %s: successful %s collections", name, kind)
			if f := counts[[3]string{name, kind, "failure"}]; f > 0 {
				failures += f
				t.Logf("target %s: %d failed %s collections", name, f, kind)
			}
		}
	}
	lo, hi := slices.Min(windows), slices.Max(windows)
	ebpf := !strings.Contains(col.log.String(), "eBPF socket source off")
	t.Logf("load: %d targets, %v interval, %v run, eBPF %t: collector CPU %.2fs in %.1fs = %.3f cores, peak RSS (VmHWM) %.1f MiB; "+
		"windows per target min %d max %d (expected %d); targets' own CPU %.2fs = %.3f cores; collections %d ok %d failed",
		len(targets), loadInterval, run, ebpf, colCPU, wall.Seconds(), colCPU/wall.Seconds(), float64(peakRSS)/(1<<10),
		lo, hi, expected, targetsCPU, targetsCPU/wall.Seconds(), successes, failures)
	assert.LessOrEqual(t, hi-lo, 1, "no target lags another by more than one window")
	assert.LessOrEqual(t, failures*100, successes, "failed collections within 1 percent of the successful ones")
	assert.Zero(t, sumSamples(metrics, "gostitch_receiver_dropped"), "items dropped by the receiver")
	for _, signal := range []string{"spans", "metric_points", "profile_samples"} {
		assert.Positive(t, sumSamples(metrics, "otelcol_exporter_sent_"+signal), "%s reach the exporter", signal)
		for _, lost := range []string{"otelcol_receiver_refused_", "otelcol_receiver_failed_", "otelcol_exporter_send_failed_"} {
			assert.Zero(t, sumSamples(metrics, lost+signal), lost+signal)
		}
	}

	require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
	select {
	case <-col.done:
		require.NoError(t, col.err, "collector exits cleanly on SIGTERM")
	case <-time.After(30 * time.Second):
		t.Fatal("collector did not stop within 30s of SIGTERM")
	}
}

// loadTarget is one running internal/loadtarget process.
type loadTarget struct {
	name     string
	pid      int
	endpoint string // its net/http/pprof base URL
}

// startLoadTargets builds internal/loadtarget and runs n of them until the test ends.
func startLoadTargets(t *testing.T, n int) []loadTarget {
	t.Helper()
	bin := buildProgram(t, "github.com/gostitch/gostitch/internal/loadtarget")
	targets := make([]loadTarget, n)
	for i := range targets {
		cmd := exec.Command(bin)
		cmd.Stderr = os.Stderr
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL} // no orphans if the test dies
		stdout, err := cmd.StdoutPipe()
		require.NoError(t, err)
		require.NoError(t, cmd.Start(), "start loadtarget")
		t.Cleanup(func() {
			cmd.Process.Signal(syscall.SIGTERM)
			cmd.Wait()
		})
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if addr, ok := strings.CutPrefix(sc.Text(), "pprof listening on "); ok {
				targets[i] = loadTarget{name: fmt.Sprintf("load-%02d", i), pid: cmd.Process.Pid, endpoint: addr}
				break
			}
		}
		require.NotEmpty(t, targets[i].endpoint, "loadtarget %d printed its pprof address", i)
		go io.Copy(io.Discard, stdout)
	}
	return targets
}

// loadConfig is the collector configuration of the load test: every target scraped for all
// six profiles and an execution trace as long as the interval (continuous coverage), eBPF when
// privileges allow, everything to the debug exporter, self-telemetry on a loopback port.
func loadConfig(targets []loadTarget, telemetryPort string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "receivers:\n  gostitch:\n    collection_interval: %v\n    targets:\n", loadInterval)
	for _, tg := range targets {
		fmt.Fprintf(&b, "      - name: %s\n        endpoint: %s\n", tg.name, tg.endpoint)
	}
	fmt.Fprintf(&b, `    pprof:
      profiles: [cpu, heap, allocs, goroutine, block, mutex]
      cpu_duration: %v
    trace:
      duration: %v
    ebpf:
      mode: auto
processors:
  batch:
exporters:
  debug:
    verbosity: basic
service:
  pipelines:
    traces: {receivers: [gostitch], processors: [batch], exporters: [debug]}
    metrics: {receivers: [gostitch], processors: [batch], exporters: [debug]}
    profiles: {receivers: [gostitch], exporters: [debug]}
`, loadInterval, loadInterval)
	b.WriteString(selfTelemetry(telemetryPort))
	return b.String()
}

// cpuSeconds is the CPU time (user + system) the processes have used so far.
func cpuSeconds(t testing.TB, pids ...int) float64 {
	t.Helper()
	var ticks int
	for _, pid := range pids {
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		require.NoError(t, err)
		// The fields after the command name, which may hold spaces, start with field 3 (state);
		// utime and stime are fields 14 and 15.
		fields := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+1:]))
		require.Greater(t, len(fields), 12, "/proc/%d/stat", pid)
		for _, f := range fields[11:13] {
			n, err := strconv.Atoi(f)
			require.NoError(t, err, "/proc/%d/stat", pid)
			ticks += n
		}
	}
	return float64(ticks) / clockTicks
}

// vmHWM is the process's peak resident set size in KiB.
func vmHWM(t *testing.T, pid int) int {
	t.Helper()
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	require.NoError(t, err)
	m := regexp.MustCompile(`(?m)^VmHWM:\s+(\d+) kB$`).FindSubmatch(status)
	require.NotNil(t, m, "VmHWM in /proc/%d/status", pid)
	kib, err := strconv.Atoi(string(m[1]))
	require.NoError(t, err)
	return kib
}

// promSample matches one sample line of the Prometheus text format: name, labels, value.
var (
	promSample = regexp.MustCompile(`(?m)^(\w+)(?:\{(.*)\})? (\S+)$`)
	promLabel  = regexp.MustCompile(`(\w+)="((?:[^"\\]|\\.)*)"`)
)

// collectionCounts reads gostitch_receiver_collections by (target, kind, outcome).
func collectionCounts(metrics string) map[[3]string]int {
	counts := map[[3]string]int{}
	for _, m := range promSample.FindAllStringSubmatch(metrics, -1) {
		if m[1] != "gostitch_receiver_collections" {
			continue
		}
		labels := map[string]string{}
		for _, l := range promLabel.FindAllStringSubmatch(m[2], -1) {
			labels[l[1]] = l[2]
		}
		v, err := strconv.ParseFloat(m[3], 64)
		if err == nil {
			counts[[3]string{labels["gostitch_target"], labels["gostitch_kind"], labels["gostitch_outcome"]}] += int(v)
		}
	}
	return counts
}

// sumSamples adds up every sample of a metric.
func sumSamples(metrics, name string) float64 {
	var sum float64
	for _, m := range promSample.FindAllStringSubmatch(metrics, -1) {
		if v, err := strconv.ParseFloat(m[3], 64); m[1] == name && err == nil {
			sum += v
		}
	}
	return sum
}
