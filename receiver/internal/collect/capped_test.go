package collect

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/gostitch/gostitch/receiver/internal/selftel"
)

// TestShutdownDuringCapWaitReturns: a window waiting for the cap while another is converted
// stops waiting when Shutdown cancels the collection; Shutdown returns at once and no goroutine
// is left behind (goleak).
func TestShutdownDuringCapWaitReturns(t *testing.T) {
	var patterns [2]string
	for i := range patterns {
		dir := t.TempDir()
		require.NoError(t, os.WriteFile(filepath.Join(dir, "a.pprof"), []byte("profile"), 0o644))
		patterns[i] = filepath.Join(dir, "*.pprof")
	}
	blocking := blockingSink{started: make(chan struct{}, 2)}
	tel, err := selftel.New(componenttest.NewNopTelemetrySettings())
	require.NoError(t, err)
	core, logs := observer.New(zap.DebugLevel)
	c, _ := newTestController(t, Settings{Interval: 400 * time.Millisecond}, []TargetSpec{
		{Name: "first", PprofFiles: patterns[:1]},
		{Name: "second", PprofFiles: patterns[1:]},
	}, Capped(blocking, 10, zap.New(core), tel)) // room for one 7-byte window
	c.Start()
	<-blocking.started
	require.Eventually(t, func() bool { return logs.FilterField(zap.String("target", "second")).Len() == 1 },
		5*time.Second, 10*time.Millisecond, "the second window waits for the first")
	assert.Equal(t, "Window waits for other conversions: limits.max_concurrent_conversion_bytes reached", logs.All()[0].Message)

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	start := time.Now()
	require.NoError(t, c.Shutdown(ctx))
	assert.Less(t, time.Since(start), time.Second)
	assert.Empty(t, blocking.started, "the waiting window was never converted")
}

// TestFirstWindowsAreStaggered: the targets' first windows are spread evenly over the interval.
func TestFirstWindowsAreStaggered(t *testing.T) {
	var got []time.Duration
	for i := range 4 {
		got = append(got, staggered(i, 4, 10*time.Second))
	}
	assert.Equal(t, []time.Duration{0, 2500 * time.Millisecond, 5 * time.Second, 7500 * time.Millisecond}, got)
	assert.Zero(t, staggered(0, 1, time.Minute), "a single target starts at once")
}
