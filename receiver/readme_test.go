package gostitchreceiver

import (
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/pdata/pprofile"
	"go.uber.org/zap"
	"gopkg.in/yaml.v3"
)

// readmeConfig is the receiver's configuration in README.md's "Configuration" example.
func readmeConfig(t *testing.T) *Config {
	t.Helper()
	readme, err := os.ReadFile("../README.md")
	require.NoError(t, err)
	_, section, ok := strings.Cut(string(readme), "\n## Configuration\n")
	require.True(t, ok, "README.md has a Configuration section")
	_, block, ok := strings.Cut(section, "```yaml\n")
	require.True(t, ok, "the Configuration section has a yaml example")
	block, _, _ = strings.Cut(block, "```")
	var raw map[string]any
	require.NoError(t, yaml.Unmarshal([]byte(block), &raw))
	sub, err := confmap.NewFromStringMap(raw).Sub("receivers::gostitch")
	require.NoError(t, err)
	cfg := createDefaultConfig()
	require.NoError(t, sub.Unmarshal(cfg))
	return cfg
}

// TestREADMEConfigurationRuns: README's configuration example is valid, and its offline target,
// run from the repository root as a collector started there would, turns the files of testdata/
// into spans of the trace's tasks, metrics and profiles without a warning. The scrape target is
// left out (nothing serves it here) and eBPF is off (not what this checks).
func TestREADMEConfigurationRuns(t *testing.T) {
	cfg := readmeConfig(t)
	require.NoError(t, cfg.Validate())
	i := slices.IndexFunc(cfg.Targets, func(tc TargetConfig) bool { return tc.Name == "offline" })
	require.NotEqual(t, -1, i, "the example has an offline target")
	cfg.Targets = cfg.Targets[i : i+1]
	cfg.EBPF.Mode = EBPFModeOff
	t.Chdir("..")
	s, logs := startReceiver(t, cfg)

	require.Eventually(t, func() bool {
		return s.traces.SpanCount() > 0 && s.metrics.DataPointCount() > 0 && len(sampleTypes(s.profiles.AllProfiles())) >= 2
	}, 20*time.Second, 50*time.Millisecond)
	names := spanNames(s.traces.AllTraces())
	assert.Positive(t, names["importBlock"], "a span per importBlock task")
	assert.Positive(t, names["verify"], "its regions")
	types := sampleTypes(s.profiles.AllProfiles())
	assert.Contains(t, types, "samples", "the CPU profile")
	assert.Contains(t, types, "inuse_space", "the heap profile")
	assert.Zero(t, logs.FilterLevelExact(zap.WarnLevel).Len(), "%v", logs.FilterLevelExact(zap.WarnLevel).All())
}

// sampleTypes lists the sample types of the profiles emitted.
func sampleTypes(all []pprofile.Profiles) []string {
	var types []string
	for _, pd := range all {
		strs := pd.Dictionary().StringTable()
		for _, rp := range pd.ResourceProfiles().All() {
			for _, sp := range rp.ScopeProfiles().All() {
				for _, p := range sp.Profiles().All() {
					types = append(types, strs.At(int(p.SampleType().TypeStrindex())))
				}
			}
		}
	}
	slices.Sort(types)
	return slices.Compact(types)
}
