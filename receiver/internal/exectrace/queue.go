package exectrace

import "golang.org/x/exp/trace"

// queue holds the events ready to hand out and gives every event read, handed out or not,
// its time.
type queue struct {
	events []Event
	head   int // the next event to hand out
	lastTs trace.Time
	count  int // events read, including those not handed out
}

// push queues a new event at time t on thread m with goroutine g in its context and returns
// it for the caller to fill in, valid until the next push.
func (q *queue) push(t trace.Time, m trace.ThreadID, g trace.GoID) *Event {
	n := len(q.events)
	if n == cap(q.events) {
		q.events = append(q.events, Event{})
	}
	q.events = q.events[:n+1]
	ev := &q.events[n]
	ev.reset(q.stamp(t), m, g)
	return ev
}

// pushSync queues a Sync at the last event's time.
func (q *queue) pushSync() {
	q.push(q.lastTs, trace.NoThread, trace.NoGoroutine).Kind = Sync
}

// skip accounts for an event that is not handed out, so that times stay those x/exp/trace gives.
func (q *queue) skip(t trace.Time) { q.stamp(t) }

// stamp makes event times strictly increasing, as x/exp/trace does.
func (q *queue) stamp(t trace.Time) trace.Time {
	if t <= q.lastTs {
		t = q.lastTs + 1
	}
	q.lastTs = t
	q.count++
	return t
}

// pop hands out the next queued event, nil when none is left (and the queue is emptied).
func (q *queue) pop() *Event {
	if q.head == len(q.events) {
		q.events, q.head = q.events[:0], 0
		return nil
	}
	q.head++
	return &q.events[q.head-1]
}
