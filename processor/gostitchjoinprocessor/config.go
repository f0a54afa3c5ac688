package gostitchjoinprocessor

import (
	"errors"
	"fmt"
	"time"

	"go.opentelemetry.io/collector/component"
)

// Config bounds the processor's index of the app's spans (README.md, "gostitchjoin processor").
type Config struct {
	// MaxSpans is how many spans the index holds at most; the oldest leave first, counted.
	MaxSpans int `mapstructure:"max_spans"`
	// Retention is how long a span stays in the index after its start. It must cover the
	// receiver's trace.duration, its join.max_wait and the conversion of a window.
	Retention time.Duration `mapstructure:"retention"`
}

var _ component.Config = (*Config)(nil)

// Defaults: 30 s covers a 10 s trace, a 10 s wait and the conversion; 500,000 spans hold 30 s
// of about 16,000 spans a second (some 45 MB: about 90 bytes a span).
const (
	defaultMaxSpans  = 500_000
	defaultRetention = 30 * time.Second
)

func createDefaultConfig() component.Config {
	return &Config{MaxSpans: defaultMaxSpans, Retention: defaultRetention}
}

// Validate names every problem of the configuration.
func (cfg *Config) Validate() error {
	var errs []error
	if cfg.MaxSpans <= 0 {
		errs = append(errs, fmt.Errorf("max_spans must be positive, got %d", cfg.MaxSpans))
	}
	if cfg.Retention <= 0 {
		errs = append(errs, fmt.Errorf("retention must be positive, got %v", cfg.Retention))
	}
	return errors.Join(errs...)
}
