// Package stitch joins what the sources read (pprof samples, execution-trace timelines and
// eBPF socket events) into OTLP spans, metrics and profiles that share trace ids. The rules
// that decide a trace id or a parent span (docs/design.md, "Trace ids") live here and nowhere else.
package stitch
