package gostitchreceiver

import (
	"context"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/gostitch/gostitch/receiver/internal/metadata"
)

// TestConversionCapDefersWindows: two trace files whose bytes together exceed
// limits.max_concurrent_conversion_bytes are not converted at once: the second target's window
// waits, counted in gostitch.receiver.deferred, until the first target's conversion finished.
func TestConversionCapDefersWindows(t *testing.T) {
	firstDir, secondDir := t.TempDir(), t.TempDir()
	copyFixture(t, "internal/tracesrc/testdata/annotations.trace", firstDir, "a.trace")         // 3666 bytes
	copyFixture(t, "internal/tracesrc/testdata/annotations-stress.trace", secondDir, "b.trace") // 8168 bytes
	cfg := createDefaultConfig()
	cfg.CollectionInterval = 2 * time.Second // the second target's first window starts 1s after the first's
	cfg.EBPF.Mode = EBPFModeOff
	cfg.Limits = LimitsConfig{MaxProfileBytes: 8 << 10, MaxTraceBytes: 8 << 10, MaxConcurrentConversionBytes: 8 << 10}
	cfg.Targets = []TargetConfig{
		{Name: "first", TraceFiles: []string{filepath.Join(firstDir, "*.trace")}},
		{Name: "second", TraceFiles: []string{filepath.Join(secondDir, "*.trace")}},
	}

	// The first target's conversion is held in its emits until release is closed.
	release := make(chan struct{})
	var mu sync.Mutex
	var from []string
	traces, err := consumer.NewTraces(func(_ context.Context, td ptrace.Traces) error {
		name, _ := td.ResourceSpans().At(0).Resource().Attributes().Get("service.name")
		mu.Lock()
		from = append(from, name.Str())
		mu.Unlock()
		if name.Str() == "first" {
			<-release
		}
		return nil
	})
	require.NoError(t, err)
	converted := func(target string) bool {
		mu.Lock()
		defer mu.Unlock()
		return slices.Contains(from, target)
	}
	tel := componenttest.NewTelemetry()
	deferred := func(target string) int64 {
		return counted(t, tel, metadata.TelemetryGostitchReceiverDeferred.Name, metadata.AttributeTarget, target)
	}
	startObserved(t, cfg, tel, next{traces: traces})
	closeRelease := sync.OnceFunc(func() { close(release) })
	t.Cleanup(closeRelease) // runs before the receiver's Shutdown

	require.Eventually(t, func() bool { return deferred("second") == 1 }, 10*time.Second, 10*time.Millisecond,
		"the second window waits while the first is converted")
	require.True(t, converted("first"))
	time.Sleep(100 * time.Millisecond)
	assert.False(t, converted("second"), "not converted while the first conversion holds the cap")

	closeRelease()
	require.Eventually(t, func() bool { return converted("second") }, 10*time.Second, 10*time.Millisecond,
		"converted once the first conversion finished")
	assert.Zero(t, deferred("first"))
	assert.EqualValues(t, 1, deferred("second"))
}
