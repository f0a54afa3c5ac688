// Command otelapp is an ordinary Go service instrumented with OpenTelemetry and nothing else: an
// HTTP server wrapped with otelhttp and a gRPC server with the otelgrpc stats handler, exporting
// spans over OTLP gRPC with the SDK's batch span processor, and net/http/pprof on its own port.
// It holds no gostitch code and makes no runtime/trace calls of its own: whatever gostitch shows
// of it comes from the OTel SDK (which begins a runtime/trace task for every recording span while
// the execution tracer runs), the Go runtime and the kernel.
//
// Each request (HTTP GET /work?key=K, or gRPC otelapp.Work/Do with K as bytes) hashes a little,
// fetches K from a backend over a pooled loopback TCP connection inside a client span named
// "backend fetch", and optionally takes a contended lock and makes garbage. The backend is a
// plain TCP server in the same process, not instrumented, like a cache or database.
//
// Flags:
//
//	-http ADDR              HTTP listen address (default 127.0.0.1:8080; port 0 = any)
//	-grpc ADDR              gRPC listen address (default 127.0.0.1:9090)
//	-pprof ADDR             net/http/pprof listen address (default 127.0.0.1:6060)
//	-otlp HOST:PORT         OTLP gRPC endpoint, without TLS; when empty, the SDK's standard
//	                        OTEL_EXPORTER_OTLP_ENDPOINT variables, else 127.0.0.1:4317
//	-service NAME           service.name (default: $OTEL_SERVICE_NAME, else otelapp)
//	-slow-backend DUR       the backend waits DUR before each reply (default 0)
//	-lock                   requests update a shared table under one mutex (contention)
//	-gc-pressure            requests allocate about 1 MiB of short-lived garbage each
//	-load-rate N            the built-in load client sends N requests/s to the servers over
//	                        loopback, alternating HTTP and gRPC (default 0: no load)
//	-load-duration DUR      how long the load runs (default 30s)
//	-load-warmup DUR        the load runs this long first, left out of its summary and report
//	                        (default 0)
//	-load-concurrency N     the load's concurrent requests at most (default 8)
//	-load-closed            closed-loop load instead of -load-rate: each of the
//	                        -load-concurrency workers sends its next request as soon as
//	                        its last one returns, so the load runs at the service's capacity
//	-load-report FILE       when the load is done, write to FILE one JSON object: requests,
//	                        failed, seconds, p50_ms and p99_ms of the client's latencies
//	-exit-after-load        exit (flushing spans) when the load is done
//	-truth FILE             write one JSON line per server span (for tests: see truth.go)
//	-block-profile-rate N   runtime.SetBlockProfileRate (default 0: off, as in Go)
//	-mutex-profile-fraction N  runtime.SetMutexProfileFraction (default 0: off, as in Go)
//
// It binds to loopback only unless told otherwise, prints "pprof listening on http://ADDR" (and
// the same for http and grpc) once serving, and stops on SIGINT or SIGTERM, flushing its spans.
//
// Usage, with the gostitch collector on examples/otel-app.yaml:
//
//	go run ./examples/otelapp -load-rate 200 -load-duration 10m -slow-backend 2ms -lock
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"
)

// maxLoadRate is the highest -load-rate: one request per µs.
const maxLoadRate = 1_000_000

// config holds the command-line flags.
type config struct {
	httpAddr, grpcAddr, pprofAddr string
	otlpEndpoint, service         string
	slowBackend                   time.Duration
	lock, gcPressure              bool
	loadRate, loadConcurrency     int
	loadDuration, loadWarmup      time.Duration
	loadClosed                    bool
	loadReport                    string
	exitAfterLoad                 bool
	truthPath                     string
	blockProfileRate              int
	mutexProfileFraction          int
}

func parseFlags(args []string, stderr io.Writer) (config, error) {
	var c config
	fs := flag.NewFlagSet("otelapp", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.httpAddr, "http", "127.0.0.1:8080", "HTTP listen address (port 0 = any)")
	fs.StringVar(&c.grpcAddr, "grpc", "127.0.0.1:9090", "gRPC listen address (port 0 = any)")
	fs.StringVar(&c.pprofAddr, "pprof", "127.0.0.1:6060", "net/http/pprof listen address (port 0 = any)")
	fs.StringVar(&c.otlpEndpoint, "otlp", "", "OTLP gRPC host:port, without TLS (empty: $OTEL_EXPORTER_OTLP_ENDPOINT, else "+defaultOTLP+")")
	fs.StringVar(&c.service, "service", "", "service.name (empty: $OTEL_SERVICE_NAME, else "+defaultService+")")
	fs.DurationVar(&c.slowBackend, "slow-backend", 0, "the backend waits this long before each reply")
	fs.BoolVar(&c.lock, "lock", false, "requests update a shared table under one mutex")
	fs.BoolVar(&c.gcPressure, "gc-pressure", false, "requests allocate about 1 MiB of short-lived garbage each")
	fs.IntVar(&c.loadRate, "load-rate", 0, "requests/s of the built-in loopback load client, HTTP and gRPC alternating (0 = no load)")
	fs.DurationVar(&c.loadDuration, "load-duration", 30*time.Second, "how long the load runs")
	fs.DurationVar(&c.loadWarmup, "load-warmup", 0, "the load runs this long first, left out of its summary and report")
	fs.IntVar(&c.loadConcurrency, "load-concurrency", 8, "concurrent requests of the load at most")
	fs.BoolVar(&c.loadClosed, "load-closed", false, "closed-loop load: each worker sends its next request when its last one returns (instead of -load-rate)")
	fs.StringVar(&c.loadReport, "load-report", "", "write the load's requests, failures, seconds, p50_ms and p99_ms as JSON to this file")
	fs.BoolVar(&c.exitAfterLoad, "exit-after-load", false, "exit, flushing spans, when the load is done")
	fs.StringVar(&c.truthPath, "truth", "", "write one JSON line per server span to this file (ground truth for tests)")
	fs.IntVar(&c.blockProfileRate, "block-profile-rate", 0, "runtime.SetBlockProfileRate (0 = off)")
	fs.IntVar(&c.mutexProfileFraction, "mutex-profile-fraction", 0, "runtime.SetMutexProfileFraction (0 = off)")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	switch {
	case fs.NArg() > 0:
		return c, fmt.Errorf("unexpected arguments: %q", fs.Args())
	case c.loadRate < 0 || c.loadRate > maxLoadRate:
		return c, fmt.Errorf("-load-rate %d: want 0..%d", c.loadRate, maxLoadRate)
	case c.loadConcurrency < 1:
		return c, fmt.Errorf("-load-concurrency %d: need at least 1", c.loadConcurrency)
	case c.slowBackend < 0 || c.loadDuration < 0 || c.loadWarmup < 0:
		return c, errors.New("durations must not be negative")
	case c.loadClosed && c.loadRate > 0:
		return c, errors.New("-load-closed and -load-rate exclude each other")
	case c.exitAfterLoad && !c.load():
		return c, errors.New("-exit-after-load needs a -load-rate or -load-closed")
	case c.loadReport != "" && !c.load():
		return c, errors.New("-load-report needs a -load-rate or -load-closed")
	}
	return c, nil
}

// load reports whether the built-in load client runs.
func (c config) load() bool { return c.loadRate > 0 || c.loadClosed }

func main() {
	cfg, err := parseFlags(os.Args[1:], os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "otelapp:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	context.AfterFunc(ctx, stop) // a second signal during shutdown kills the process
	err = run(ctx, cfg, os.Stdout)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "otelapp:", err)
		os.Exit(1)
	}
}
