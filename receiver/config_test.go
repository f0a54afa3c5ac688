package gostitchreceiver

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/confighttp"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/confmaptest"

	"github.com/gostitch/gostitch/receiver/internal/ebpfsrc"
	"github.com/gostitch/gostitch/receiver/internal/metadata"
)

func loadConfig(t *testing.T, name string) *Config {
	t.Helper()
	cm, err := confmaptest.LoadConf(filepath.Join("testdata", "config.yaml"))
	require.NoError(t, err)
	id := component.NewID(metadata.Type)
	if name != "" {
		id = component.NewIDWithName(metadata.Type, name)
	}
	sub, err := cm.Sub(id.String())
	require.NoError(t, err)
	cfg := NewFactory().CreateDefaultConfig().(*Config)
	require.NoError(t, sub.Unmarshal(cfg))
	return cfg
}

func TestLoadConfigDefaults(t *testing.T) {
	cfg := loadConfig(t, "")
	require.NoError(t, confmap.Validate(cfg))
	assert.Equal(t, 30*time.Second, cfg.CollectionInterval)
	assert.Equal(t, knownProfiles, cfg.Pprof.Profiles)
	assert.Equal(t, 10*time.Second, cfg.Pprof.CPUDuration)
	assert.Equal(t, 10*time.Second, cfg.Trace.Duration)
	assert.Equal(t, int64(8<<20), cfg.Trace.BudgetBytes)
	assert.Equal(t, time.Millisecond, cfg.Trace.MinSpanDuration)
	assert.Equal(t, "notable", cfg.Trace.TaskSpans)
	assert.Equal(t, 1000, cfg.Trace.MaxGoroutineSpans)
	assert.Equal(t, EBPFModeAuto, cfg.EBPF.Mode)
	assert.Equal(t, 256<<10, cfg.EBPF.RingBufferSize)
	assert.Equal(t, 16384, cfg.EBPF.MaxSockets)
	assert.Equal(t, int64(1<<30), cfg.Limits.MaxConcurrentConversionBytes)
	assert.Equal(t, metadata.DefaultMetricsConfig(), cfg.Metrics)
	assert.Empty(t, cfg.Push.NetAddr.Endpoint, "push is off by default")
	require.Len(t, cfg.Targets, 1)
	assert.Equal(t, "http://127.0.0.1:6060", cfg.Targets[0].Endpoint)
}

func TestLoadConfigFull(t *testing.T) {
	cfg := loadConfig(t, "full")
	require.NoError(t, confmap.Validate(cfg))
	require.Len(t, cfg.Targets, 2)
	assert.Equal(t, 5*time.Second, cfg.Targets[0].Timeout)
	assert.Equal(t, []string{"testdata/pprof/*.pprof"}, cfg.Targets[1].PprofFiles)
	assert.Equal(t, []string{"testdata/trace/*.trace"}, cfg.Targets[1].TraceFiles)
	assert.Equal(t, []string{"height", "peer_id", "msg_type"}, cfg.Pprof.LabelAttributes)
	assert.Equal(t, "localhost:4329", cfg.Push.NetAddr.Endpoint)
	assert.Zero(t, cfg.Trace.BudgetBytes, "budget_bytes: 0 keeps every trace at trace.duration")
	assert.Equal(t, 1<<20, cfg.EBPF.RingBufferSize)
	assert.Equal(t, 4096, cfg.EBPF.MaxSockets)
	assert.Equal(t, LimitsConfig{MaxProfileBytes: 64 << 20, MaxTraceBytes: 256 << 20, MaxConcurrentConversionBytes: 512 << 20}, cfg.Limits)
	assert.False(t, cfg.Metrics.GostitchTCPRTT.Enabled)
	assert.True(t, cfg.Metrics.GostitchTCPBytes.Enabled, "metrics the config does not name keep metadata.yaml's setting")
}

// TestUnknownMetricIsRefused: a misspelt metric name in metrics: is an error that names it.
func TestUnknownMetricIsRefused(t *testing.T) {
	cm, err := confmaptest.LoadConf(filepath.Join("testdata", "config.yaml"))
	require.NoError(t, err)
	sub, err := cm.Sub(component.NewIDWithName(metadata.Type, "unknown_metric").String())
	require.NoError(t, err)
	err = sub.Unmarshal(NewFactory().CreateDefaultConfig().(*Config))
	assert.ErrorContains(t, err, "gostitch.tcp.round_trip")
}

func TestValidateNamesEveryProblem(t *testing.T) {
	err := confmap.Validate(loadConfig(t, "bad"))
	require.Error(t, err)
	for _, want := range []string{
		"targets[0]: name is required",
		`targets[0]: endpoint "ftp://example" must be an http(s) URL`,
		`targets[1] (dup): bad glob "[bad"`,
		"targets[2] (dup): duplicate target name",
		"targets[2] (dup): needs an endpoint, pprof_files or trace_files",
		"targets[2] (dup): pid must be between 0 and 4194303",
		`pprof.profiles: unknown profile "threadcreate"`,
		"pprof.cpu_duration (10s) must not be longer than collection_interval (5s)",
		"trace.duration (6s) must not be longer than collection_interval (5s)",
		"trace.min_span_duration must not be negative",
		`ebpf.mode must be one of auto, on, off; got "sometimes"`,
		"limits.max_concurrent_conversion_bytes must be positive and at least limits.max_profile_bytes and limits.max_trace_bytes (536870912), so one input can always be converted; got 1048576",
	} {
		assert.ErrorContains(t, err, want)
	}
}

// TestConversionCapFitsTheLargestInput: limits.max_concurrent_conversion_bytes may be as small
// as the largest single input, so that input can always be converted, and no smaller.
func TestConversionCapFitsTheLargestInput(t *testing.T) {
	cfg := loadConfig(t, "")
	cfg.Limits = LimitsConfig{MaxProfileBytes: 64 << 20, MaxTraceBytes: 128 << 20, MaxConcurrentConversionBytes: 128 << 20}
	require.NoError(t, confmap.Validate(cfg))
	cfg.Limits.MaxTraceBytes++
	assert.ErrorContains(t, confmap.Validate(cfg), "limits.max_concurrent_conversion_bytes must be positive and at least limits.max_profile_bytes and limits.max_trace_bytes (134217729)")
	cfg.Limits.MaxTraceBytes, cfg.Limits.MaxProfileBytes = 1<<20, 256<<20
	assert.ErrorContains(t, confmap.Validate(cfg), "(268435456), so one input can always be converted; got 134217728")
}

func TestValidateNoTargets(t *testing.T) {
	assert.ErrorContains(t, confmap.Validate(loadConfig(t, "no_targets")), "targets: at least one target is required")
}

// TestScrapeDurationsOnlyWithScrapes: pprof.cpu_duration and trace.duration longer than
// collection_interval are refused only when some target is scraped; files have no duration.
func TestScrapeDurationsOnlyWithScrapes(t *testing.T) {
	cfg := loadConfig(t, "files_only")
	require.NoError(t, confmap.Validate(cfg))

	scraped := confighttp.NewDefaultClientConfig()
	scraped.Endpoint = "http://127.0.0.1:6060"
	cfg.Targets = append(cfg.Targets, TargetConfig{Name: "syncnode", ClientConfig: scraped})
	err := confmap.Validate(cfg)
	assert.ErrorContains(t, err, "pprof.cpu_duration (10s) must not be longer than collection_interval (5s)")
	assert.ErrorContains(t, err, "trace.duration (6s) must not be longer than collection_interval (5s)")
}

func TestValidateDurations(t *testing.T) {
	for name, mutate := range map[string]func(*Config){
		"collection_interval must be positive":                                 func(c *Config) { c.CollectionInterval = 0 },
		"pprof.cpu_duration must be at least 1s":                               func(c *Config) { c.Pprof.CPUDuration = 500 * time.Millisecond },
		"trace.duration must not be negative":                                  func(c *Config) { c.Trace.Duration = -time.Second },
		`trace.task_spans must be "all" or "notable", got "some"`:              func(c *Config) { c.Trace.TaskSpans = "some" },
		"trace.max_goroutine_spans must not be negative":                       func(c *Config) { c.Trace.MaxGoroutineSpans = -1 },
		"trace.budget_bytes must not be negative":                              func(c *Config) { c.Trace.BudgetBytes = -1 },
		"ebpf.read_wait_threshold must be positive":                            func(c *Config) { c.EBPF.ReadWaitThreshold = 0 },
		"ebpf.ring_buffer_size must be a power of two":                         func(c *Config) { c.EBPF.RingBufferSize = 3 << 12 },
		"ebpf.max_sockets must be positive":                                    func(c *Config) { c.EBPF.MaxSockets = 0 },
		"limits.max_profile_bytes and limits.max_trace_bytes must be positive": func(c *Config) { c.Limits.MaxTraceBytes = 0 },
		"limits.max_concurrent_conversion_bytes must be positive":              func(c *Config) { c.Limits.MaxConcurrentConversionBytes = 0 },
	} {
		t.Run(name, func(t *testing.T) {
			cfg := loadConfig(t, "")
			mutate(cfg)
			assert.ErrorContains(t, confmap.Validate(cfg), name)
		})
	}
}

// TestValidatePIDBound: pids are below the kernel's PID_MAX_LIMIT, the size of the eBPF pid
// filter; the largest one is accepted and the limit itself refused.
func TestValidatePIDBound(t *testing.T) {
	cfg := loadConfig(t, "")
	cfg.Targets = []TargetConfig{{Name: "offline", PprofFiles: []string{"testdata/*.pprof"}, PID: ebpfsrc.PIDLimit - 1}}
	require.NoError(t, confmap.Validate(cfg))
	cfg.Targets[0].PID = ebpfsrc.PIDLimit
	assert.ErrorContains(t, confmap.Validate(cfg), "targets[0] (offline): pid must be between 0 and 4194303 (the kernel's largest), got 4194304")
}

func TestJoinMaxWait(t *testing.T) {
	cfg := createDefaultConfig()
	assert.Equal(t, 10*time.Second, cfg.Join.MaxWait)
	cfg.Targets = []TargetConfig{{Name: "app", TraceFiles: []string{"*.trace"}}}
	require.NoError(t, cfg.Validate())
	cfg.Join.MaxWait = -time.Second
	assert.ErrorContains(t, cfg.Validate(), "join.max_wait must not be negative, got -1s")
}
