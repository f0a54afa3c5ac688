// Package gostitchjoinprocessor is the gostitchjoin processor: placed in the traces pipeline an
// app's OTLP spans arrive by, it indexes each span for the gostitch receiver, which hangs the
// runtime/trace task the OTel Go SDK began for a span under that span (docs/design.md, "Trace
// ids"). It passes the spans on unchanged, never delaying nor dropping them.
package gostitchjoinprocessor

import (
	"context"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/processor"
	"go.opentelemetry.io/collector/processor/processorhelper"

	"github.com/gostitch/gostitch/processor/gostitchjoinprocessor/internal/metadata"
)

// NewFactory returns the factory of the gostitchjoin processor.
func NewFactory() processor.Factory {
	return processor.NewFactory(metadata.Type, createDefaultConfig,
		processor.WithTraces(createTraces, metadata.TracesStability))
}

func createTraces(ctx context.Context, set processor.Settings, cfg component.Config, next consumer.Traces) (processor.Traces, error) {
	p, err := newJoinProcessor(cfg.(*Config), set.TelemetrySettings)
	if err != nil {
		return nil, err
	}
	return processorhelper.NewTraces(ctx, set, cfg, next, p.processTraces,
		processorhelper.WithCapabilities(consumer.Capabilities{MutatesData: false}),
		processorhelper.WithStart(p.start),
		processorhelper.WithShutdown(p.shutdown))
}
