package tracesrc

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/exp/trace"
)

// fixtures are the real traces in testdata (see the generator programs there).
var fixtures = []string{
	"annotations.trace",        // Go team testprog: tasks, nested regions, an unended region, a log
	"annotations-stress.trace", // Go team testprog: many tasks and regions across goroutines
	"gc-stress.trace",          // Go team testprog: GC cycles, assists, stop-the-world phases
	"blocksync.trace",          // syncnode-like pipeline: child tasks, otel logs, network, syscalls
	"syncnode.trace",           // examples/syncnode scraped over net/http/pprof
	"window1.trace",            // tasks open at the end of the trace
	"window2.trace",            // tasks and a region that began before the trace
	"flight.trace",             // FlightRecorder snapshot starting mid-stream
	"wait-on-pipe.trace",       // Go team testprog: a goroutine blocked on a pipe, no task
	"outside.trace",            // regions, a log, waits and CPU samples outside tasks
}

func readFixture(t testing.TB, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// reference is what a bare x/exp/trace read of a trace shows, to check the model against.
type reference struct {
	events  int
	start   trace.Time
	begins  map[trace.TaskID]refTask
	ends    map[trace.TaskID]trace.Time
	regions []refRegion
	logs    []refLog
	starts  []refStart
}

type refTask struct {
	typ    string
	parent trace.TaskID
	at     trace.Time
	g      trace.GoID
}

type refRegion struct {
	task  trace.TaskID
	typ   string
	g     trace.GoID
	at    trace.Time
	begin bool
}

type refLog struct {
	task     trace.TaskID
	category string
	message  string
	at       trace.Time
}

// refStart is a goroutine starting to run on a thread.
type refStart struct {
	m  trace.ThreadID
	g  trace.GoID
	at trace.Time
}

func bareRead(t testing.TB, data []byte) *reference {
	t.Helper()
	r, err := trace.NewReader(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	ref := &reference{begins: map[trace.TaskID]refTask{}, ends: map[trace.TaskID]trace.Time{}}
	for {
		ev, err := r.ReadEvent()
		if errors.Is(err, io.EOF) {
			return ref
		}
		if err != nil {
			t.Fatal(err)
		}
		if ref.events == 0 {
			ref.start = ev.Time()
		}
		ref.events++
		switch ev.Kind() {
		case trace.EventTaskBegin:
			task := ev.Task()
			ref.begins[task.ID] = refTask{typ: task.Type, parent: task.Parent, at: ev.Time(), g: ev.Goroutine()}
		case trace.EventTaskEnd:
			if _, ok := ref.ends[ev.Task().ID]; !ok {
				ref.ends[ev.Task().ID] = ev.Time()
			}
		case trace.EventRegionBegin, trace.EventRegionEnd:
			reg := ev.Region()
			ref.regions = append(ref.regions, refRegion{reg.Task, reg.Type, ev.Goroutine(), ev.Time(), ev.Kind() == trace.EventRegionBegin})
		case trace.EventLog:
			l := ev.Log()
			ref.logs = append(ref.logs, refLog{l.Task, l.Category, l.Message, ev.Time()})
		case trace.EventStateTransition:
			st := ev.StateTransition()
			if st.Resource.Kind != trace.ResourceGoroutine {
				continue
			}
			if from, to := st.Goroutine(); from == trace.GoRunnable && to == trace.GoRunning {
				ref.starts = append(ref.starts, refStart{ev.Thread(), st.Resource.Goroutine(), ev.Time()})
			}
		}
	}
}

// live reports whether task id is open at time at: it began before (or before the trace) and
// has not ended yet.
func (ref *reference) live(id trace.TaskID, at trace.Time) bool {
	if b, ok := ref.begins[id]; ok && b.at > at {
		return false
	}
	end, ok := ref.ends[id]
	return !ok || end >= at
}

// collector is a Handler that keeps everything, checking the hand-over order.
type collector struct {
	t     testing.TB
	tl    *Timeline
	tasks []*Task
	byID  map[trace.TaskID]*Task
	stws  []STW
	waits []Wait
}

func newCollector(t testing.TB) *collector { return &collector{t: t, byID: map[trace.TaskID]*Task{}} }

func (c *collector) Begin(tl *Timeline) { c.tl = tl }

func (c *collector) Task(task *Task) {
	if c.byID[task.ID] != nil {
		c.t.Errorf("task %d handed over twice", task.ID)
	}
	if task.Root != task && c.byID[task.Root.ID] != task.Root {
		c.t.Errorf("task %d handed over before its root %d", task.ID, task.Root.ID)
	}
	if p := task.Parent; p != nil && c.byID[p.ID] != p {
		c.t.Errorf("task %d handed over before its parent %d", task.ID, p.ID)
	}
	c.byID[task.ID] = task
	c.tasks = append(c.tasks, task)
}

func (c *collector) STW(s STW)   { c.stws = append(c.stws, s) }
func (c *collector) Wait(w Wait) { c.waits = append(c.waits, w) }

func readAll(t testing.TB, data []byte, opts Options) (*collector, *Timeline, error) {
	t.Helper()
	c := newCollector(t)
	tl, err := Read(bytes.NewReader(data), opts, c)
	return c, tl, err
}
