package exectrace

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/exp/trace"
)

// tracesrcTestdata holds the real Go 1.26 traces the tests of this package share with tracesrc,
// by design: the reader is proved on the very bytes whose conversion tracesrc's tests check,
// and the programs that wrote them live there too. A copy would duplicate 420 KB of binary
// fixtures that must stay identical; this package's own testdata holds what only it needs (a
// Go 1.27 trace, the fuzz corpus).
const tracesrcTestdata = "../tracesrc/testdata"

// realTraces are traces written by real Go programs: the Go team's trace test programs,
// syncnode, the blocksync workload, windows and a FlightRecorder snapshot (tracesrcTestdata),
// one written by Go 1.27 (testdata), and $GOSTITCH_EXECTRACE_FILES (a glob) for more.
func realTraces(t *testing.T) []string {
	files, err := filepath.Glob(filepath.Join(tracesrcTestdata, "*.trace"))
	newer, _ := filepath.Glob("testdata/*.trace")
	files = append(files, newer...)
	if err != nil || len(files) < 9 {
		t.Fatalf("real traces: %v (%d)", err, len(files))
	}
	if glob := os.Getenv("GOSTITCH_EXECTRACE_FILES"); glob != "" {
		more, _ := filepath.Glob(glob)
		files = append(files, more...)
	}
	return files
}

// TestSameEventsAsXExp reads real traces with both readers: every event x/exp/trace hands out
// that this reader also hands out must come in the same order with the same content, and the
// event counts must agree.
func TestSameEventsAsXExp(t *testing.T) {
	for _, path := range realTraces(t) {
		t.Run(filepath.Base(path), func(t *testing.T) {
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			want, wantCount, ok := readXExp(data)
			if !ok {
				t.Fatal("x/exp/trace cannot read the trace")
			}
			got, gotCount, err := readOurs(data)
			if err != nil {
				t.Fatal(err)
			}
			sameEvents(t, got, want, err)
			if gotCount != wantCount {
				t.Errorf("Events() = %d, x/exp/trace read %d", gotCount, wantCount)
			}
			t.Logf("%d events, %d handed out", wantCount, len(want))
		})
	}
}

// sameEvents fails t unless got, read by this reader up to err, equals want.
func sameEvents(t *testing.T, got, want []string, err error) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%d events handed out (error %v), x/exp/trace has %d of these kinds", len(got), err, len(want))
	}
	for i := range min(len(got), len(want)) {
		if got[i] != want[i] {
			t.Fatalf("event %d of %d:\n got  %s\n want %s", i, len(want), got[i], want[i])
		}
	}
}

// readOurs renders every event this reader hands out.
func readOurs(data []byte) ([]string, int, error) {
	r, err := NewReader(bytes.NewReader(data))
	if err != nil {
		return nil, 0, err
	}
	var out []string
	for {
		ev, err := r.Next()
		if errors.Is(err, io.EOF) {
			return out, r.Events(), nil
		}
		if err != nil {
			return out, r.Events(), err
		}
		out = append(out, render(ev, r.AppendFrames(nil, ev.Stack, 1000)))
	}
}

// readXExp renders the events of the kinds this reader hands out, as x/exp/trace reads them,
// and counts all events; ok is false when x/exp/trace fails to read the trace.
func readXExp(data []byte) (out []string, n int, ok bool) {
	r, err := trace.NewReader(bytes.NewReader(data))
	if err != nil {
		return nil, 0, false
	}
	for {
		xe, err := r.ReadEvent()
		if err == io.EOF { // x/exp/trace also wraps io.EOF in errors about cut input
			return out, n, true
		}
		if err != nil {
			return out, n, false
		}
		n++
		if ev, stack, ok := fromXExp(&xe); ok {
			out = append(out, render(&ev, stack))
		}
	}
}

// fromXExp is what this reader should hand out for an x/exp/trace event.
func fromXExp(xe *trace.Event) (Event, []trace.StackFrame, bool) {
	ev := Event{Time: xe.Time(), Thread: xe.Thread(), Goroutine: xe.Goroutine()}
	stack := xe.Stack()
	switch xe.Kind() {
	case trace.EventSync:
		ev.Kind = Sync
		ev.Clock = xe.Sync().ClockSnapshot
	case trace.EventStateTransition:
		st := xe.StateTransition()
		if st.Resource.Kind != trace.ResourceGoroutine {
			return ev, nil, false
		}
		ev.Kind, ev.Subject, ev.Reason, stack = Transition, st.Resource.Goroutine(), st.Reason, st.Stack
		ev.From, ev.To = st.Goroutine()
		if ev.From == trace.GoWaiting && ev.To == trace.GoRunnable {
			stack = xe.Stack() // an unblock: where the event's goroutine released the wait
		}
	case trace.EventRangeBegin, trace.EventRangeActive, trace.EventRangeEnd:
		ev.Kind = map[trace.EventKind]Kind{trace.EventRangeBegin: RangeBegin, trace.EventRangeActive: RangeActive, trace.EventRangeEnd: RangeEnd}[xe.Kind()]
		r := xe.Range()
		switch {
		case r.Name == "GC concurrent mark phase":
			ev.Range = GCMark
		case r.Name == "GC mark assist":
			ev.Range, ev.Subject = GCAssist, r.Scope.Goroutine()
		case strings.HasPrefix(r.Name, "stop-the-world ("):
			ev.Range, ev.Name = STW, strings.TrimSuffix(strings.TrimPrefix(r.Name, "stop-the-world ("), ")")
		default:
			return ev, nil, false
		}
	case trace.EventTaskBegin, trace.EventTaskEnd:
		ev.Kind = TaskBegin
		if xe.Kind() == trace.EventTaskEnd {
			ev.Kind = TaskEnd
		}
		task := xe.Task()
		ev.Task, ev.Parent, ev.Name = task.ID, task.Parent, task.Type
	case trace.EventRegionBegin, trace.EventRegionEnd:
		ev.Kind = RegionBegin
		if xe.Kind() == trace.EventRegionEnd {
			ev.Kind = RegionEnd
		}
		region := xe.Region()
		ev.Task, ev.Name = region.Task, region.Type
	case trace.EventLog:
		l := xe.Log()
		ev.Kind, ev.Task, ev.Name, ev.Message = Log, l.Task, l.Category, l.Message
	case trace.EventStackSample:
		ev.Kind = Sample
	default:
		return ev, nil, false
	}
	var frames []trace.StackFrame
	for f := range stack.Frames() {
		frames = append(frames, f)
	}
	return ev, frames, true
}

// render prints an event with its stack's frames for comparison.
func render(ev *Event, frames []trace.StackFrame) string {
	clock := ""
	if ev.Clock != nil {
		clock = fmt.Sprintf(" clock=%d/%d/%d", ev.Clock.Trace, ev.Clock.Mono, ev.Clock.Wall.UnixNano())
	}
	return fmt.Sprintf("kind=%d t=%d m=%d g=%d subject=%d %v->%v reason=%q task=%d parent=%d name=%q msg=%q range=%d%s stack=%v",
		ev.Kind, ev.Time, ev.Thread, ev.Goroutine, ev.Subject, ev.From, ev.To, ev.Reason, ev.Task, ev.Parent,
		ev.Name, ev.Message, ev.Range, clock, frames)
}
