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
// converted are reported (wrapped in collect.ErrBadInput) and the others still go out.
func (r *gostitchReceiver) ConsumeWindow(ctx context.Context, w *collect.Window) error {
	var errs []error
	for _, p := range w.Profiles {
		if err := r.consumeProfile(ctx, w, p); err != nil {
			errs = append(errs, err)
		}
	}
	// The window's socket events are drained before its execution trace is converted, so the
	// diagnosis of slow tasks names the kernel's share; then they are joined to its tasks.
	var sockets *ebpfsrc.Batch
	if w.Origin == collect.OriginScrape {
		b, err := r.collectSockets(ctx, w)
		if err != nil {
			errs = append(errs, err)
		}
		sockets = b
	}
	// join indexes the window's execution trace for its eBPF events (a scrape has one trace).
	var join *stitch.JoinIndex
	for _, tr := range w.Traces {
		idx, err := r.consumeTrace(ctx, w, tr, sockets)
		if err != nil {
			errs = append(errs, err)
		}
		if idx != nil {
			join = idx
		}
	}
	if sockets != nil {
		traces, metrics, stats := stitch.Sockets(sockets, w.Target, join)
		r.countJoins(ctx, w.Target.Name, stats)
		errs = append(errs, r.emitTraces(ctx, r.obs.ebpf, traces), r.emitMetrics(ctx, r.obs.ebpf, metrics))
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
// events when it has them (nil otherwise); it returns the trace's join index when the converter
// keeps one (scrapes with eBPF on). A trace decompressing past limits.max_trace_bytes is cut
// there.
func (r *gostitchReceiver) consumeTrace(ctx context.Context, w *collect.Window, tr collect.Trace, sockets *ebpfsrc.Batch) (*stitch.JoinIndex, error) {
	rc, err := tr.Open()
	if err != nil {
		err = fmt.Errorf("target %q: open execution trace %s: %w", w.Target.Name, tr.From, err)
		r.settings.Logger.Warn("Execution trace not read", zap.Error(err))
		r.tel.Dropped(ctx, metadata.AttributeSourceGoTrace, "read_error", 1)
		return nil, err
	}
	defer rc.Close()
	in, err := gzlimit.Sniff(ctxReader{ctx, rc}, r.cfg.Limits.MaxTraceBytes)
	if ctx.Err() != nil {
		return nil, conversionStopped(ctx, w, tr)
	}
	if err != nil {
		return nil, r.badTrace(ctx, w, tr, fmt.Errorf("gzip header: %w", err))
	}
	// A batch the next consumer refuses is counted as refused (obsreport) and conversion goes
	// on, so one refusal does not lose the rest of the trace; the first refusal is returned as
	// is, so an upload's client sees whether to retry.
	obs := r.obs.of(w.Origin)
	conv := r.traceConverter(w)
	conv.SetAppSpans(r.appSpans(ctx, w))
	res, err := conv.ConvertWindow(in, sockets, func(td ptrace.Traces) error { return r.emitTraces(ctx, obs, td) })
	if ctx.Err() != nil {
		// What was converted before has been emitted.
		return nil, conversionStopped(ctx, w, tr)
	}
	if err != nil {
		// What was read before the error has been emitted; the error says where it stopped.
		err = r.badTrace(ctx, w, tr, err)
	}
	if tl := res.Timeline; tl != nil {
		name := w.Target.Name
		r.tel.Events(ctx, name, metadata.AttributeSourceGoTrace, int64(tl.Events))
		r.tel.Joined(ctx, name, metadata.AttributeSourceGoTrace, metadata.AttributeJoinMethodTask, int64(res.TaskCPUSamples))
		r.tel.Joined(ctx, name, metadata.AttributeSourceGoTrace, metadata.AttributeJoinMethodNone, int64(tl.CPUSamples-res.TaskCPUSamples))
		r.tel.Dropped(ctx, metadata.AttributeSourceGoTrace, "goroutine_span_limit", int64(res.GoroutineCut))
		r.countAppSpans(ctx, name, conv.AppSpanStats())
	}
	// Empty metrics and profiles (a trace refused at its header) are not emitted.
	err = errors.Join(err, r.emitMetrics(ctx, obs, res.Metrics), r.emitProfiles(ctx, obs, res.Profiles))
	return res.Join, errors.Join(res.EmitErr, err)
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

// countJoins reports how a window's socket events were stitched.
func (r *gostitchReceiver) countJoins(ctx context.Context, target string, s stitch.JoinStats) {
	src := metadata.AttributeSourceEbpf
	r.tel.Joined(ctx, target, src, metadata.AttributeJoinMethodCookie, int64(s.ByCookie))
	r.tel.Joined(ctx, target, src, metadata.AttributeJoinMethodThread, int64(s.ByThread))
	r.tel.Joined(ctx, target, src, metadata.AttributeJoinMethodLastUse, int64(s.ByLastUse))
	r.tel.Joined(ctx, target, src, metadata.AttributeJoinMethodNone, int64(s.Unjoined))
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
