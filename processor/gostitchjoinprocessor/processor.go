package gostitchjoinprocessor

import (
	"context"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/gostitch/gostitch/internal/appspans"
	"github.com/gostitch/gostitch/processor/gostitchjoinprocessor/internal/metadata"
)

// serviceNameKey is the semantic-convention resource attribute naming the app.
const serviceNameKey = "service.name"

// joinProcessor indexes the spans passing through it in its own index, registered for the
// receiver while the processor runs.
type joinProcessor struct {
	index *appspans.Index
	tel   *metadata.TelemetryBuilder
}

func newJoinProcessor(cfg *Config, set component.TelemetrySettings) (*joinProcessor, error) {
	tel, err := metadata.NewTelemetryBuilder(set)
	if err != nil {
		return nil, err
	}
	return &joinProcessor{index: appspans.NewIndex(appspans.Limits{MaxSpans: cfg.MaxSpans, Retention: cfg.Retention}), tel: tel}, nil
}

func (p *joinProcessor) start(context.Context, component.Host) error {
	appspans.Register(p.index)
	return nil
}

func (p *joinProcessor) shutdown(context.Context) error {
	appspans.Unregister(p.index)
	return nil
}

// processTraces indexes the spans of the services a receiver wants now (appspans.Want), moves
// the watermark of the others, and returns td as it came.
func (p *joinProcessor) processTraces(ctx context.Context, td ptrace.Traces) (ptrace.Traces, error) {
	var indexed, evicted int64
	rss := td.ResourceSpans()
	for i := 0; i < rss.Len(); i++ {
		rs := rss.At(i)
		svc, ok := rs.Resource().Attributes().Get(serviceNameKey)
		if !ok {
			continue
		}
		name := svc.AsString()
		wanted := appspans.Wanted(name)
		var lastEnd int64
		sss := rs.ScopeSpans()
		for j := 0; j < sss.Len(); j++ {
			spans := sss.At(j).Spans()
			for k := 0; k < spans.Len(); k++ {
				s := spans.At(k)
				if !wanted {
					lastEnd = max(lastEnd, int64(s.EndTimestamp()))
					continue
				}
				evicted += int64(p.index.Add(name, appspans.Span{Name: s.Name(), TraceID: s.TraceID(), SpanID: s.SpanID(),
					Parent: s.ParentSpanID(), Start: int64(s.StartTimestamp()), End: int64(s.EndTimestamp())}))
				indexed++
			}
		}
		if lastEnd > 0 {
			p.index.Saw(name, lastEnd)
		}
	}
	if indexed > 0 {
		p.tel.GostitchProcessorIndexed.Add(ctx, indexed)
	}
	if evicted > 0 {
		p.tel.GostitchProcessorEvicted.Add(ctx, evicted)
	}
	return td, nil
}
