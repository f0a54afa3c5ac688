package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	_ "net/http/pprof" // registers /debug/pprof/ on http.DefaultServeMux, served on -pprof only
	"os"
	"runtime"
	"time"

	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"google.golang.org/grpc"
)

// shutdownTimeout bounds the servers' graceful stop and the final span flush.
const shutdownTimeout = 5 * time.Second

// app is the whole process. close releases whatever start managed to set up.
type app struct {
	tp       *sdktrace.TracerProvider
	backend  *backend
	pool     *backendPool
	pprof    *http.Server
	http     *http.Server
	grpc     *grpc.Server
	httpAddr string
	grpcAddr string
	serveErr chan error // the first error of a server that stopped by itself
}

// run serves until ctx ends, or until the load is done with -exit-after-load, then shuts down.
func run(ctx context.Context, cfg config, stdout io.Writer) error {
	out := log.New(stdout, "", 0)
	a, err := start(ctx, cfg, out)
	if err != nil {
		return errors.Join(err, a.close())
	}
	loadDone := make(chan struct{})
	loadCtx, stopLoad := context.WithCancel(ctx)
	var reportErr error // of -load-report, read after loadDone
	if cfg.load() {
		lc, err := newLoadClient(a.httpAddr, a.grpcAddr, cfg.loadConcurrency)
		if err != nil {
			stopLoad()
			return errors.Join(err, a.close())
		}
		go func() {
			defer close(loadDone)
			defer lc.close()
			// Rate 0 makes runLoad a closed loop (-load-closed).
			r := lc.runLoad(loadCtx, cfg.loadRate, cfg.loadConcurrency, cfg.loadWarmup, cfg.loadDuration, out)
			if cfg.loadReport != "" {
				reportErr = writeLoadReport(cfg.loadReport, r)
			}
		}()
	} else {
		close(loadDone)
	}
	exit := make(<-chan struct{}) // never, unless -exit-after-load
	if cfg.exitAfterLoad {
		exit = loadDone
	}
	var serveErr error
	select {
	case <-ctx.Done():
	case <-exit:
	case serveErr = <-a.serveErr:
	}
	stopLoad()
	<-loadDone
	return errors.Join(serveErr, reportErr, a.close())
}

// start sets up the tracer provider, the backend and the three servers.
func start(ctx context.Context, cfg config, out *log.Logger) (*app, error) {
	a := &app{serveErr: make(chan error, 3)}
	runtime.SetBlockProfileRate(cfg.blockProfileRate)
	runtime.SetMutexProfileFraction(cfg.mutexProfileFraction)

	var extra []sdktrace.SpanProcessor
	if cfg.truthPath != "" {
		truth, err := createTruth(cfg.truthPath)
		if err != nil {
			return a, err
		}
		extra = append(extra, truth)
	}
	tp, err := newTracerProvider(ctx, cfg, extra...)
	if err != nil {
		for _, p := range extra {
			p.Shutdown(ctx)
		}
		return a, err
	}
	a.tp = tp

	if a.backend, err = startBackend(cfg.slowBackend); err != nil {
		return a, err
	}
	a.pool = newBackendPool(a.backend.addr(), 64)
	svc := &service{
		tracer:       tp.Tracer("github.com/gostitch/gostitch/examples/otelapp"),
		pool:         a.pool,
		backendAttrs: peerAttributes(a.backend.addr()),
		lock:         cfg.lock,
		gcPressure:   cfg.gcPressure,
	}

	pprofLn, err := net.Listen("tcp", cfg.pprofAddr)
	if err != nil {
		return a, fmt.Errorf("pprof listen on %s: %w", cfg.pprofAddr, err)
	}
	a.pprof = &http.Server{Handler: http.DefaultServeMux, ReadHeaderTimeout: 10 * time.Second}
	go a.serve("pprof", func() error { return a.pprof.Serve(pprofLn) })
	out.Printf("pprof listening on http://%s", pprofLn.Addr())

	httpLn, err := net.Listen("tcp", cfg.httpAddr)
	if err != nil {
		return a, fmt.Errorf("HTTP listen on %s: %w", cfg.httpAddr, err)
	}
	a.httpAddr = httpLn.Addr().String()
	a.http = &http.Server{Handler: otelhttp.NewHandler(svc.httpHandler(), "otelapp"), ReadHeaderTimeout: 10 * time.Second}
	go a.serve("HTTP", func() error { return a.http.Serve(httpLn) })
	out.Printf("http listening on http://%s", a.httpAddr)

	grpcLn, err := net.Listen("tcp", cfg.grpcAddr)
	if err != nil {
		return a, fmt.Errorf("gRPC listen on %s: %w", cfg.grpcAddr, err)
	}
	a.grpcAddr = grpcLn.Addr().String()
	a.grpc = grpc.NewServer(grpc.StatsHandler(otelgrpc.NewServerHandler()))
	a.grpc.RegisterService(&workServiceDesc, svc)
	go a.serve("gRPC", func() error { return a.grpc.Serve(grpcLn) })
	out.Printf("grpc listening on %s", a.grpcAddr)

	endpoint, _ := otlpEndpoint(cfg.otlpEndpoint)
	out.Printf("otelapp pid %d: service.name %s, exporting spans to %s", os.Getpid(), serviceName(cfg.service), endpoint)
	return a, nil
}

// serve runs a server's Serve loop, passing on an error other than a requested stop.
func (a *app) serve(name string, serve func() error) {
	if err := serve(); err != nil && !errors.Is(err, http.ErrServerClosed) && !errors.Is(err, grpc.ErrServerStopped) {
		a.serveErr <- fmt.Errorf("%s server: %w", name, err)
	}
}

// close stops the servers, then the backend, then flushes spans (and the truth file). Each
// step has its own shutdownTimeout, so that a slow one cannot cost the span flush its time; a
// scrape in flight on the pprof server (a CPU profile, an execution trace) is cut short.
func (a *app) close() error {
	var errs []error
	if a.http != nil {
		if err := withTimeout(a.http.Shutdown); err != nil {
			errs = append(errs, fmt.Errorf("stopping the HTTP server: %w", err))
		}
	}
	if a.grpc != nil {
		stopped := make(chan struct{})
		go func() { a.grpc.GracefulStop(); close(stopped) }()
		select {
		case <-stopped:
		case <-time.After(shutdownTimeout):
			a.grpc.Stop()
			<-stopped
		}
	}
	if a.pprof != nil {
		if err := a.pprof.Close(); err != nil {
			errs = append(errs, fmt.Errorf("closing the pprof server: %w", err))
		}
	}
	if a.pool != nil {
		a.pool.close()
	}
	if a.backend != nil {
		a.backend.close()
	}
	if a.tp != nil {
		if err := withTimeout(a.tp.Shutdown); err != nil {
			errs = append(errs, fmt.Errorf("flushing spans: %w", err))
		}
	}
	return errors.Join(errs...)
}

// withTimeout calls f with a context ending after shutdownTimeout.
func withTimeout(f func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	return f(ctx)
}
