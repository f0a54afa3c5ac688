package gostitchreceiver

import (
	"context"
	"time"

	"go.uber.org/zap"

	"github.com/gostitch/gostitch/internal/appspans"
	"github.com/gostitch/gostitch/receiver/internal/collect"
)

// appSpanPoll is how often a window waiting for the app's spans looks again.
const appSpanPoll = 50 * time.Millisecond

// appSpans returns what finds the app spans of a window's tasks (docs/design.md, "Trace ids"
// rule A): nil unless a gostitchjoin processor has seen the target's service, the target's
// name being the app's service.name. It first waits until the app's spans of the window have
// arrived, that is until the processor saw a span of the service end after the window's end,
// or join.max_wait passed, or ctx ended; then the window goes out with what has arrived.
// Files are not waited for: they were written before they are read.
func (r *gostitchReceiver) appSpans(ctx context.Context, w *collect.Window) appspans.Matcher {
	name := w.Target.Name
	if _, seen := appspans.Registered().Watermark(name); !seen {
		return nil
	}
	if w.Origin == collect.OriginFile {
		return appspans.Live
	}
	deadline := time.NewTimer(r.cfg.Join.MaxWait)
	defer deadline.Stop()
	tick := time.NewTicker(appSpanPoll)
	defer tick.Stop()
	for {
		if wm, _ := appspans.Registered().Watermark(name); wm >= w.End.UnixNano() {
			return appspans.Live
		}
		select {
		case <-ctx.Done():
			return appspans.Live
		case <-deadline.C:
			r.settings.Logger.Debug("The app's spans of the window did not all arrive within join.max_wait; converting with those that did",
				zap.String("target", name), zap.Duration("max_wait", r.cfg.Join.MaxWait))
			return appspans.Live
		case <-tick.C:
		}
	}
}
