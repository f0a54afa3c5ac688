package tracesrc

import (
	"bytes"
	"context"
	rtrace "runtime/trace"
	"testing"
	"time"
)

// TestLingerBetweenRegions: a goroutine that leaves a region of an open task and works on
// goes on working for the task (its running time counts, while the task's creator is blocked
// or asleep), until it blocks: its next wait is not the task's.
func TestLingerBetweenRegions(t *testing.T) {
	const burn, spin, after = 20 * time.Millisecond, 5 * time.Millisecond, 30 * time.Millisecond
	var buf bytes.Buffer
	if err := rtrace.Start(&buf); err != nil {
		t.Fatal(err)
	}
	ctx, task := rtrace.NewTask(context.Background(), "import")
	done, release := make(chan struct{}), make(chan struct{})
	go func() {
		rtrace.WithRegion(ctx, "decode", func() {})
		for start := time.Now(); time.Since(start) < burn; { // work between two regions
		}
		rtrace.WithRegion(ctx, "store", func() {})
		done <- struct{}{}
		for start := time.Now(); time.Since(start) < spin; { // still the task's work
		}
		<-release // blocked after its work: not the task's wait
	}()
	<-done
	time.Sleep(after)
	task.End()
	close(release)
	rtrace.Stop()

	c, _, err := readAll(t, buf.Bytes(), Options{MinSpanDuration: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	var imp *Task
	for _, tk := range c.tasks {
		if tk.Type == "import" {
			imp = tk
		}
	}
	if imp == nil || len(imp.Regions) != 2 {
		t.Fatalf("want the import task with two regions, got %+v", imp)
	}
	if got := imp.Time.Running; got < burn*3/4 {
		t.Errorf("running %v, want about the %v the worker ran between its regions (breakdown %+v)", got, burn, imp.Time)
	}
	// The creator sleeps through the task's end; the worker's wait began later and would be the
	// task's "blocked last" had it still worked for the task.
	for _, b := range imp.Time.Blocked {
		if b.Reason == "chan receive" && b.Time > spin {
			t.Errorf("%v blocked on chan receive: the worker's wait after its work counts as the task's (breakdown %+v)", b.Time, imp.Time)
		}
	}
}
