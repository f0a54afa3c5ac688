// Package selftel reports the receiver's own health through the collector's telemetry:
// collections by outcome, bytes read, everything dropped, by reason, windows deferred by the
// cap on concurrent conversions, and which eBPF programs run.
//
// Where the instruments come from: docs/design.md, "Output vocabulary".
package selftel

import (
	"context"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/gostitch/gostitch/receiver/internal/metadata"
)

// Telemetry records the receiver's self-telemetry through the instruments generated from
// metadata.yaml.
type Telemetry struct {
	tb *metadata.TelemetryBuilder
}

// New creates the instruments on the collector's meter provider.
func New(set component.TelemetrySettings) (*Telemetry, error) {
	tb, err := metadata.NewTelemetryBuilder(set)
	if err != nil {
		return nil, err
	}
	return &Telemetry{tb: tb}, nil
}

// Collection counts one collection step (a scrape of one profile, a file read, a push) of a target.
func (t *Telemetry) Collection(ctx context.Context, target, kind string, err error) {
	outcome := metadata.AttributeOutcomeSuccess
	if err != nil {
		outcome = metadata.AttributeOutcomeFailure
	}
	t.tb.GostitchReceiverCollections.Add(ctx, 1, metric.WithAttributes(
		attribute.String(metadata.AttributeTarget, target), attribute.String(metadata.AttributeKind, kind), attribute.String(metadata.AttributeOutcome, outcome)))
}

// BytesRead counts raw input bytes read for a target.
func (t *Telemetry) BytesRead(ctx context.Context, target, kind string, n int64) {
	t.tb.GostitchReceiverBytesRead.Add(ctx, n, metric.WithAttributes(attribute.String(metadata.AttributeTarget, target), attribute.String(metadata.AttributeKind, kind)))
}

// Dropped counts items a source dropped, with the reason.
func (t *Telemetry) Dropped(ctx context.Context, source, reason string, n int64) {
	if n == 0 {
		return
	}
	t.tb.GostitchReceiverDropped.Add(ctx, n, metric.WithAttributes(
		attribute.String(metadata.AttributeSource, source), attribute.String(metadata.AttributeDropReason, reason)))
}

// Events counts input events a source read for a target.
func (t *Telemetry) Events(ctx context.Context, target, source string, n int64) {
	if n == 0 {
		return
	}
	t.tb.GostitchReceiverEvents.Add(ctx, n, metric.WithAttributes(attribute.String(metadata.AttributeTarget, target), attribute.String(metadata.AttributeSource, source)))
}

// Joined counts items of a source stitched into task traces by method (or not: AttributeJoinMethodNone).
func (t *Telemetry) Joined(ctx context.Context, target, source, method string, n int64) {
	if n == 0 {
		return
	}
	t.tb.GostitchReceiverJoined.Add(ctx, n, metric.WithAttributes(attribute.String(metadata.AttributeTarget, target),
		attribute.String(metadata.AttributeSource, source), attribute.String(metadata.AttributeJoinMethod, method)))
}

// AppSpanMisses counts tasks of a target that went under no app span, by why (metadata.AttributeJoinMiss*).
func (t *Telemetry) AppSpanMisses(ctx context.Context, target, why string, n int64) {
	if n == 0 {
		return
	}
	t.tb.GostitchReceiverAppSpanMisses.Add(ctx, n, metric.WithAttributes(attribute.String(metadata.AttributeTarget, target),
		attribute.String(metadata.AttributeJoinMiss, why)))
}

// Deferred counts a window of a target whose conversion waited for the cap on concurrent conversions.
func (t *Telemetry) Deferred(ctx context.Context, target string) {
	t.tb.GostitchReceiverDeferred.Add(ctx, 1, metric.WithAttributes(attribute.String(metadata.AttributeTarget, target)))
}

// TraceLength records the length of a target's latest execution trace.
func (t *Telemetry) TraceLength(ctx context.Context, target string, d time.Duration) {
	t.tb.GostitchReceiverTraceLength.Record(ctx, d.Seconds(), metric.WithAttributes(attribute.String(metadata.AttributeTarget, target)))
}

// EBPFProgram records whether a program of the eBPF socket source is attached.
func (t *Telemetry) EBPFProgram(ctx context.Context, program string, attached bool) {
	var v int64
	if attached {
		v = 1
	}
	t.tb.GostitchReceiverEbpfPrograms.Record(ctx, v, metric.WithAttributes(attribute.String(metadata.AttributeEbpfProgram, program)))
}
