package tracesrc

import (
	"bytes"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/exp/trace"
)

// outsideCollector collects the tasks and the work outside tasks of a read.
type outsideCollector struct {
	*collector
	regions  []GoroutineRegion
	logs     []Log
	episodes []Episode
	samples  []CPUSample
	spanned  []bool
}

func (c *outsideCollector) GoroutineRegion(r GoroutineRegion) { c.regions = append(c.regions, r) }
func (c *outsideCollector) GoroutineLog(l Log)                { c.logs = append(c.logs, l) }
func (c *outsideCollector) GoroutineEpisode(e Episode)        { c.episodes = append(c.episodes, e) }
func (c *outsideCollector) GoroutineSample(s CPUSample, spanned bool) {
	c.samples = append(c.samples, s)
	c.spanned = append(c.spanned, spanned)
}

func readOutside(t *testing.T, name string, opts Options) (*outsideCollector, *Timeline) {
	t.Helper()
	c := &outsideCollector{collector: newCollector(t)}
	tl, err := Read(bytes.NewReader(readFixture(t, name)), opts, c)
	if err != nil {
		t.Fatal(err)
	}
	return c, tl
}

// region returns the handed region of goroutine g named typ.
func (c *outsideCollector) region(t *testing.T, typ string) GoroutineRegion {
	t.Helper()
	i := slices.IndexFunc(c.regions, func(r GoroutineRegion) bool { return r.Type == typ })
	if i < 0 {
		t.Fatalf("no region %q outside tasks; got %+v", typ, c.regions)
	}
	return c.regions[i]
}

// TestReadOutsideTasks: outside.trace (a real program mirroring the Go team's cpu-profile,
// annotations and wait-on-pipe test programs) does all its work but one task outside tasks;
// each piece is handed over where it happened, and the task is handed over as without it.
func TestReadOutsideTasks(t *testing.T) {
	opts := Options{MinSpanDuration: time.Millisecond, MaxGoroutineSpans: 100}
	c, tl := readOutside(t, "outside.trace", opts)

	hogger, inner := c.region(t, "cpuHogger"), c.region(t, "inner")
	if hogger.Parent != -1 || inner.Parent != hogger.Index || inner.Goroutine != hogger.Goroutine || !hogger.Ended || !inner.Ended {
		t.Errorf("regions: cpuHogger %+v, inner %+v; want inner nested in cpuHogger, both ended", hogger, inner)
	}
	if inner.End.Sub(inner.Start) < 200*time.Millisecond || inner.Start < hogger.Start || inner.End > hogger.End {
		t.Errorf("inner [%d, %d] hogs 200ms inside cpuHogger [%d, %d]", inner.Start, inner.End, hogger.Start, hogger.End)
	}
	if len(c.logs) != 1 || c.logs[0].Category != "phase" || c.logs[0].Message != "hogging" || c.logs[0].Goroutine != hogger.Goroutine ||
		c.logs[0].Time < hogger.Start || c.logs[0].Time > inner.Start {
		t.Errorf("logs %+v, want phase=hogging in cpuHogger before inner", c.logs)
	}

	// The CPU samples of the hog fall in "inner"; every sample is handed over, those of a
	// goroutine after its first kept work as spanned.
	inInner := 0
	for i, s := range c.samples {
		if s.Goroutine == hogger.Goroutine && c.spanned[i] != (s.Time > hogger.Start) {
			t.Errorf("sample at %d: spanned %v, the goroutine's first work (cpuHogger) at %d", s.Time, c.spanned[i], hogger.Start)
		}
		if s.Goroutine == hogger.Goroutine && s.Time >= inner.Start && s.Time <= inner.End {
			if s.Region != inner.Index {
				t.Errorf("sample at %d in inner has region %d, want %d", s.Time, s.Region, inner.Index)
			}
			inInner++
		}
		if len(s.Stack) == 0 {
			t.Errorf("sample at %d has no stack", s.Time)
		}
	}
	if inInner < 5 || len(c.samples) != tl.CPUSamples {
		t.Errorf("%d samples in inner, %d handed of %d; want most of 200ms at 100 Hz, all handed", inInner, len(c.samples), tl.CPUSamples)
	}

	// The goroutine blocked on the pipe since before the trace: a syscall from the trace's
	// start, without a stack (the trace gives none). The one blocked on a channel since before
	// the trace: left out, the trace gives it neither a stack nor a reason.
	var pipe, sleep *Episode
	for i := range c.episodes {
		e := &c.episodes[i]
		if !programWait(*e) {
			t.Errorf("episode %+v is the runtime's", e)
		}
		if e.End.Sub(e.Start) < opts.MinSpanDuration {
			t.Errorf("episode %+v is shorter than %v", e, opts.MinSpanDuration)
		}
		switch {
		case e.Kind == Syscall && e.Partial && e.Goroutine != hogger.Goroutine:
			pipe = e
		case e.Kind == Blocked && len(e.Stack) == 0 && e.Reason == unknownReason:
			t.Errorf("block without stack nor reason handed: %+v", e)
		case e.Reason == "sleep" && e.Goroutine == hogger.Goroutine && e.Start > hogger.End:
			sleep = e
		}
	}
	if pipe == nil || pipe.Start != tl.Start || pipe.End.Sub(pipe.Start) < 200*time.Millisecond {
		t.Errorf("pipe read %+v, want a syscall from the trace's start outlasting the hog", pipe)
	}
	if sleep == nil || sleep.Region != -1 || !slices.ContainsFunc(sleep.Stack, func(f trace.StackFrame) bool { return f.Func == "main.main" }) {
		t.Errorf("sleep %+v, want a block outside regions with main.main on its stack", sleep)
	}
	if tl.GoroutineCut != 0 {
		t.Errorf("%d cut with room for 100", tl.GoroutineCut)
	}

	// The task is handed over as when work outside tasks is not asked for.
	off, _ := readOutside(t, "outside.trace", Options{MinSpanDuration: time.Millisecond})
	if len(off.regions)+len(off.logs)+len(off.episodes)+len(off.samples) != 0 {
		t.Errorf("MaxGoroutineSpans 0 handed work outside tasks")
	}
	if len(c.tasks) != 1 || len(off.tasks) != 1 || !reflect.DeepEqual(c.tasks[0], off.tasks[0]) {
		t.Errorf("the task differs with work outside tasks on: %+v vs %+v", c.tasks, off.tasks)
	}
}

// TestReadOutsideGoTestprogs: the Go team's own trace test programs, which open no task for
// this work: wait-on-pipe's goroutine blocked in read(2) on a pipe is a syscall from the
// trace's start until the main goroutine writes after its 100ms sleep; annotations' region
// begun with context.Background() after the task is a region left open at the trace's end.
func TestReadOutsideGoTestprogs(t *testing.T) {
	opts := Options{MinSpanDuration: time.Millisecond, MaxGoroutineSpans: 100}
	c, tl := readOutside(t, "wait-on-pipe.trace", opts)
	i := slices.IndexFunc(c.episodes, func(e Episode) bool { return e.Kind == Syscall })
	if i < 0 {
		t.Fatalf("no syscall outside tasks in wait-on-pipe.trace: %+v", c.episodes)
	}
	if e := c.episodes[i]; e.Start != tl.Start || e.End.Sub(e.Start) < 100*time.Millisecond || !e.Partial || e.Goroutine == 1 {
		t.Errorf("pipe read %+v, want a syscall of another goroutine from the trace's start for over 100ms", e)
	}

	c, tl = readOutside(t, "annotations.trace", opts)
	r := c.region(t, "post-existing region")
	if r.Ended || r.End != tl.End || r.Parent != -1 || r.Goroutine != 1 {
		t.Errorf("post-existing region %+v, want goroutine 1's, open until the trace's end %d", r, tl.End)
	}
	for _, r := range c.regions {
		if strings.HasPrefix(r.Type, "task0") || r.Type == "region0" || r.Type == "region1" || r.Type == "unended region" {
			t.Errorf("region %q of task0 handed as outside tasks", r.Type)
		}
	}
}

// TestReadOutsideBound: with room for fewer places than outside.trace needs, what is handed
// fits, the rest is counted, and nothing handed refers to a region that was cut.
func TestReadOutsideBound(t *testing.T) {
	all, _ := readOutside(t, "outside.trace", Options{MinSpanDuration: time.Millisecond, MaxGoroutineSpans: 100})
	need := len(all.regions) + len(all.episodes)
	goroutines := map[trace.GoID]bool{}
	for _, r := range all.regions {
		goroutines[r.Goroutine] = true
	}
	for _, e := range all.episodes {
		goroutines[e.Goroutine] = true
	}
	for _, l := range all.logs {
		goroutines[l.Goroutine] = true
	}
	need += len(goroutines)
	for budget := 1; budget < need; budget++ {
		c, tl := readOutside(t, "outside.trace", Options{MinSpanDuration: time.Millisecond, MaxGoroutineSpans: budget})
		used := map[trace.GoID]bool{}
		kept := map[[2]int]bool{}
		for _, r := range c.regions {
			used[r.Goroutine] = true
			kept[[2]int{int(r.Goroutine), r.Index}] = true
		}
		for _, e := range c.episodes {
			used[e.Goroutine] = true
		}
		for _, l := range c.logs {
			used[l.Goroutine] = true
		}
		if n := len(c.regions) + len(c.episodes) + len(used); n > budget {
			t.Errorf("budget %d: %d places used", budget, n)
		}
		if cut := len(all.regions) + len(all.episodes) + len(all.logs) - len(c.regions) - len(c.episodes) - len(c.logs); cut != tl.GoroutineCut || cut == 0 {
			t.Errorf("budget %d: %d cut, counted %d", budget, cut, tl.GoroutineCut)
		}
		for _, r := range c.regions {
			if r.Parent >= 0 && !kept[[2]int{int(r.Goroutine), r.Parent}] {
				t.Errorf("budget %d: region %q kept under a cut region", budget, r.Type)
			}
		}
		for _, e := range c.episodes {
			if e.Region >= 0 && !kept[[2]int{int(e.Goroutine), e.Region}] {
				t.Errorf("budget %d: episode kept under a cut region", budget)
			}
		}
		for _, s := range c.samples {
			if s.Region >= 0 && !kept[[2]int{int(s.Goroutine), s.Region}] {
				t.Errorf("budget %d: sample linked to a cut region", budget)
			}
		}
		if len(c.samples) != len(all.samples) {
			t.Errorf("budget %d: %d samples, want all %d", budget, len(c.samples), len(all.samples))
		}
	}
}

// TestReadOutsideLeavesTasksAlone: on every fixture, asking for the work outside tasks changes
// nothing handed over in tasks, and the work handed over is consistent: regions end after they
// start, episodes last at least MinSpanDuration, and every CPU sample is handed either in a
// task or outside.
func TestReadOutsideLeavesTasksAlone(t *testing.T) {
	for _, name := range fixtures {
		t.Run(name, func(t *testing.T) {
			opts := Options{MinSpanDuration: time.Millisecond, Threads: TaskThreadIntervals}
			off, _ := readOutside(t, name, opts)
			opts.MaxGoroutineSpans = 1 << 20
			on, tl := readOutside(t, name, opts)
			if !reflect.DeepEqual(off.tasks, on.tasks) || !reflect.DeepEqual(off.waits, on.waits) || !reflect.DeepEqual(off.stws, on.stws) {
				t.Error("tasks, waits or stop-the-world phases differ with work outside tasks on")
			}
			inTasks := 0
			for _, task := range on.tasks {
				inTasks += len(task.Samples)
			}
			if inTasks+len(on.samples) > tl.CPUSamples {
				t.Errorf("%d samples in tasks and %d outside, of %d", inTasks, len(on.samples), tl.CPUSamples)
			}
			for _, r := range on.regions {
				if r.End < r.Start || r.Start < tl.Start || r.End > tl.End {
					t.Errorf("region %+v outside [%d, %d]", r, tl.Start, tl.End)
				}
			}
			for _, e := range on.episodes {
				if e.End.Sub(e.Start) < opts.MinSpanDuration || !programWait(e) {
					t.Errorf("episode %+v", e)
				}
			}
		})
	}
}
