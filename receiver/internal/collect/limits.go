package collect

// Limits bound the raw inputs read from outside and the bytes converted at once; the receiver's
// config (`limits`) decodes into them.
type Limits struct {
	// MaxProfileBytes bounds one pprof profile as read (compressed) and decompressed.
	MaxProfileBytes int64 `mapstructure:"max_profile_bytes"`
	// MaxTraceBytes bounds one execution trace.
	MaxTraceBytes int64 `mapstructure:"max_trace_bytes"`
	// MaxConcurrentConversionBytes bounds the input bytes of the windows converted at once,
	// across targets and uploads; the windows over it wait their turn (see Capped).
	MaxConcurrentConversionBytes int64 `mapstructure:"max_concurrent_conversion_bytes"`
}
