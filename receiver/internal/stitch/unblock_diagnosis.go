package stitch

import (
	"fmt"
	"time"

	"golang.org/x/exp/trace"

	"github.com/gostitch/gostitch/receiver/internal/tracesrc"
)

// releaseInput is what the diagnosis keeps of who released a task's longest block: the
// releaser's frame (nil when no goroutine of the program released it; it points into the
// stack the model shares) and the task it worked for (type and id; id 0 for none); netpoller
// is set for a network wait that the trace shows ended without a goroutine releasing it: the
// netpoller did, on the socket's readiness or deadline.
type releaseInput struct {
	frame     *trace.StackFrame
	taskTyp   string
	taskID    trace.TaskID
	netpoller bool
}

func newReleaseInput(e *tracesrc.Episode) releaseInput {
	r := &e.Release
	in := releaseInput{frame: r.Frame, netpoller: e.Reason == tracesrc.Network && r.Goroutine == 0 && !e.Partial}
	if r.Task != nil {
		in.taskTyp, in.taskID = r.Task.Type, r.Task.ID
	}
	return in
}

// text follows the chain one step: ", released by broadcast at peer.go:120 (task importBlock
// 5120)", or ", released by the netpoller"; empty when the trace does not say who released the
// wait.
func (r releaseInput) text() string {
	if r.frame == nil {
		if r.netpoller {
			return ", released by the netpoller"
		}
		return ""
	}
	s := fmt.Sprintf(", released by %s at %s", shortFunc(r.frame.Func), fileLine(*r.frame))
	if r.taskID != 0 {
		typ := r.taskTyp
		if typ == "" {
			typ = unknownTaskName
		}
		s += fmt.Sprintf(" (task %s %d)", typ, r.taskID)
	}
	return s
}

// queuedInput is what the diagnosis keeps of a task's hand-offs (tracesrc.Handoff): their
// total, and the longest one (nil for none).
type queuedInput struct {
	total   time.Duration
	longest *handoffDetail
}

// handoffDetail is a task's longest hand-off.
type handoffDetail struct {
	d    time.Duration
	to   trace.GoID
	busy int
	// sent is the sender's wait that handed the task over (a send or a select on a full queue),
	// received the receive that ended it, by the goroutine that took the task up; took is where
	// that goroutine began working for the task. Zero frames when the trace does not show them.
	sent, received, took trace.StackFrame
}

func newQueuedInput(b *tracesrc.Breakdown, hs []tracesrc.Handoff) queuedInput {
	if len(hs) == 0 {
		return queuedInput{}
	}
	in := queuedInput{total: queuedTime(b, hs), longest: new(handoffDetail)}
	q := in.longest
	for i := range hs {
		h := &hs[i]
		if d := h.End.Sub(h.Start); d > q.d {
			*q = handoffDetail{d: d, to: h.To, busy: h.Busy, took: h.Took}
			if tracesrc.HandsOff(h.Wait.Reason) {
				q.sent = h.Wait.Frame
				if h.Wait.Release.Goroutine == h.To {
					q.received = *h.Wait.Release.Frame
				}
			}
		}
	}
	return in
}

// text names the longest hand-off, after the queued share: " between fetch.go:88 and
// import.go:40 (goroutine 7 took up 3 earlier tasks meanwhile)" when the trace shows the send
// and its receive, else " until goroutine 7 took it up at import.go:52 (it took up 3 earlier
// tasks meanwhile)"; with several hand-offs, the longest's duration comes first
// ("queued 80%, 151ms between ..."); empty when there was none.
func (in *queuedInput) text() string {
	q := in.longest
	if q == nil || q.d <= 0 {
		return ""
	}
	s := ""
	if q.d < in.total {
		s = fmt.Sprintf(", %v", roundDuration(q.d))
	}
	busy := ""
	if q.busy > 0 {
		busy = fmt.Sprintf("took up %d earlier %s meanwhile", q.busy, plural(q.busy, "task", "tasks"))
	}
	if q.sent.Func != "" && q.received.Func != "" {
		s += fmt.Sprintf(" between %s and %s (goroutine %d", fileLine(q.sent), fileLine(q.received), q.to)
		if busy != "" {
			s += " " + busy
		}
		return s + ")"
	}
	s += fmt.Sprintf(" until goroutine %d took it up", q.to)
	if q.took.Func != "" {
		s += " at " + fileLine(q.took)
	}
	if busy != "" {
		s += " (it " + busy + ")"
	}
	return s
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
