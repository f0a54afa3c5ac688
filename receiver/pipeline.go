package gostitchreceiver

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"

	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/pprofile"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/receiver/receiverhelper"
	"go.uber.org/zap"

	"github.com/gostitch/gostitch/receiver/internal/collect"
	"github.com/gostitch/gostitch/receiver/internal/ebpfsrc"
	"github.com/gostitch/gostitch/receiver/internal/gzlimit"
	"github.com/gostitch/gostitch/receiver/internal/metadata"
	"github.com/gostitch/gostitch/receiver/internal/pprofsrc"
	"github.com/gostitch/gostitch/receiver/internal/stitch"
	"github.com/gostitch/gostitch/receiver/internal/tracesrc"
)

// dataFormat names the receiver's input in the collector's obsreport metrics.
const dataFormat = "gostitch"

// converters keeps one execution-trace converter per scraped target, so a task open at the
// end of one window continues in the next with its type, start and trace id.
type converters struct {
	mu sync.Mutex
	m  map[string]*stitch.TraceConverter
}

// ConsumeWindow converts one window of a target and sends the result on. Inputs that cannot be
// converted are reported (wrapped in collect.ErrBadInput) and the others still go out. The
// window's execution trace and socket events are joined by one stitch call (docs/design.md,
// "One window"); a scrape has at most one trace, so its socket events go with the first.
func (r *gostitchReceiver) ConsumeWindow(ctx context.Context, w *collect.Window) error {
	var errs []error
	for _, p := range w.Profiles {
		if err := r.consumeProfile(ctx, w, p); err != nil {
			errs = append(errs, err)
		}
	}
	var sockets *ebpfsrc.Batch
	if w.Origin == collect.OriginScrape {
		b, err := r.collectSockets(ctx, w)
		if err != nil {
			errs = append(errs, err)
		}
		sockets = b
	}
	for _, tr := range w.Traces {
		errs = append(errs, r.consumeTrace(ctx, w, tr, sockets))
		sockets = nil
	}
	if sockets != nil { // no trace to join them to
		_, err := r.convert(ctx, w, stitch.Window{Sockets: sockets})
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

func (r *gostitchReceiver) consumeProfile(ctx context.Context, w *collect.Window, p collect.Profile) error {
	profiles, metrics, err := pprofsrc.DecodeConvert(p.Data, int(r.cfg.Limits.MaxProfileBytes), p.Kind, w.Target,
		pprofsrc.Options{LabelAttributes: r.cfg.Pprof.LabelAttributes, Metrics: r.metrics})
	if err == nil {
		r.tel.Events(ctx, w.Target.Name, metadata.AttributeSourcePprof, int64(profiles.SampleCount()))
		obs := r.obs.of(w.Origin)
		return errors.Join(r.emitProfiles(ctx, obs, profiles), r.emitMetrics(ctx, obs, metrics))
	}
	return r.badInput(ctx, metadata.AttributeSourcePprof, "Profile not converted",
		fmt.Errorf("target %q: pprof from %s: %w: %w", w.Target.Name, p.From, collect.ErrBadInput, err))
}

// consumeTrace converts one execution trace, plain or gzip-compressed, with the window's socket
// events when it has them (nil otherwise). A trace decompressing past limits.max_trace_bytes is
// cut there. A trace that cannot be opened leaves the socket events unjoined.
func (r *gostitchReceiver) consumeTrace(ctx context.Context, w *collect.Window, tr collect.Trace, sockets *ebpfsrc.Batch) error {
	in, closeTrace, err := r.openTrace(ctx, w, tr)
	if err != nil {
		_, emitErr := r.convert(ctx, w, stitch.Window{Sockets: sockets})
		return errors.Join(err, emitErr)
	}
	defer closeTrace()
	readErr, err := r.convert(ctx, w, stitch.Window{Trace: in, Sockets: sockets, AppSpans: r.appSpans(ctx, w)})
	if ctx.Err() != nil {
		// What was converted before has been emitted.
		return conversionStopped(ctx, w, tr)
	}
	if readErr != nil {
		// What was read before the error has been emitted; the error says where it stopped.
		err = errors.Join(r.badTrace(ctx, w, tr, readErr), err)
	}
	return err
}

// openTrace opens an execution trace for reading until ctx ends, decompressing it when it is
// gzip-compressed; the caller closes it with closeTrace. It reports what it could not open.
func (r *gostitchReceiver) openTrace(ctx context.Context, w *collect.Window, tr collect.Trace) (_ io.Reader, closeTrace func(), _ error) {
	rc, err := tr.Open()
	if err != nil {
		err = fmt.Errorf("target %q: open execution trace %s: %w", w.Target.Name, tr.From, err)
		r.settings.Logger.Warn("Execution trace not read", zap.Error(err))
		r.tel.Dropped(ctx, metadata.AttributeSourceGoTrace, "read_error", 1)
		return nil, nil, err
	}
	in, err := gzlimit.Sniff(ctxReader{ctx, rc}, r.cfg.Limits.MaxTraceBytes)
	switch {
	case ctx.Err() != nil:
		err = conversionStopped(ctx, w, tr)
	case err != nil:
		err = r.badTrace(ctx, w, tr, fmt.Errorf("gzip header: %w", err))
	default:
		return in, func() { rc.Close() }, nil
	}
	rc.Close()
	return nil, nil, err
}

// convert converts one window by stitch, emits what it yields and reports its statistics; it
// returns the error reading the trace apart from the errors emitting. A batch the next consumer
// refuses is counted as refused (obsreport) and conversion goes on, so one refusal does not
// lose the rest of the trace; the first refusal is returned as is, so an upload's client sees
// whether to retry. A trace conversion stopped because ctx ended emits nothing more.
func (r *gostitchReceiver) convert(ctx context.Context, w *collect.Window, in stitch.Window) (readErr, err error) {
	obs := r.obs.of(w.Origin)
	res, readErr := r.traceConverter(w).ConvertWindow(in, func(source string, td ptrace.Traces) error {
		if source == metadata.AttributeSourceEbpf {
			return r.emitTraces(ctx, r.obs.ebpf, td)
		}
		return r.emitTraces(ctx, obs, td)
	})
	if in.Trace != nil && ctx.Err() != nil {
		return readErr, nil
	}
	r.countWindow(ctx, w.Target.Name, in.Sockets != nil, res.Stats)
	// Empty metrics and profiles (a trace refused at its header) are not emitted.
	return readErr, errors.Join(res.EmitErr, r.emitMetrics(ctx, obs, res.Metrics), r.emitProfiles(ctx, obs, res.Profiles),
		r.emitMetrics(ctx, r.obs.ebpf, res.SocketMetrics))
}

// ctxReader reads r until ctx is done, so a conversion stops at its next read.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := context.Cause(c.ctx); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// conversionStopped is the error of a trace whose conversion stopped because ctx is done: the
// receiver shuts down or the client of an upload left. It is not bad input.
func conversionStopped(ctx context.Context, w *collect.Window, tr collect.Trace) error {
	return fmt.Errorf("target %q: execution trace from %s: conversion stopped: %w", w.Target.Name, tr.From, context.Cause(ctx))
}

// badTrace reports an execution trace whose bytes could not be (fully) converted, wrapping
// cause in collect.ErrBadInput with the target and where the bytes came from.
func (r *gostitchReceiver) badTrace(ctx context.Context, w *collect.Window, tr collect.Trace, cause error) error {
	return r.badInput(ctx, metadata.AttributeSourceGoTrace, "Execution trace not fully converted",
		fmt.Errorf("target %q: execution trace from %s: %w: %w", w.Target.Name, tr.From, collect.ErrBadInput, cause))
}

// badInput reports err, an input of source whose bytes were unusable: a warning msg and a
// bad_input drop. It returns err.
func (r *gostitchReceiver) badInput(ctx context.Context, source, msg string, err error) error {
	r.settings.Logger.Warn(msg, zap.Error(err))
	r.tel.Dropped(ctx, source, "bad_input", 1)
	return err
}

// traceConverter returns the target's converter for scrapes, and a fresh one for files and
// uploads, which are not continuations of each other. With eBPF on, a scrape's converter keeps
// the thread intervals of task work, for the join of the window's socket events.
func (r *gostitchReceiver) traceConverter(w *collect.Window) *stitch.TraceConverter {
	taskSpans, _ := stitch.ParseTaskSpans(r.cfg.Trace.TaskSpans) // checked by Validate
	opts := stitch.TraceOptions{MinSpanDuration: r.cfg.Trace.MinSpanDuration, Metrics: r.metrics, TaskSpans: taskSpans,
		MaxGoroutineSpans: r.cfg.Trace.MaxGoroutineSpans}
	if w.Origin != collect.OriginScrape {
		return stitch.NewTraceConverter(w.Target, opts)
	}
	if r.ebpf != nil {
		opts.Threads = tracesrc.TaskThreadIntervals
	}
	r.converters.mu.Lock()
	defer r.converters.mu.Unlock()
	conv, ok := r.converters.m[w.Target.Name]
	if !ok {
		conv = stitch.NewTraceConverter(w.Target, opts)
		r.converters.m[w.Target.Name] = conv
	}
	return conv
}

// collectSockets drains the kernel's socket events of the target's process for the window;
// nil without eBPF or a pid.
func (r *gostitchReceiver) collectSockets(ctx context.Context, w *collect.Window) (*ebpfsrc.Batch, error) {
	if r.ebpf == nil || w.Target.PID <= 0 {
		return nil, nil
	}
	b, err := r.ebpf.Collect(uint32(w.Target.PID), w.End)
	if err != nil {
		return nil, fmt.Errorf("target %q: collect eBPF socket events: %w", w.Target.Name, err)
	}
	r.tel.Dropped(ctx, metadata.AttributeSourceEbpf, "ring_buffer_full", int64(b.Lost.Events))
	r.tel.Dropped(ctx, metadata.AttributeSourceEbpf, "socket_map_full", int64(b.Lost.SocketUses))
	r.tel.Events(ctx, w.Target.Name, metadata.AttributeSourceEbpf, int64(len(b.Events)))
	if b.Lost.Events > 0 {
		r.settings.Logger.Warn("Kernel socket events lost: the ring buffer was full or too many were pending; raise ebpf.ring_buffer_size if this persists",
			zap.String("target", w.Target.Name), zap.Uint64("lost", b.Lost.Events), zap.Int("ring_buffer_size", r.cfg.EBPF.RingBufferSize))
	}
	if b.Lost.SocketUses > 0 {
		r.settings.Logger.Warn("Kernel socket uses unseen: the socket map was full; raise ebpf.max_sockets if this persists",
			zap.String("target", w.Target.Name), zap.Uint64("unseen", b.Lost.SocketUses), zap.Int("max_sockets", r.cfg.EBPF.MaxSockets))
	}
	return &b, nil
}

// countWindow reports a window's conversion: the execution trace's events and joins, when one
// was read, and the joins of its socket events, when it had some.
func (r *gostitchReceiver) countWindow(ctx context.Context, target string, sockets bool, s stitch.Stats) {
	if s.Trace {
		src := metadata.AttributeSourceGoTrace
		r.tel.Events(ctx, target, src, int64(s.Events))
		r.tel.Joined(ctx, target, src, metadata.AttributeJoinMethodTask, int64(s.TaskCPUSamples))
		r.tel.Joined(ctx, target, src, metadata.AttributeJoinMethodNone, int64(s.CPUSamples-s.TaskCPUSamples))
		r.tel.Dropped(ctx, src, "goroutine_span_limit", int64(s.GoroutineCut))
		r.tel.Joined(ctx, target, src, metadata.AttributeJoinMethodAppSpan, int64(s.AppSpans.Matched))
		r.tel.AppSpanMisses(ctx, target, metadata.AttributeJoinMissUnmatched, int64(s.AppSpans.Unmatched))
		r.tel.AppSpanMisses(ctx, target, metadata.AttributeJoinMissAmbiguous, int64(s.AppSpans.Ambiguous))
	}
	if sockets {
		src := metadata.AttributeSourceEbpf
		r.tel.Joined(ctx, target, src, metadata.AttributeJoinMethodCookie, int64(s.Sockets.ByCookie))
		r.tel.Joined(ctx, target, src, metadata.AttributeJoinMethodThread, int64(s.Sockets.ByThread))
		r.tel.Joined(ctx, target, src, metadata.AttributeJoinMethodLastUse, int64(s.Sockets.ByLastUse))
		r.tel.Joined(ctx, target, src, metadata.AttributeJoinMethodNone, int64(s.Sockets.Unjoined))
	}
}

// setPIDs keeps the kernel's pid filter equal to the targets' current pids, which the
// controller holds; target's pid just became pid.
func (r *gostitchReceiver) setPIDs(target string, pid int, pids []int) {
	if r.ebpf == nil {
		return
	}
	filter := make([]uint32, len(pids))
	for i, p := range pids {
		filter[i] = uint32(p)
	}
	if err := r.ebpf.SetPIDs(filter); err != nil {
		r.settings.Logger.Warn("Cannot update the eBPF pid filter", zap.String("target", target), zap.Int("pid", pid), zap.Error(err))
	}
}

func (r *gostitchReceiver) emitTraces(ctx context.Context, obs *receiverhelper.ObsReport, td ptrace.Traces) error {
	n := td.SpanCount()
	if r.consumers.traces == nil || n == 0 {
		return nil
	}
	ctx = obs.StartTracesOp(ctx)
	err := r.consumers.traces.ConsumeTraces(ctx, td)
	obs.EndTracesOp(ctx, dataFormat, n, err)
	return err
}

func (r *gostitchReceiver) emitMetrics(ctx context.Context, obs *receiverhelper.ObsReport, md pmetric.Metrics) error {
	n := md.DataPointCount()
	if r.consumers.metrics == nil || n == 0 {
		return nil
	}
	ctx = obs.StartMetricsOp(ctx)
	err := r.consumers.metrics.ConsumeMetrics(ctx, md)
	obs.EndMetricsOp(ctx, dataFormat, n, err)
	return err
}

func (r *gostitchReceiver) emitProfiles(ctx context.Context, obs *receiverhelper.ObsReport, pd pprofile.Profiles) error {
	n := pd.SampleCount()
	if r.consumers.profiles == nil || n == 0 {
		return nil
	}
	ctx = obs.StartProfilesOp(ctx)
	err := r.consumers.profiles.ConsumeProfiles(ctx, pd)
	obs.EndProfilesOp(ctx, dataFormat, n, err)
	return err
}
