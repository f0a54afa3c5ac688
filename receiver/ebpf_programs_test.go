package gostitchreceiver

import (
	"context"
	"os"
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/receiver/receivertest"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/gostitch/gostitch/bpf"
	"github.com/gostitch/gostitch/receiver/internal/metadata"
)

// TestEBPFProgramsGauge: with eBPF on, the receiver reports each program of the socket source
// in its self-telemetry, 1 for attached (TestRefusedOptionalProgram in ebpfsrc covers refusals).
func TestEBPFProgramsGauge(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("skipped: loading eBPF programs needs root (CI runs this test as root)")
	}
	cfg := fileConfig(t.TempDir())
	cfg.EBPF.Mode = EBPFModeOn
	tel := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tel.Shutdown(context.Background())) })
	set := receivertest.NewNopSettings(metadata.Type)
	set.TelemetrySettings = tel.NewTelemetrySettings()
	ctx := context.Background()
	tr, err := NewFactory().CreateTraces(ctx, set, cfg, new(consumertest.TracesSink))
	require.NoError(t, err)
	require.NoError(t, tr.Start(ctx, componenttest.NewNopHost()))
	t.Cleanup(func() { require.NoError(t, tr.Shutdown(ctx)) })

	m, err := tel.GetMetric(metadata.TelemetryGostitchReceiverEbpfPrograms.Name)
	require.NoError(t, err)
	got := map[string]int64{}
	for _, dp := range m.Data.(metricdata.Gauge[int64]).DataPoints {
		name, _ := dp.Attributes.Value(metadata.AttributeEbpfProgram)
		got[name.AsString()] = dp.Value
	}
	require.Contains(t, got, bpf.SocketProgOnSend)
	require.Contains(t, got, bpf.SocketProgOnProbe)
	for name, v := range got {
		require.Equal(t, int64(1), v, "program %s", name)
	}
}
