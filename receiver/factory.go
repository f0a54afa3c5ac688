// Package gostitchreceiver is the gostitch receiver: it turns pprof profiles, Go execution
// traces and eBPF socket events of Go processes into OTLP traces, metrics and profiles that
// share trace ids. The component keeps the lifecycle, emitting and self-telemetry; the join
// is stitch's (docs/design.md, "Layers" and "One window").
package gostitchreceiver

import (
	"context"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/consumer/xconsumer"
	"go.opentelemetry.io/collector/receiver"
	"go.opentelemetry.io/collector/receiver/xreceiver"

	"github.com/gostitch/gostitch/receiver/internal/metadata"
)

// NewFactory returns the factory of the gostitch receiver.
func NewFactory() receiver.Factory {
	return xreceiver.NewFactory(
		metadata.Type,
		func() component.Config { return createDefaultConfig() },
		xreceiver.WithTraces(createTraces, metadata.TracesStability),
		xreceiver.WithMetrics(createMetrics, metadata.MetricsStability),
		xreceiver.WithProfiles(createProfiles, metadata.ProfilesStability),
	)
}

// One running instance serves every pipeline that names the same receiver config, so targets
// are scraped once whatever signals are wanted.
var instances = newSharedInstances()

func createTraces(_ context.Context, set receiver.Settings, cfg component.Config, next consumer.Traces) (receiver.Traces, error) {
	r, err := instances.get(cfg.(*Config), set)
	if err != nil {
		return nil, err
	}
	r.receiver.consumers.traces = next
	return r, nil
}

func createMetrics(_ context.Context, set receiver.Settings, cfg component.Config, next consumer.Metrics) (receiver.Metrics, error) {
	r, err := instances.get(cfg.(*Config), set)
	if err != nil {
		return nil, err
	}
	r.receiver.consumers.metrics = next
	return r, nil
}

func createProfiles(_ context.Context, set receiver.Settings, cfg component.Config, next xconsumer.Profiles) (xreceiver.Profiles, error) {
	r, err := instances.get(cfg.(*Config), set)
	if err != nil {
		return nil, err
	}
	r.receiver.consumers.profiles = next
	return r, nil
}
