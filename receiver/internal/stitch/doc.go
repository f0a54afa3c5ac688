// Package stitch joins one window of a target: its execution trace (tracesrc's timeline), its
// eBPF socket events and the app's spans, into OTLP spans, metrics and profiles that share
// trace ids, and the statistics of the join (TraceConverter.ConvertWindow; docs/design.md,
// "One window"). One handler feeds the conversion's parts (span rendering, diagnosis, task
// metrics, CPU profile, work outside tasks, join index); the socket events are attributed to
// tasks in one pass that the diagnosis, the socket spans and the socket metrics read. The
// rules that decide the trace id or the parent of a span gostitch makes (docs/design.md, "Trace
// ids" rules 1–8 and A) live here and nowhere else; pprof samples' links (rule P) are read in
// pprofsrc.
package stitch
