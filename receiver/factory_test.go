package gostitchreceiver

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/receiver/receivertest"
	"go.opentelemetry.io/collector/receiver/xreceiver"
	"go.uber.org/goleak"

	"github.com/gostitch/gostitch/receiver/internal/metadata"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestFactoryTypeAndStability(t *testing.T) {
	f := NewFactory().(xreceiver.Factory)
	assert.Equal(t, metadata.Type, f.Type())
	assert.Equal(t, metadata.TracesStability, f.TracesStability())
	assert.Equal(t, metadata.MetricsStability, f.MetricsStability())
	assert.Equal(t, metadata.ProfilesStability, f.ProfilesStability())
	assert.NoError(t, componenttest.CheckConfigStruct(f.CreateDefaultConfig()))
}

func TestOneInstanceServesAllSignals(t *testing.T) {
	f := NewFactory().(xreceiver.Factory)
	cfg := f.CreateDefaultConfig().(*Config)
	cfg.Targets = []TargetConfig{{Name: "offline", PprofFiles: []string{t.TempDir() + "/*.pprof"}}}
	require.NoError(t, cfg.Validate())
	set := receivertest.NewNopSettings(metadata.Type)
	ctx := context.Background()

	tr, err := f.CreateTraces(ctx, set, cfg, consumertest.NewNop())
	require.NoError(t, err)
	mr, err := f.CreateMetrics(ctx, set, cfg, consumertest.NewNop())
	require.NoError(t, err)
	pr, err := f.CreateProfiles(ctx, set, cfg, consumertest.NewNop())
	require.NoError(t, err)
	assert.Same(t, tr, mr)
	assert.Same(t, tr, pr)

	host := componenttest.NewNopHost()
	require.NoError(t, tr.Start(ctx, host))
	require.NoError(t, mr.Start(ctx, host), "second Start is a no-op")
	require.NoError(t, pr.Start(ctx, host))
	require.NoError(t, tr.Shutdown(ctx))
	require.NoError(t, mr.Shutdown(ctx))
	require.NoError(t, pr.Shutdown(ctx))

	again, err := f.CreateTraces(ctx, set, cfg, consumertest.NewNop())
	require.NoError(t, err)
	assert.NotSame(t, tr, again, "a shut-down instance is not handed out again")
	require.NoError(t, again.Shutdown(ctx), "shutdown without start")
}
