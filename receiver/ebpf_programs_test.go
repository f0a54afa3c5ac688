package gostitchreceiver

import (
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/gostitch/gostitch/bpf"
	"github.com/gostitch/gostitch/internal/roottest"
	"github.com/gostitch/gostitch/receiver/internal/metadata"
)

// TestEBPFProgramsGauge: with eBPF on, the receiver reports each program of the socket source
// in its self-telemetry, 1 for attached (TestRefusedOptionalProgram in ebpfsrc covers refusals).
func TestEBPFProgramsGauge(t *testing.T) {
	roottest.Need(t, "loading eBPF programs")
	cfg := fileConfig(t.TempDir())
	cfg.EBPF.Mode = EBPFModeOn
	tel := componenttest.NewTelemetry()
	startObserved(t, cfg, tel, next{traces: new(consumertest.TracesSink)})

	m, err := tel.GetMetric(metadata.TelemetryGostitchReceiverEbpfPrograms.Name)
	require.NoError(t, err)
	got := map[string]int64{}
	for _, dp := range m.Data.(metricdata.Gauge[int64]).DataPoints {
		name, _ := dp.Attributes.Value(metadata.AttributeEbpfProgram)
		got[name.AsString()] = dp.Value
	}
	require.Contains(t, got, bpf.SocketProgOnSend)
	require.Contains(t, got, bpf.SocketProgOnDataReady)
	for name, v := range got {
		require.Equal(t, int64(1), v, "program %s", name)
	}
}
