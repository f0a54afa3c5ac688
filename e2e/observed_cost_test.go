package e2e

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/gostitch/gostitch/internal/roottest"
)

// costRunTime is the length of one measured run: one collection_interval of the receiver's
// default config, so that an observed run holds one whole window (its 10 s CPU profile and
// execution trace, then the conversion) and its share of idle time, as in production.
const costRunTime = 30 * time.Second

// costWarmup is how long otelapp runs under its load, observed as in the run, before the
// measured costRunTime: the collector's first window, whose trace is trace.duration long
// because the target's trace rate is not known yet (trace.budget_bytes), is left out, and the
// measured run holds the second, as a collector that has run for a while sees every window.
const costWarmup = 30 * time.Second

// costSetting is one way of observing the app: the gostitch receiver's settings beside its
// target, and the parts they turn on, which each observed run checks actually ran.
type costSetting struct {
	name     string
	receiver string // YAML under receivers.gostitch after targets; "" with observed false
	observed bool
	cpu      bool // a CPU profile every window
	trace    bool // an execution trace every window
	ebpf     bool // the eBPF socket hooks
}

// costSettings: not observed (A against A: the noise floor of the comparison), the default
// config (all six profiles, a 10 s CPU profile and execution trace every 30 s window, eBPF on,
// the trace shortened to trace.budget_bytes at a busy target), each part alone, the default
// with a shorter execution trace, the setting that trades detail (the tasks of 2 s of every
// 30 s instead of 10 s) for cost, and the default without the budget (every trace 10 s).
var costSettings = []costSetting{
	{name: "unobserved"},
	{name: "default", observed: true, cpu: true, trace: true, ebpf: true, receiver: `
    ebpf: {mode: "on"}`},
	{name: "trace_only", observed: true, trace: true, receiver: `
    pprof: {profiles: []}
    ebpf: {mode: "off"}`},
	{name: "cpu_only", observed: true, cpu: true, receiver: `
    pprof: {profiles: [cpu]}
    trace: {duration: 0s}
    ebpf: {mode: "off"}`},
	{name: "ebpf_only", observed: true, ebpf: true, receiver: `
    pprof: {profiles: []}
    trace: {duration: 0s}
    ebpf: {mode: "on"}`},
	{name: "trace_2s_of_30s", observed: true, cpu: true, trace: true, ebpf: true, receiver: `
    trace: {duration: 2s}
    ebpf: {mode: "on"}`},
	{name: "no_trace_budget", observed: true, cpu: true, trace: true, ebpf: true, receiver: `
    trace: {budget_bytes: 0}
    ebpf: {mode: "on"}`},
}

// costWorkload is an app the benchmark drives for costRunTime and reads its outcome from.
type costWorkload struct {
	name    string
	op      string // what it counts: req, block
	latency string // the latency quantile it reports
	// warmup is how long the app runs, observed or not as in the run, before the measured
	// costRunTime; result covers only the latter.
	warmup time.Duration
	// start runs the app with its net/http/pprof on pprofPort and its OTLP spans (if any) sent
	// to otlpPort; result reads its operations, throughput and latency once it has exited.
	start  func(b *testing.B, bin, pprofPort, otlpPort string) (app costApp, result func() (ops, rate, latencyMs float64))
	binary string // built once per benchmark
}

// costOutcome is one run's throughput and latency, the app's CPU time per operation (user and
// system: the kernel's eBPF hooks run in the app's system time) and the collector's CPU time.
type costOutcome struct {
	rate, latencyMs, appCPUPerOp, collectorCPU float64
}

// BenchmarkCostToObservedApp measures what observing costs the observed app (issue #16 goal 4):
// each iteration is a pair of runs of the workload for costRunTime, not observed (A) and
// observed (B), each with a fresh app and a fresh collector that receives the app's OTLP spans,
// so that the only difference is the gostitch receiver (and the gostitchjoin processor) in B.
// The pairs alternate their order, AB then BA (-benchtime 4x makes ABBAABBA), so that neither
// always runs first; the B and B, A and A run back to back where pairs meet give the noise floor
// of the same run. It reports A's and B's mean throughput and latency, the medians of the pairs'
// ratios, that noise floor, and the collector's CPU in B; the collector runs on the same cores as
// the app, as a node agent does. A pair takes two minutes on otelapp (each run after its
// costWarmup) and one on syncnode: 14 sub-benchmarks × 4 pairs take about 85 minutes;
// -bench 'CostToObservedApp//^default$' runs the default config alone on both apps.
//
//	GOSTITCH_DIST=$PWD/dist/otelcol-gostitch go test -run '^$' -bench CostToObservedApp -benchtime 4x -timeout 120m ./e2e/
func BenchmarkCostToObservedApp(b *testing.B) {
	dist := distBinary(b)
	roottest.Need(b, "the default config's eBPF socket hooks")
	for _, w := range []*costWorkload{otelappCost(), syncnodeCost()} {
		b.Run(w.name, func(b *testing.B) {
			w.binary = buildExample(b, w.name)
			for _, s := range costSettings {
				b.Run(s.name, func(b *testing.B) {
					var a, o []costOutcome
					for i := 0; b.Loop(); i++ {
						if i%2 == 0 {
							a = append(a, runCost(b, dist, w, costSetting{}))
							o = append(o, runCost(b, dist, w, s))
						} else {
							o = append(o, runCost(b, dist, w, s))
							a = append(a, runCost(b, dist, w, costSetting{}))
						}
					}
					reportCost(b, w, a, o)
				})
			}
		})
	}
}

// otelappCost drives examples/otelapp with its closed-loop load: each of 8 workers sends its
// next request (HTTP and gRPC alternating) when its last one returns, so throughput is the
// service's capacity, and what observing takes from the app shows as fewer requests/s; a fixed
// rate below capacity would hide it, and one above would spin the load's ticker. Latencies are
// the client's own (-load-report).
func otelappCost() *costWorkload {
	return &costWorkload{name: "otelapp", op: "req", latency: "p99", warmup: costWarmup,
		start: func(b *testing.B, bin, pprofPort, otlpPort string) (costApp, func() (float64, float64, float64)) {
			report := filepath.Join(b.TempDir(), "report.json")
			app := startCostApp(b, bin, pprofPort, "-http", "127.0.0.1:0", "-grpc", "127.0.0.1:0", "-pprof", "127.0.0.1:"+pprofPort,
				"-otlp", "127.0.0.1:"+otlpPort, "-load-closed", "-load-concurrency", "8", "-load-warmup", costWarmup.String(),
				"-load-duration", costRunTime.String(), "-exit-after-load", "-load-report", report)
			return app, func() (float64, float64, float64) {
				data, err := os.ReadFile(report)
				require.NoError(b, err, "otelapp's load report")
				var r struct {
					Requests, Failed int64
					Seconds          float64
					P99Ms            float64 `json:"p99_ms"`
				}
				require.NoError(b, json.Unmarshal(data, &r), "%s", data)
				require.Zero(b, r.Failed, "failed requests: %s", data)
				require.Positive(b, r.Requests, "requests: %s", data)
				return float64(r.Requests), float64(r.Requests) / r.Seconds, r.P99Ms
			}
		}}
}

// syncnodeSummary is syncnode's exit line: blocks, seconds, blocks/s and the p95 of its
// importBlock tasks (the quantile it prints).
var syncnodeSummary = regexp.MustCompile(`summary: imported (\d+) blocks in \S+s \(([\d.]+) blocks/s\); importBlock task ms avg \S+ p95 ([\d.]+)`)

// syncnodeCost runs examples/syncnode for costRunTime, syncing from 4 peers as fast as it can
// (CPU-bound: ed25519 verification; -fsync-every 0 keeps the shared disk out of the number).
func syncnodeCost() *costWorkload {
	return &costWorkload{name: "syncnode", op: "block", latency: "p95",
		start: func(b *testing.B, bin, pprofPort, _ string) (costApp, func() (float64, float64, float64)) {
			app := startCostApp(b, bin, pprofPort, "-pprof-addr", "127.0.0.1:"+pprofPort, "-log-every", "0",
				"-fsync-every", "0", "-duration", costRunTime.String())
			return app, func() (float64, float64, float64) {
				m := syncnodeSummary.FindStringSubmatch(app.log.String())
				require.NotNil(b, m, "syncnode's summary line in:\n%s", tail(app.log.String(), 2000))
				var v [3]float64
				for i := range v {
					var err error
					v[i], err = strconv.ParseFloat(m[i+1], 64)
					require.NoError(b, err)
				}
				require.Positive(b, v[0], "blocks imported")
				return v[0], v[1], v[2]
			}
		}}
}

// costApp is a running app: its process, and its command, whose ProcessState tells its CPU
// time once it has exited.
type costApp struct {
	*loggedProcess
	cmd *exec.Cmd
}

// startCostApp starts an app and waits until its net/http/pprof answers.
func startCostApp(b *testing.B, bin, pprofPort string, args ...string) costApp {
	cmd := exec.Command(bin, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL} // no orphan if the benchmark dies
	app := costApp{startLogged(b, filepath.Base(bin), cmd), cmd}
	require.Eventually(b, func() bool { return httpOK("http://127.0.0.1:" + pprofPort + "/debug/pprof/") },
		30*time.Second, 50*time.Millisecond, "%s serves pprof", bin)
	return app
}

// runCost runs the workload once under setting s: the app, then the collector beside it
// (observing it or not), until the app exits; it checks that every part of s ran. The app's
// and the collector's CPU count from the end of the workload's warm-up.
func runCost(b *testing.B, dist string, w *costWorkload, s costSetting) costOutcome {
	ports := freePorts(b, 3) // the app's pprof, the collector's OTLP receiver, its self-telemetry
	app, result := w.start(b, w.binary, ports[0], ports[1])
	measured := time.Now().Add(w.warmup)
	config := filepath.Join(b.TempDir(), "collector.yaml")
	require.NoError(b, os.WriteFile(config, []byte(costConfig(w.name, s, ports)), 0o600))
	cmd := exec.Command(dist, "--config", config, "--feature-gates=service.profilesSupport")
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	col := startLogged(b, "collector", cmd)
	metricsURL := "http://127.0.0.1:" + ports[2] + "/metrics"
	require.Eventually(b, func() bool { return httpOK(metricsURL) }, 30*time.Second, 50*time.Millisecond, "collector up")
	time.Sleep(time.Until(measured))
	cpu0, appCPU0 := cpuSeconds(b, cmd.Process.Pid), cpuSeconds(b, app.cmd.Process.Pid)

	select {
	case <-app.done:
		require.NoError(b, app.err, "%s exits cleanly:\n%s", w.name, tail(app.log.String(), 2000))
	case <-col.done:
		b.Fatalf("collector exited during the run: %v\n%s", col.err, tail(col.log.String(), 3000))
	case <-time.After(costRunTime + time.Minute):
		b.Fatalf("%s still runs a minute after its %v", w.name, w.warmup+costRunTime)
	}
	out := costOutcome{collectorCPU: cpuSeconds(b, cmd.Process.Pid) - cpu0}
	appState := app.cmd.ProcessState
	if s.observed {
		checkCostParts(b, w.name, s, httpBody(metricsURL), col.log.String())
	}
	require.NoError(b, cmd.Process.Signal(syscall.SIGTERM))
	select {
	case <-col.done:
	case <-time.After(30 * time.Second):
		b.Fatal("collector did not stop within 30s of SIGTERM")
	}
	ops, rate, latency := result()
	out.rate, out.latencyMs = rate, latency
	out.appCPUPerOp = ((appState.UserTime() + appState.SystemTime()).Seconds() - appCPU0) / ops
	b.Logf("%s %s: %.1f %s/s, %s %.2f ms, app CPU %.1f µs/%s, collector CPU %.2f s",
		w.name, costName(s), out.rate, w.op, w.latency, out.latencyMs, out.appCPUPerOp*1e6, w.op, out.collectorCPU)
	return out
}

// costName is the setting's name, "A" for a run not observed.
func costName(s costSetting) string {
	if !s.observed {
		return "A"
	}
	return "B " + s.name
}

// checkCostParts fails b unless each part of s ran in the window: a successful CPU profile,
// execution trace, attached eBPF programs; and nothing of a part s leaves off.
func checkCostParts(b *testing.B, target string, s costSetting, metrics, log string) {
	b.Helper()
	counts := collectionCounts(metrics)
	for kind, on := range map[string]bool{"cpu": s.cpu, "trace": s.trace} {
		if on {
			require.Positive(b, counts[[3]string{target, kind, "success"}], "%s: a successful %s collection; collector log:\n%s", s.name, kind, tail(log, 3000))
		} else {
			require.Zero(b, counts[[3]string{target, kind, "success"}], "%s: no %s collection", s.name, kind)
		}
	}
	ebpfOn := sumSamples(metrics, "gostitch_receiver_ebpf_programs") > 0
	require.Equal(b, s.ebpf, ebpfOn, "%s: eBPF programs attached; collector log:\n%s", s.name, tail(log, 3000))
}

// costConfig is the collector of one run: an OTLP receiver for the app's spans to the debug
// exporter and, observed, the gostitch receiver on the app (its target named after the app's
// service.name) with s's settings and the gostitchjoin processor on the app's spans, as in
// examples/otel-app.yaml.
func costConfig(service string, s costSetting, ports []string) string {
	var receiver, join, pipelines string
	if s.observed {
		receiver = fmt.Sprintf(`
  gostitch:
    targets:
      - name: %s
        endpoint: http://127.0.0.1:%s%s`, service, ports[0], s.receiver)
		join = "gostitchjoin, "
		pipelines = `
    traces/gostitch: {receivers: [gostitch], processors: [batch], exporters: [debug]}
    metrics: {receivers: [gostitch], processors: [batch], exporters: [debug]}
    profiles: {receivers: [gostitch], exporters: [debug]}`
	}
	return fmt.Sprintf(`# %s, %s
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:%s%s
processors:
  batch:
  gostitchjoin:
exporters:
  debug:
    verbosity: basic
service:
  pipelines:
    traces/app: {receivers: [otlp], processors: [%sbatch], exporters: [debug]}%s
`, service, costName(s), ports[1], receiver, join, pipelines) + selfTelemetry(ports[2])
}

// reportCost reports the means of A's and B's runs, B's ratios to A as the medians of the
// pairs' ratios (each B against the A of its pair, run next to it, which cancels slow drift of
// the machine), and the noise floor: the largest difference between two runs of the same
// setting back to back where ABBA pairs meet (B of pair 0 and B of pair 1, A of 1 and A of 2, …).
func reportCost(b *testing.B, w *costWorkload, a, o []costOutcome) {
	mean := func(runs []costOutcome, f func(costOutcome) float64) float64 {
		var sum float64
		for _, r := range runs {
			sum += f(r)
		}
		return sum / float64(len(runs))
	}
	medianRatio := func(f func(costOutcome) float64) float64 {
		ratios := make([]float64, len(a))
		for i := range a {
			ratios[i] = f(o[i]) / f(a[i])
		}
		slices.Sort(ratios)
		if n := len(ratios); n%2 == 0 {
			return (ratios[n/2-1] + ratios[n/2]) / 2
		}
		return ratios[len(ratios)/2]
	}
	// sameSettingSpread is the largest |second/first - 1| of the runs back to back; 0 with one pair.
	sameSettingSpread := func(f func(costOutcome) float64) float64 {
		var spread float64
		for i := 0; i+1 < len(a); i++ {
			first, second := o[i], o[i+1] // pair i ends with B and pair i+1 begins with it
			if i%2 == 1 {
				first, second = a[i], a[i+1]
			}
			spread = max(spread, math.Abs(f(second)/f(first)-1))
		}
		return spread
	}
	rate := func(r costOutcome) float64 { return r.rate }
	latency := func(r costOutcome) float64 { return r.latencyMs }
	cpu := func(r costOutcome) float64 { return r.appCPUPerOp * 1e6 }
	b.ReportMetric(mean(a, rate), "A-"+w.op+"/s")
	b.ReportMetric(mean(o, rate), "B-"+w.op+"/s")
	b.ReportMetric(medianRatio(rate), "B/A-"+w.op+"/s")
	b.ReportMetric(mean(a, cpu), "A-app-cpu-us/"+w.op)
	b.ReportMetric(mean(o, cpu), "B-app-cpu-us/"+w.op)
	b.ReportMetric(medianRatio(cpu), "B/A-app-cpu/"+w.op)
	b.ReportMetric(mean(a, latency), "A-"+w.latency+"-ms")
	b.ReportMetric(mean(o, latency), "B-"+w.latency+"-ms")
	b.ReportMetric(medianRatio(latency), "B/A-"+w.latency)
	b.ReportMetric(sameSettingSpread(rate), "noise-"+w.op+"/s")
	b.ReportMetric(sameSettingSpread(cpu), "noise-app-cpu/"+w.op)
	b.ReportMetric(sameSettingSpread(latency), "noise-"+w.latency)
	collector := func(r costOutcome) float64 { return r.collectorCPU / costRunTime.Seconds() }
	b.ReportMetric(mean(a, collector), "A-collector-cores")
	b.ReportMetric(mean(o, collector), "B-collector-cores")
}
