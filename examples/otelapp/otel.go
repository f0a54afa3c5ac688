package main

import (
	"context"
	"fmt"
	"os"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
)

const (
	defaultOTLP    = "127.0.0.1:4317"
	defaultService = "otelapp"
)

// newTracerProvider sets up the OTel SDK as most services do: an OTLP gRPC exporter behind the
// batch span processor with its default settings, the W3C trace context propagator, and the
// provider made global. Extra span processors (the -truth writer) run before the batcher.
func newTracerProvider(ctx context.Context, cfg config, extra ...sdktrace.SpanProcessor) (*sdktrace.TracerProvider, error) {
	exp, err := otlptracegrpc.New(ctx, otlpOptions(cfg.otlpEndpoint)...)
	if err != nil {
		return nil, fmt.Errorf("creating OTLP trace exporter: %w", err)
	}
	res, err := resource.Merge(resource.Default(),
		resource.NewWithAttributes(semconv.SchemaURL, semconv.ServiceName(serviceName(cfg.service))))
	if err != nil {
		return nil, fmt.Errorf("building OTel resource: %w", err)
	}
	opts := []sdktrace.TracerProviderOption{sdktrace.WithResource(res)}
	for _, p := range extra {
		opts = append(opts, sdktrace.WithSpanProcessor(p))
	}
	tp := sdktrace.NewTracerProvider(append(opts, sdktrace.WithBatcher(exp))...)
	otel.SetTracerProvider(tp)
	otel.SetTextMapPropagator(propagation.TraceContext{})
	return tp, nil
}

// otlpOptions sends to endpoint (the -otlp flag) without TLS; with no endpoint, to what the
// standard OTEL_EXPORTER_OTLP_* variables say (the exporter reads them), else to defaultOTLP.
func otlpOptions(endpoint string) []otlptracegrpc.Option {
	endpoint, fromEnv := otlpEndpoint(endpoint)
	if fromEnv {
		return nil
	}
	return []otlptracegrpc.Option{otlptracegrpc.WithEndpoint(endpoint), otlptracegrpc.WithInsecure()}
}

// otlpEndpoint is where spans go: flag if set, else the value of the standard variables
// (fromEnv), else defaultOTLP.
func otlpEndpoint(flag string) (endpoint string, fromEnv bool) {
	if flag != "" {
		return flag, false
	}
	for _, v := range []string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT"} {
		if e := os.Getenv(v); e != "" {
			return e, true
		}
	}
	return defaultOTLP, false
}

// serviceName is name, else $OTEL_SERVICE_NAME, else defaultService.
func serviceName(name string) string {
	if name != "" {
		return name
	}
	if env := os.Getenv("OTEL_SERVICE_NAME"); env != "" {
		return env
	}
	return defaultService
}
