package tracesrc

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"golang.org/x/exp/trace"
)

// TestReadMatchesBareRead checks the model of every fixture against a bare read of the same bytes.
func TestReadMatchesBareRead(t *testing.T) {
	for _, name := range fixtures {
		t.Run(name, func(t *testing.T) {
			data := readFixture(t, name)
			ref := bareRead(t, data)
			c, tl, err := readAll(t, data, Options{MinSpanDuration: 100 * time.Microsecond})
			if err != nil {
				t.Fatal(err)
			}
			if tl.Events != ref.events || tl.Start != ref.start {
				t.Errorf("events %d from %d, bare read %d from %d", tl.Events, tl.Start, ref.events, ref.start)
			}
			if tl.Tasks != len(c.tasks) {
				t.Errorf("timeline counts %d tasks, handler got %d", tl.Tasks, len(c.tasks))
			}
			checkTasks(t, ref, c)
			checkRegions(t, ref, c)
			checkLogs(t, ref, c)
			for _, task := range c.tasks {
				checkTaskShape(t, task, 100*time.Microsecond)
			}
		})
	}
}

// checkTasks: every task the trace begins or ends is handed over once, with its type, parent,
// start and end.
func checkTasks(t *testing.T, ref *reference, c *collector) {
	for id, b := range ref.begins {
		task := c.byID[id]
		if task == nil {
			t.Errorf("task %d (%s) missing", id, b.typ)
			continue
		}
		if task.Continued || task.Start != b.at || task.Began != b.at || task.Type != b.typ || task.Goroutine != b.g {
			t.Errorf("task %d = %+v, began %+v", id, task, b)
		}
		if b.parent != trace.NoTask && ref.live(b.parent, b.at) && (task.Parent == nil || task.Parent.ID != b.parent) {
			t.Errorf("task %d: parent %v, want %d", id, task.Parent, b.parent)
		}
	}
	for id, end := range ref.ends {
		task := c.byID[id]
		if task == nil {
			t.Errorf("ended task %d missing", id)
			continue
		}
		if !task.Ended || task.End != end {
			t.Errorf("task %d: ended %v at %d, want %d", id, task.Ended, task.End, end)
		}
		if _, begun := ref.begins[id]; !begun && !task.Continued {
			t.Errorf("task %d began before the trace but is not marked continued", id)
		}
	}
	for _, task := range c.tasks {
		if _, ok := ref.ends[task.ID]; !ok && task.Ended {
			t.Errorf("task %d ended without an end event", task.ID)
		}
	}
}

// checkRegions: every region begun in a live task is in the task, and nesting holds.
func checkRegions(t *testing.T, ref *reference, c *collector) {
	want := map[trace.TaskID][]refRegion{}
	for _, r := range ref.regions {
		if r.begin && r.task != trace.BackgroundTask && ref.live(r.task, r.at) {
			want[r.task] = append(want[r.task], r)
		}
	}
	for id, regions := range want {
		task := c.byID[id]
		var got []Region
		for _, r := range task.Regions {
			if !r.Continued {
				got = append(got, r)
			}
		}
		if len(got) != len(regions) {
			t.Errorf("task %d: %d regions, bare read has %d", id, len(got), len(regions))
			continue
		}
		for i, r := range regions {
			if g := got[i]; g.Type != r.typ || g.Goroutine != r.g || g.Start != r.at {
				t.Errorf("task %d region %d = %+v, want %+v", id, i, g, r)
			}
		}
	}
}

// checkLogs: every log of a live task is in the task, in order.
func checkLogs(t *testing.T, ref *reference, c *collector) {
	want := map[trace.TaskID][]refLog{}
	for _, l := range ref.logs {
		if l.task != trace.BackgroundTask && ref.live(l.task, l.at) {
			want[l.task] = append(want[l.task], l)
		}
	}
	for _, task := range c.tasks {
		logs := want[task.ID]
		if len(task.Logs) != len(logs) {
			t.Errorf("task %d: %d logs, bare read has %d", task.ID, len(task.Logs), len(logs))
			continue
		}
		for i, l := range logs {
			if g := task.Logs[i]; g.Category != l.category || g.Message != l.message || g.Time != l.at {
				t.Errorf("task %d log %d = %+v, want %+v", task.ID, i, g, l)
			}
		}
	}
}

// checkTaskShape checks a task's internal consistency: its breakdown covers its wall time,
// regions nest and episodes lie within it.
func checkTaskShape(t testing.TB, task *Task, minSpan time.Duration) {
	t.Helper()
	if wall := task.End.Sub(task.Start); task.Time.Total() != wall {
		t.Errorf("task %d: breakdown %v sums to %v, wall time %v", task.ID, task.Time, task.Time.Total(), wall)
	}
	if task.Root.Root != task.Root || (task.Parent == nil) != (task.Root == task) {
		t.Errorf("task %d: inconsistent root %d / parent %v", task.ID, task.Root.ID, task.Parent)
	}
	for i, r := range task.Regions {
		if r.Start < task.Start || r.End > task.End || r.End < r.Start {
			t.Errorf("task %d region %d [%d, %d] outside the task [%d, %d]", task.ID, i, r.Start, r.End, task.Start, task.End)
		}
		if r.Parent < 0 {
			continue
		}
		if r.Parent >= len(task.Regions) || r.Parent == i {
			t.Errorf("task %d region %d: bad parent %d", task.ID, i, r.Parent)
			continue
		}
		if p := task.Regions[r.Parent]; p.Goroutine != r.Goroutine || p.Start > r.Start || p.End < r.End {
			t.Errorf("task %d region %d %+v not inside its parent %+v", task.ID, i, r, p)
		}
	}
	for i, e := range task.Episodes {
		if e.Start > e.End || e.End > task.End || e.End.Sub(e.Start) < minSpan && !e.Partial && e.End != task.End {
			t.Errorf("task %d episode %d %+v: bad bounds for task [%d, %d]", task.ID, i, e, task.Start, task.End)
		}
		if e.Region >= len(task.Regions) {
			t.Errorf("task %d episode %d: bad region %d", task.ID, i, e.Region)
		}
	}
}

// TestReadAnnotations checks the Go team's annotations program in detail.
func TestReadAnnotations(t *testing.T) {
	c, _, err := readAll(t, readFixture(t, "annotations.trace"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(c.tasks) != 1 {
		t.Fatalf("%d tasks, want 1", len(c.tasks))
	}
	task := c.tasks[0]
	type region struct {
		typ    string
		parent string
		ended  bool
	}
	var got []region
	for _, r := range task.Regions {
		parent := ""
		if r.Parent >= 0 {
			parent = task.Regions[r.Parent].Type
		}
		got = append(got, region{r.Type, parent, r.Ended})
	}
	want := []region{
		{"task0 region", "", false}, {"unended region", "", false},
		{"region0", "unended region", true}, {"region1", "region0", true},
	}
	if task.Type != "task0" || !task.Ended || len(got) != len(want) {
		t.Fatalf("task %+v with regions %+v", task, got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("region %d = %+v, want %+v", i, got[i], want[i])
		}
	}
	if len(task.Logs) != 1 || task.Logs[0].Category != "key0" || task.Logs[0].Message != "0123456789abcdef" {
		t.Errorf("logs %+v", task.Logs)
	}
	if task.Time.Running == 0 || task.Time.Total() != task.End.Sub(task.Start) {
		t.Errorf("breakdown %+v", task.Time)
	}
}

// TestReadGC checks stop-the-world phases and GC numbering on the GC stress program.
func TestReadGC(t *testing.T) {
	c, _, err := readAll(t, readFixture(t, "gc-stress.trace"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	gcs := 0
	for _, s := range c.stws {
		if s.End <= s.Start || s.Reason == "" {
			t.Errorf("bad stop-the-world %+v", s)
		}
		if strings.HasPrefix(s.Reason, "GC ") {
			gcs++
			if s.GC == 0 {
				t.Errorf("GC stop-the-world without a GC number: %+v", s)
			}
		}
	}
	if gcs == 0 {
		t.Errorf("no GC stop-the-world in %d phases", len(c.stws))
	}
}

// TestReadWaits checks the waits handed over for the metrics.
func TestReadWaits(t *testing.T) {
	c, _, err := readAll(t, readFixture(t, "blocksync.trace"), Options{MinSpanDuration: 50 * time.Microsecond})
	if err != nil {
		t.Fatal(err)
	}
	var sched, block, episodes int
	for _, w := range c.waits {
		if w.End < w.Start {
			t.Errorf("wait %+v ends before it starts", w)
		}
		switch w.Kind {
		case Scheduling:
			sched++
		case Blocking:
			block++
			if w.Reason == "" {
				t.Errorf("block without reason: %+v", w)
			}
			if w.Episode >= 0 {
				episodes++
				if e := w.Task.Episodes[w.Episode]; e.Start != w.Start || e.Reason != w.Reason {
					t.Errorf("wait %+v points at episode %+v", w, e)
				}
			}
		}
	}
	if sched == 0 || block == 0 || episodes == 0 {
		t.Errorf("%d scheduling waits, %d blocks, %d of them episodes", sched, block, episodes)
	}
}

// TestReadEarlier carries the tasks open at the end of one window into the next.
func TestReadEarlier(t *testing.T) {
	c1, _, err := readAll(t, readFixture(t, "window1.trace"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	var earlier []Earlier
	for _, task := range c1.tasks {
		if !task.Ended {
			e := Earlier{ID: task.ID, Parent: trace.NoTask, Type: task.Type, Began: task.Began, Goroutine: task.Goroutine}
			if task.Parent != nil {
				e.Parent = task.Parent.ID
			}
			earlier = append(earlier, e)
		}
	}
	if len(earlier) != 2 {
		t.Fatalf("window 1 leaves %d tasks open, want longImport and verifyTx", len(earlier))
	}
	without, _, err := readAll(t, readFixture(t, "window2.trace"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	with, _, err := readAll(t, readFixture(t, "window2.trace"), Options{Earlier: earlier})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range earlier {
		plain, carried := without.byID[e.ID], with.byID[e.ID]
		if plain == nil || carried == nil {
			t.Fatalf("task %d missing from window 2", e.ID)
		}
		if plain.Type != "" || plain.Began != 0 || !plain.Continued {
			t.Errorf("without Earlier, task %d = %+v", e.ID, plain)
		}
		if carried.Type != e.Type || carried.Began != e.Began || !carried.Continued || !carried.Ended || carried.Goroutine != e.Goroutine {
			t.Errorf("with Earlier, task %d = %+v, want %+v", e.ID, carried, e)
		}
		if (e.Parent == trace.NoTask) != (carried.Parent == nil) {
			t.Errorf("task %d: parent %v, want %d", e.ID, carried.Parent, e.Parent)
		}
		if carried.Time.Untracked >= plain.Time.Untracked {
			t.Errorf("task %d: knowing its goroutine should track more time: %v vs %v", e.ID, carried.Time, plain.Time)
		}
	}
}

// TestReadFlightRecorder reads a snapshot that starts after its tasks began.
func TestReadFlightRecorder(t *testing.T) {
	c, _, err := readAll(t, readFixture(t, "flight.trace"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	var open, ended int
	for _, task := range c.tasks {
		if !task.Continued {
			continue
		}
		if task.Began != 0 || task.Start != c.tl.Start {
			t.Errorf("continued task %d: began %d, start %d, trace start %d", task.ID, task.Began, task.Start, c.tl.Start)
		}
		if task.Ended {
			ended++
		} else {
			open++
		}
	}
	if open == 0 || ended == 0 {
		t.Errorf("want continued tasks both still open (slowImport) and ended (earlyImport): %d open, %d ended", open, ended)
	}
}

// TestReadThreadIntervals checks the per-thread goroutine intervals against goroutine starts.
func TestReadThreadIntervals(t *testing.T) {
	data := readFixture(t, "blocksync.trace")
	ref := bareRead(t, data)
	_, tl, err := readAll(t, data, Options{Threads: AllThreadIntervals})
	if err != nil {
		t.Fatal(err)
	}
	for m, ivs := range tl.Threads {
		for i, iv := range ivs {
			if iv.End <= iv.Start || i > 0 && iv.Start < ivs[i-1].End {
				t.Fatalf("thread %d interval %d %+v overlaps or is empty (previous %+v)", m, i, iv, ivs[max(i-1, 0)])
			}
		}
	}
	for _, s := range ref.starts {
		if iv, ok := tl.RunningOn(s.m, s.at); !ok || iv.Goroutine != s.g {
			t.Errorf("goroutine %d started on thread %d at %d; RunningOn says %+v, %v", s.g, s.m, s.at, iv, ok)
		}
	}
	_, tasksOnly, err := readAll(t, data, Options{Threads: TaskThreadIntervals})
	if err != nil {
		t.Fatal(err)
	}
	_, taskGs := refCreators(t, data)
	carriers := carriersOf(tasksOnly, taskGs)
	n := 0
	for _, ivs := range tasksOnly.Threads {
		for _, iv := range ivs {
			n++
			if iv.Task == trace.NoTask && !carriers[iv.Goroutine] {
				t.Fatalf("task-only interval without a task, not of a carrier: %+v", iv)
			}
		}
	}
	if n == 0 {
		t.Error("no task intervals")
	}
}

// TestReadTruncated reads a trace cut short: what was read is handed over, plus one error.
func TestReadTruncated(t *testing.T) {
	data := readFixture(t, "syncnode.trace")
	full, _, err := readAll(t, data, Options{})
	if err != nil {
		t.Fatal(err)
	}
	c, tl, err := readAll(t, data[:len(data)*95/100], Options{}) // the last generation is cut
	if err == nil || !strings.Contains(err.Error(), "cut short") {
		t.Fatalf("error %v, want a cut-short error", err)
	}
	if tl == nil || tl.Events == 0 || len(c.tasks) == 0 || len(c.tasks) > len(full.tasks) {
		t.Fatalf("truncated read handed over %d of %d tasks", len(c.tasks), len(full.tasks))
	}
	open := 0
	for _, task := range c.tasks {
		checkTaskShape(t, task, 0)
		if !task.Ended {
			open++
		}
	}
	if open == 0 {
		t.Error("no task left open by the cut")
	}
}

// TestReadBadHeader checks that an unsupported version is named and garbage is refused.
func TestReadBadHeader(t *testing.T) {
	for _, tc := range []struct{ data, want string }{
		{"go 1.99 trace\x00\x00\x00" + strings.Repeat("\x01", 64), "go 1.99"},
		{"not a trace at all", "not a Go execution trace"},
		{"", "not a Go execution trace"},
	} {
		tl, err := Read(bytes.NewReader([]byte(tc.data)), Options{}, newCollector(t))
		if err == nil || !strings.Contains(err.Error(), tc.want) || tl != nil {
			t.Errorf("Read(%q) = %v, %v; want an error naming %q", tc.data, tl, err, tc.want)
		}
	}
}

// TestReadClock relates trace time to wall and CLOCK_MONOTONIC time by the clock snapshot.
func TestReadClock(t *testing.T) {
	_, tl, err := readAll(t, readFixture(t, "blocksync.trace"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	c := tl.Clock
	if c == nil {
		t.Fatal("no clock snapshot in a Go 1.26 trace")
	}
	if !tl.Wall(c.Trace).Equal(c.Wall) || tl.Mono(c.Trace) != int64(c.Mono) || tl.FromMono(int64(c.Mono)) != c.Trace {
		t.Errorf("clock %+v: wall %v, mono %d", c, tl.Wall(c.Trace), tl.Mono(c.Trace))
	}
	if d := tl.Mono(tl.Start) - int64(tl.Start); d < -time.Millisecond.Nanoseconds() || d > time.Millisecond.Nanoseconds() {
		t.Errorf("trace clock is %v off CLOCK_MONOTONIC", time.Duration(d))
	}
}

// TestReadCPUSamples attributes CPU profile samples to the tasks of their goroutines.
func TestReadCPUSamples(t *testing.T) {
	c, tl, err := readAll(t, readFixture(t, "blocksync.trace"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	inTasks := 0
	for _, task := range c.tasks {
		inTasks += len(task.Samples)
		for i, smp := range task.Samples {
			if smp.Time < task.Start || smp.Time > task.End || len(smp.Stack) == 0 ||
				(i > 0 && smp.Time < task.Samples[i-1].Time) {
				t.Fatalf("task %d sample %d at %d (task %d..%d) has %d frames or is out of order",
					task.ID, i, smp.Time, task.Start, task.End, len(smp.Stack))
			}
			if smp.Region >= len(task.Regions) || (smp.Region >= 0 && task.Regions[smp.Region].Goroutine != smp.Goroutine) {
				t.Fatalf("task %d sample %d: region %d is not the sampled goroutine's", task.ID, i, smp.Region)
			}
		}
	}
	if tl.CPUSamples == 0 || inTasks == 0 || inTasks > tl.CPUSamples {
		t.Errorf("%d CPU samples, %d of them in tasks", tl.CPUSamples, inTasks)
	}
}
