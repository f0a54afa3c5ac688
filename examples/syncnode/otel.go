package main

import (
	"context"
	"fmt"
	"log"
	"net"
	"strconv"
	"sync"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	oteltrace "go.opentelemetry.io/otel/trace"
)

// Tracing is the node's optional OpenTelemetry instrumentation: one importBlock span per block,
// exported over OTLP gRPC. A nil *Tracing is the zero-code mode: no spans, no OTel calls.
type Tracing struct {
	tp     *sdktrace.TracerProvider
	tracer oteltrace.Tracer
}

// NewTracing exports spans of service syncnode to the OTLP gRPC endpoint host:port, without
// TLS. Export failures are reported by the SDK and do not stop the node.
func NewTracing(ctx context.Context, endpoint string) (*Tracing, error) {
	exp, err := otlptracegrpc.New(ctx,
		otlptracegrpc.WithEndpoint(endpoint),
		otlptracegrpc.WithInsecure(),
		otlptracegrpc.WithTimeout(2*time.Second),
		otlptracegrpc.WithRetry(otlptracegrpc.RetryConfig{
			Enabled:         true,
			InitialInterval: 100 * time.Millisecond,
			MaxInterval:     time.Second,
			MaxElapsedTime:  3 * time.Second,
		}),
	)
	if err != nil {
		return nil, fmt.Errorf("creating OTLP exporter for %s: %w", endpoint, err)
	}
	res, err := resource.Merge(resource.Default(),
		resource.NewWithAttributes(semconv.SchemaURL, semconv.ServiceName("syncnode")))
	if err != nil {
		return nil, fmt.Errorf("building OTel resource: %w", err)
	}
	otel.SetErrorHandler(&quietErrors{})
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res))
	return &Tracing{tp: tp, tracer: tp.Tracer("github.com/gostitch/gostitch/examples/syncnode")}, nil
}

// StartImport starts the importBlock span of block h fetched from peer (host:port). With a nil
// t it returns ctx and a nil span.
func (t *Tracing) StartImport(ctx context.Context, h uint64, peer string) (context.Context, oteltrace.Span) {
	if t == nil {
		return ctx, nil
	}
	attrs := []attribute.KeyValue{attribute.Int64("syncnode.block.height", int64(h))}
	if host, port, err := net.SplitHostPort(peer); err == nil {
		attrs = append(attrs, semconv.NetworkPeerAddress(host))
		if p, err := strconv.Atoi(port); err == nil {
			attrs = append(attrs, semconv.NetworkPeerPort(p))
		}
	}
	return t.tracer.Start(ctx, "importBlock", oteltrace.WithAttributes(attrs...))
}

// Shutdown flushes pending spans and stops the exporter, giving up when ctx ends.
func (t *Tracing) Shutdown(ctx context.Context) error {
	if t == nil {
		return nil
	}
	if err := t.tp.Shutdown(ctx); err != nil {
		return fmt.Errorf("shutting down OTel tracer provider: %w", err)
	}
	return nil
}

// endSpan ends span (if any), recording err as its status.
func endSpan(span oteltrace.Span, err error) {
	if span == nil {
		return
	}
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
	}
	span.End()
}

// otelErrorEvery is the least time between two OTel error lines on stderr.
const otelErrorEvery = 30 * time.Second

// quietErrors reports OTel SDK errors (failed exports, mostly) on stderr at most once per
// otelErrorEvery, with the count of those held back, so a missing collector cannot flood the log.
type quietErrors struct {
	mu   sync.Mutex
	last time.Time
	held int
}

// Handle implements otel.ErrorHandler.
func (q *quietErrors) Handle(err error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if !q.last.IsZero() && time.Since(q.last) < otelErrorEvery {
		q.held++
		return
	}
	if q.held > 0 {
		log.Printf("opentelemetry: %v (%d more errors since the last report)", err, q.held)
	} else {
		log.Printf("opentelemetry: %v", err)
	}
	q.last, q.held = time.Now(), 0
}
