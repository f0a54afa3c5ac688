package gostitchreceiver

// The helpers that start a receiver for a test, shared by the test files of the package.

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/consumer/xconsumer"
	"go.opentelemetry.io/collector/receiver/receivertest"
	"go.opentelemetry.io/collector/receiver/xreceiver"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/gostitch/gostitch/receiver/internal/metadata"
)

// next holds the consumers a fault test hands the receiver; a nil one leaves its signal out.
type next struct {
	traces   consumer.Traces
	metrics  consumer.Metrics
	profiles xconsumer.Profiles
}

// startObserved runs the receiver on cfg with the given consumers, its logs observed and its
// telemetry recorded in tel, until the end of the test; tel is shut down with it.
func startObserved(t *testing.T, cfg *Config, tel *componenttest.Telemetry, to next) *observer.ObservedLogs {
	t.Helper()
	require.NoError(t, cfg.Validate())
	f := NewFactory().(xreceiver.Factory)
	core, logs := observer.New(zap.InfoLevel)
	set := receivertest.NewNopSettings(metadata.Type)
	set.TelemetrySettings = tel.NewTelemetrySettings()
	set.Logger = zap.New(core)
	ctx := context.Background()
	var r component.Component
	var err error
	if to.traces != nil {
		r, err = f.CreateTraces(ctx, set, cfg, to.traces)
		require.NoError(t, err)
	}
	if to.metrics != nil {
		r, err = f.CreateMetrics(ctx, set, cfg, to.metrics)
		require.NoError(t, err)
	}
	if to.profiles != nil {
		r, err = f.CreateProfiles(ctx, set, cfg, to.profiles)
		require.NoError(t, err)
	}
	require.NoError(t, r.Start(ctx, componenttest.NewNopHost()))
	t.Cleanup(func() {
		require.NoError(t, r.Shutdown(ctx))
		require.NoError(t, tel.Shutdown(ctx))
	})
	return logs
}

// sinks receive what startReceiver's receiver emits.
type sinks struct {
	traces   *consumertest.TracesSink
	metrics  *consumertest.MetricsSink
	profiles *consumertest.ProfilesSink
}

// startReceiver runs the receiver on cfg with sinks for all three signals.
func startReceiver(t *testing.T, cfg *Config) (sinks, *observer.ObservedLogs) {
	t.Helper()
	s := sinks{new(consumertest.TracesSink), new(consumertest.MetricsSink), new(consumertest.ProfilesSink)}
	return s, startObserved(t, cfg, componenttest.NewTelemetry(), next{s.traces, s.metrics, s.profiles})
}
