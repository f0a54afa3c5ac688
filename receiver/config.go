package gostitchreceiver

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"time"

	"go.opentelemetry.io/collector/config/confighttp"

	"github.com/gostitch/gostitch/receiver/internal/collect"
	"github.com/gostitch/gostitch/receiver/internal/ebpfsrc"
	"github.com/gostitch/gostitch/receiver/internal/metadata"
	"github.com/gostitch/gostitch/receiver/internal/stitch"
)

// Profile names the receiver can scrape from net/http/pprof.
var knownProfiles = []string{"cpu", "heap", "allocs", "goroutine", "block", "mutex"}

// eBPF modes, as ebpfsrc defines them.
const (
	EBPFModeAuto = string(ebpfsrc.ModeAuto)
	EBPFModeOn   = string(ebpfsrc.ModeOn)
	EBPFModeOff  = string(ebpfsrc.ModeOff)
)

// Config is the gostitch receiver's configuration (see README.md "Configuration").
type Config struct {
	// CollectionInterval is the length of one window per target.
	CollectionInterval time.Duration `mapstructure:"collection_interval"`
	// Targets are the Go processes to observe.
	Targets []TargetConfig `mapstructure:"targets"`
	Pprof   PprofConfig    `mapstructure:"pprof"`
	Trace   TraceConfig    `mapstructure:"trace"`
	EBPF    EBPFConfig     `mapstructure:"ebpf"`
	Push    PushConfig     `mapstructure:"push"`
	Join    JoinConfig     `mapstructure:"join"`
	// Limits bound every input read from outside.
	Limits LimitsConfig `mapstructure:"limits"`
	// Metrics turns each emitted metric on or off (documentation.md lists them):
	// metrics: {gostitch.tcp.rtt: {enabled: false}}.
	Metrics metadata.MetricsConfig `mapstructure:"metrics"`
}

// TargetConfig is one Go process: a net/http/pprof endpoint to scrape, files to read, or both.
type TargetConfig struct {
	// Name becomes service.name of everything emitted for the target.
	Name string `mapstructure:"name"`
	// ClientConfig holds the endpoint (the net/http/pprof base URL, e.g. http://127.0.0.1:6060)
	// and the usual HTTP client settings. Its timeout is added to the duration of each
	// long-running request (CPU profile, trace); 10s when unset.
	confighttp.ClientConfig `mapstructure:",squash"`
	// PID of the process; 0 resolves it from the process listening on the endpoint.
	PID int `mapstructure:"pid"`
	// PprofFiles are glob patterns of pprof files; each file is read once, and again when it changes.
	PprofFiles []string `mapstructure:"pprof_files"`
	// TraceFiles are glob patterns of Go execution traces (FlightRecorder snapshots included).
	TraceFiles []string `mapstructure:"trace_files"`
}

// PprofConfig selects the profiles and how labels become attributes.
type PprofConfig struct {
	Profiles    []string      `mapstructure:"profiles"`
	CPUDuration time.Duration `mapstructure:"cpu_duration"`
	// LabelAttributes are the pprof label keys kept as metric attributes (a cardinality guard);
	// profile samples keep all their labels.
	LabelAttributes []string `mapstructure:"label_attributes"`
}

// TraceConfig controls the execution trace.
type TraceConfig struct {
	// Duration of each execution trace; 0 disables the execution trace.
	Duration time.Duration `mapstructure:"duration"`
	// BudgetBytes shortens a target's trace, window by window, so that at the byte rate of its
	// last trace it holds about this many bytes (never below 1s): what a window costs to
	// convert stays about the same however busy the target is. A target's first trace, and
	// one after a burst, can exceed it. 0 keeps every trace at Duration.
	BudgetBytes int64 `mapstructure:"budget_bytes"`
	// MinSpanDuration is the shortest goroutine block or syscall that becomes a span.
	MinSpanDuration time.Duration `mapstructure:"min_span_duration"`
	// TaskSpans selects the tasks that make spans: "all", or "notable" (slower than the p95 of
	// their type so far in the window, or holding a block, syscall or GC episode of at least
	// MinSpanDuration). Every task is counted in the task metrics either way.
	TaskSpans string `mapstructure:"task_spans"`
	// MaxGoroutineSpans bounds per window the spans of work outside tasks (a goroutine span with
	// its regions, blocks and syscalls); 0 turns them off, with the CPU samples outside tasks.
	MaxGoroutineSpans int `mapstructure:"max_goroutine_spans"`
}

// EBPFConfig controls the kernel socket source.
type EBPFConfig struct {
	// Mode is auto (on when privileges allow, else one warning), on (failing start is an error) or off.
	Mode string `mapstructure:"mode"`
	// ReadWaitThreshold is the kernel-queue delay above which a read becomes a "tcp read wait" event.
	ReadWaitThreshold time.Duration `mapstructure:"read_wait_threshold"`
	// RingBufferSize is the size in bytes of the ring buffer the kernel hands discrete events
	// through: a power of two, at least one page. Raise it when events are reported lost.
	RingBufferSize int `mapstructure:"ring_buffer_size"`
	// MaxSockets caps the sockets tracked at once in the kernel; uses of sockets beyond it go
	// unseen and are counted. Raise it when socket uses are reported unseen.
	MaxSockets int `mapstructure:"max_sockets"`
}

// JoinConfig controls the join of the OTel SDK's tasks onto the app's own spans, which the
// gostitchjoin processor indexes from the app's traces pipeline (README.md, "Your own OTel service").
type JoinConfig struct {
	// MaxWait bounds how long a window's conversion waits for the app's spans of the window
	// to reach the processor; then its spans go out as they are.
	MaxWait time.Duration `mapstructure:"max_wait"`
}

// PushConfig is the HTTP endpoint that accepts pprof and FlightRecorder uploads; off when its endpoint is empty.
type PushConfig struct {
	confighttp.ServerConfig `mapstructure:",squash"`
}

// LimitsConfig bounds the size of every input and the bytes converted at once.
type LimitsConfig = collect.Limits

func createDefaultConfig() *Config {
	push := confighttp.NewDefaultServerConfig()
	push.NetAddr.Endpoint = ""
	push.ReadTimeout = time.Minute // a slow or stalled upload is cut off
	return &Config{
		CollectionInterval: 30 * time.Second,
		Pprof: PprofConfig{
			Profiles:    slices.Clone(knownProfiles),
			CPUDuration: 10 * time.Second,
		},
		Trace: TraceConfig{
			Duration:          10 * time.Second,
			BudgetBytes:       8 << 20,
			MinSpanDuration:   time.Millisecond,
			TaskSpans:         stitch.TaskSpansNotable,
			MaxGoroutineSpans: 1000,
		},
		EBPF: EBPFConfig{Mode: EBPFModeAuto, ReadWaitThreshold: ebpfsrc.DefaultReadWaitThreshold,
			RingBufferSize: ebpfsrc.DefaultRingBufferSize, MaxSockets: ebpfsrc.DefaultMaxSockets},
		Push:    PushConfig{ServerConfig: push},
		Join:    JoinConfig{MaxWait: 10 * time.Second}, // 2 × the SDK batch span processor's default delay
		Limits:  LimitsConfig{MaxProfileBytes: 64 << 20, MaxTraceBytes: 512 << 20, MaxConcurrentConversionBytes: 1 << 30},
		Metrics: metadata.DefaultMetricsConfig(),
	}
}

// Validate checks the configuration and names every problem it finds.
func (cfg *Config) Validate() error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }

	if cfg.CollectionInterval <= 0 {
		add("collection_interval must be positive, got %v", cfg.CollectionInterval)
	}
	if len(cfg.Targets) == 0 {
		add("targets: at least one target is required")
	}
	names := map[string]bool{}
	pushOn := cfg.Push.NetAddr.Endpoint != ""
	for i, t := range cfg.Targets {
		errs = append(errs, t.validate(i, names, pushOn)...)
	}
	for _, p := range cfg.Pprof.Profiles {
		if !slices.Contains(knownProfiles, p) {
			add("pprof.profiles: unknown profile %q (known: %v)", p, knownProfiles)
		}
	}
	if cfg.scrapes() {
		if cfg.Pprof.CPUDuration < time.Second {
			add("pprof.cpu_duration must be at least 1s (net/http/pprof takes whole seconds), got %v", cfg.Pprof.CPUDuration)
		} else if cfg.CollectionInterval > 0 && cfg.Pprof.CPUDuration > cfg.CollectionInterval {
			add("pprof.cpu_duration (%v) must not be longer than collection_interval (%v)", cfg.Pprof.CPUDuration, cfg.CollectionInterval)
		}
		if cfg.Trace.Duration < 0 {
			add("trace.duration must not be negative, got %v", cfg.Trace.Duration)
		} else if cfg.CollectionInterval > 0 && cfg.Trace.Duration > cfg.CollectionInterval {
			add("trace.duration (%v) must not be longer than collection_interval (%v)", cfg.Trace.Duration, cfg.CollectionInterval)
		}
	}
	if cfg.Trace.BudgetBytes < 0 {
		add("trace.budget_bytes must not be negative (0 keeps every trace at trace.duration), got %d", cfg.Trace.BudgetBytes)
	}
	if cfg.Trace.MinSpanDuration < 0 {
		add("trace.min_span_duration must not be negative, got %v", cfg.Trace.MinSpanDuration)
	}
	if _, err := stitch.ParseTaskSpans(cfg.Trace.TaskSpans); err != nil {
		errs = append(errs, err)
	}
	if cfg.Trace.MaxGoroutineSpans < 0 {
		add("trace.max_goroutine_spans must not be negative, got %d", cfg.Trace.MaxGoroutineSpans)
	}
	if err := ebpfsrc.Mode(cfg.EBPF.Mode).Validate(); err != nil {
		errs = append(errs, err)
	}
	if cfg.EBPF.ReadWaitThreshold <= 0 {
		add("ebpf.read_wait_threshold must be positive, got %v", cfg.EBPF.ReadWaitThreshold)
	}
	if n := cfg.EBPF.RingBufferSize; n < os.Getpagesize() || n&(n-1) != 0 {
		add("ebpf.ring_buffer_size must be a power of two of at least %d (one page), got %d", os.Getpagesize(), n)
	}
	if cfg.EBPF.MaxSockets <= 0 {
		add("ebpf.max_sockets must be positive, got %d", cfg.EBPF.MaxSockets)
	}
	if cfg.Join.MaxWait < 0 {
		add("join.max_wait must not be negative, got %v", cfg.Join.MaxWait)
	}
	if cfg.Limits.MaxProfileBytes <= 0 || cfg.Limits.MaxTraceBytes <= 0 {
		add("limits.max_profile_bytes and limits.max_trace_bytes must be positive")
	}
	largest := max(cfg.Limits.MaxProfileBytes, cfg.Limits.MaxTraceBytes)
	if n := cfg.Limits.MaxConcurrentConversionBytes; n <= 0 || n < largest {
		add("limits.max_concurrent_conversion_bytes must be positive and at least limits.max_profile_bytes and limits.max_trace_bytes (%d), so one input can always be converted; got %d", largest, n)
	}
	return errors.Join(errs...)
}

// scrapes tells whether a target has an endpoint: pprof.cpu_duration and trace.duration apply
// to scrapes only.
func (cfg *Config) scrapes() bool {
	return slices.ContainsFunc(cfg.Targets, func(t TargetConfig) bool { return t.Endpoint != "" })
}

func (t TargetConfig) validate(i int, seen map[string]bool, pushOn bool) []error {
	var errs []error
	where := fmt.Sprintf("targets[%d]", i)
	if t.Name == "" {
		errs = append(errs, fmt.Errorf("%s: name is required", where))
	} else {
		where = fmt.Sprintf("targets[%d] (%s)", i, t.Name)
		if seen[t.Name] {
			errs = append(errs, fmt.Errorf("%s: duplicate target name", where))
		}
		seen[t.Name] = true
	}
	if t.Endpoint == "" && len(t.PprofFiles) == 0 && len(t.TraceFiles) == 0 && !pushOn {
		errs = append(errs, fmt.Errorf("%s: needs an endpoint, pprof_files or trace_files (or push.endpoint for uploads)", where))
	}
	if t.Endpoint != "" {
		u, err := url.Parse(t.Endpoint)
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("%s: endpoint %q: %w", where, t.Endpoint, err))
		case u.Scheme != "http" && u.Scheme != "https", u.Host == "":
			errs = append(errs, fmt.Errorf("%s: endpoint %q must be an http(s) URL like http://127.0.0.1:6060", where, t.Endpoint))
		}
	}
	if t.PID < 0 || t.PID >= ebpfsrc.PIDLimit {
		errs = append(errs, fmt.Errorf("%s: pid must be between 0 and %d (the kernel's largest), got %d", where, ebpfsrc.PIDLimit-1, t.PID))
	}
	for _, pattern := range slices.Concat(t.PprofFiles, t.TraceFiles) {
		if _, err := filepath.Match(pattern, ""); err != nil {
			errs = append(errs, fmt.Errorf("%s: bad glob %q: %w", where, pattern, err))
		}
	}
	return errs
}
