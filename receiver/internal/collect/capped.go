package collect

import (
	"context"
	"fmt"

	"go.uber.org/zap"
	"golang.org/x/sync/semaphore"

	"github.com/gostitch/gostitch/receiver/internal/selftel"
)

// cappedSink hands windows to its sink while the input bytes of those being converted stay
// within a cap; the others wait, in the order they came.
type cappedSink struct {
	sink     Sink
	capacity int64
	sem      *semaphore.Weighted
	logger   *zap.Logger
	tel      *selftel.Telemetry
}

// Capped returns a Sink that converts windows through sink while their input bytes together
// stay within maxBytes (limits.max_concurrent_conversion_bytes). A window that does not fit
// waits for others to finish, counted and logged, until ctx is done; one larger than maxBytes
// waits to be converted alone.
func Capped(sink Sink, maxBytes int64, logger *zap.Logger, tel *selftel.Telemetry) Sink {
	return &cappedSink{sink: sink, capacity: maxBytes, sem: semaphore.NewWeighted(maxBytes), logger: logger, tel: tel}
}

func (c *cappedSink) ConsumeWindow(ctx context.Context, w *Window) error {
	n := min(w.Size(), c.capacity)
	if !c.sem.TryAcquire(n) {
		c.tel.Deferred(ctx, w.Target.Name)
		c.logger.Debug("Window waits for other conversions: limits.max_concurrent_conversion_bytes reached",
			zap.String("target", w.Target.Name), zap.Int64("bytes", w.Size()))
		if err := c.sem.Acquire(ctx, n); err != nil {
			return fmt.Errorf("target %q: window waiting for conversion: %w", w.Target.Name, err)
		}
	}
	defer c.sem.Release(n)
	return c.sink.ConsumeWindow(ctx, w)
}
