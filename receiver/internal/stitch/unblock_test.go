package stitch

import (
	"os"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/gostitch/gostitch/receiver/internal/metadata"
)

func strAttr(sp ptrace.Span, key string) string {
	if v, ok := sp.Attributes().Get(key); ok {
		return v.AsString()
	}
	return ""
}

// The frames of syncqueue.trace (tracesrc/testdata/synctraces.go: a queue-bound syncnode): the
// fetcher's select that hands a block to the full queue, and the importer's receive.
const (
	queueSend    = "syncer.go:147"
	queueReceive = "main.(*Syncer).importLoop syncer.go:210"
)

// TestUnblockQueueBound: on a queue-bound syncnode the fetcher waits in the select that hands a
// block over until the importer's receive frees a place. Each block select span names that
// receive and its goroutine; no network span names a goroutine (the netpoller releases them);
// the imports that waited in the queue carry gostitch.time.queued, part of their untracked
// time; the diagnosis of the slow ones follows the select's chain one step and names the
// queue's hand-off; the metric of block time by releaser has the select's series with
// exemplars at its spans.
func TestUnblockQueueBound(t *testing.T) {
	out := mustConvert(t, "syncqueue.trace", TraceOptions{MinSpanDuration: time.Millisecond})
	importer := int64(-1)
	var selects int
	for _, sp := range out.spans {
		g, released := sp.Attributes().Get(metadata.AttributeUnblockGoroutineID)
		switch sp.Name() {
		case "block select":
			if strAttr(sp, metadata.AttributeCodeFunctionName) != "main.(*Syncer).fetchLoop" || boolAttr(sp, metadata.AttributeTruncatedStart) {
				continue
			}
			selects++
			if importer < 0 && released {
				importer = g.Int()
			}
			if !released || g.Int() != importer || strAttr(sp, metadata.AttributeUnblockFunction) != queueReceive || sp.Links().Len() != 0 {
				t.Errorf("block select span of %v released by goroutine %d at %q with %d links, want goroutine %d at %s (working for no task: no link)",
					spanDuration(sp), intAttr(sp, metadata.AttributeUnblockGoroutineID), strAttr(sp, metadata.AttributeUnblockFunction), sp.Links().Len(), importer, queueReceive)
			}
		case "block network":
			if released {
				t.Errorf("block network span released by goroutine %d at %q, want the netpoller", g.Int(), strAttr(sp, metadata.AttributeUnblockFunction))
			}
		}
	}
	if selects == 0 {
		t.Fatal("no block select span of the fetcher")
	}

	var queuedTasks int
	for _, sp := range out.taskSpans() {
		checkBreakdown(t, sp) // queued is a part of the breakdown, out of untracked
		q, ok := sp.Attributes().Get(metadata.AttributeTimeQueued)
		untracked := time.Duration(intAttr(sp, metadata.AttributeTimeUntracked))
		// A task still queued at the trace's end, or one taken up from before the trace, shows
		// no whole hand-off: its sender or its receiver is outside the trace.
		whole := !boolAttr(sp, metadata.AttributeTruncated) && !boolAttr(sp, metadata.AttributeTruncatedStart)
		if !ok {
			if whole && untracked > spanDuration(sp)/2 {
				t.Errorf("%s %d: untracked %v of %v and no queued time", sp.Name(), intAttr(sp, metadata.AttributeTaskID), untracked, spanDuration(sp))
			}
			continue
		}
		queuedTasks++
		if d := time.Duration(q.Int()); d <= 0 || whole && untracked >= d {
			t.Errorf("%s %d: queued %v, untracked %v besides", sp.Name(), intAttr(sp, metadata.AttributeTaskID), d, untracked)
		}
	}
	if queuedTasks == 0 {
		t.Fatal("no task span with gostitch.time.queued")
	}

	var chain, queue string
	for _, s := range diagnoses(t, out) {
		if strings.Contains(s, ", released by ") && chain == "" {
			chain = s
		}
		if strings.Contains(s, "queued ") && queue == "" {
			queue = s
		}
	}
	t.Logf("chain: %q", chain)
	t.Logf("queue: %q", queue)
	if !strings.Contains(chain, "at "+queueSend+", released by importLoop at syncer.go:210") {
		t.Errorf("no diagnosis follows the select's chain to the importer's receive: %q", chain)
	}
	if !strings.Contains(queue, "% between "+queueSend+" and syncer.go:210 (goroutine ") || !strings.Contains(queue, " meanwhile)") {
		t.Errorf("no diagnosis names the queue's hand-off: %q", queue)
	}

	dp := histogramPoint(t, out.res.Metrics, metadata.MetricGostitchGoroutineUnblockDuration.Name, queueReceive)
	if reason, _ := dp.Attributes().Get(metadata.AttributeBlockReason); reason.Str() != "select" || dp.Count() == 0 || dp.Exemplars().Len() == 0 {
		t.Errorf("%s{%s}: reason %q, %d waits, %d exemplars; want select waits with exemplars", metadata.MetricGostitchGoroutineUnblockDuration.Name,
			queueReceive, reason.Str(), dp.Count(), dp.Exemplars().Len())
	}
	for i := range dp.Exemplars().Len() {
		ex := dp.Exemplars().At(i)
		if sp, ok := out.byID[ex.SpanID()]; !ok || sp.Name() != "block select" || strAttr(sp, metadata.AttributeUnblockFunction) != queueReceive {
			t.Errorf("exemplar %v at span %s, want a block select span released at %s", ex.DoubleValue(), ex.SpanID(), queueReceive)
		}
	}
}

// TestREADMEDiagnosisChainAndQueue keeps README's diagnosis lines on blocking chains and queue
// hand-offs true: each quoted diagnosis that names a releasing goroutine or a queue is one the
// code makes of syncqueue.trace, and there is one of each.
func TestREADMEDiagnosisChainAndQueue(t *testing.T) {
	readme, err := os.ReadFile("../../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	made := map[string]bool{}
	for _, s := range diagnoses(t, mustConvert(t, "syncqueue.trace", TraceOptions{MinSpanDuration: time.Millisecond})) {
		made[s] = true
	}
	var chain, queue int
	quoted := strings.Split(string(readme), "`")
	for i := 1; i < len(quoted); i += 2 {
		q := strings.Join(strings.Fields(quoted[i]), " ") // a quote may wrap across lines
		if !strings.Contains(q, ", released by ") && !strings.Contains(q, "queued ") ||
			strings.Contains(q, "blocked on network") { // network waits: TestREADMEDiagnosisNetwork
			continue
		}
		if !made[q] {
			t.Errorf("README quotes the diagnosis %q, which the code does not make of syncqueue.trace; it makes %v", q, made)
		}
		if strings.Contains(q, ", released by ") {
			chain++
		}
		if strings.Contains(q, "queued ") {
			queue++
		}
	}
	if chain == 0 || queue == 0 {
		t.Errorf("README quotes %d diagnoses naming a releaser and %d naming a queue's hand-off, want one of each at least", chain, queue)
	}
}

// TestUnblockLinksReleaserTask: on syncnode with a slow peer (syncnode.trace) the importer
// waits for blocks on the empty queue, working for no task; each of those waits makes a block
// span of its goroutine that names the fetcher's send as its release and links the task span
// of the block the fetcher was sending (of unknown type when it began before the trace), with
// the relation and the task id.
func TestUnblockLinksReleaserTask(t *testing.T) {
	out := mustConvert(t, "syncnode.trace", TraceOptions{MinSpanDuration: time.Millisecond, MaxGoroutineSpans: 1000})
	n := 0
	for _, sp := range out.spans {
		if sp.Name() != "block chan receive" || !strings.HasPrefix(strAttr(sp, metadata.AttributeUnblockFunction), "main.(*Syncer).fetchLoop ") {
			continue
		}
		n++
		if sp.Links().Len() != 1 {
			t.Errorf("block chan receive released by the fetcher with %d links, want 1", sp.Links().Len())
			continue
		}
		l := sp.Links().At(0)
		rel, _ := l.Attributes().Get(metadata.AttributeLinkRelation)
		id, _ := l.Attributes().Get(metadata.AttributeTaskID)
		task, ok := out.byID[l.SpanID()]
		if rel.Str() != metadata.AttributeLinkRelationReleasedBy || !ok || task.TraceID() != l.TraceID() ||
			intAttr(task, metadata.AttributeTaskID) != id.Int() || task.Name() != "importBlock" && task.Name() != unknownTaskName ||
			intAttr(task, metadata.AttributeGoroutineID) != intAttr(sp, metadata.AttributeUnblockGoroutineID) {
			t.Errorf("link %s %v (task %d) to %q (found %v), want released_by the fetcher's importBlock task span", l.SpanID(), rel.AsRaw(), id.Int(), task.Name(), ok)
		}
	}
	if n == 0 {
		t.Fatal("no wait of the importer released by the fetcher")
	}
	t.Logf("%d waits of the importer link the task the fetcher sent", n)
}
