package stitch

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"golang.org/x/exp/trace"

	"github.com/gostitch/gostitch/receiver/internal/metadata"
)

// cpuAccuracy counts the measured CPU samples: those whose stack is in the syncer's fetch or
// import of a block that lies wholly within the trace (wholeBlocks), so the truth names their block.
type cpuAccuracy struct {
	events, right, wrong, unlinked int
}

func (a *cpuAccuracy) add(b cpuAccuracy) {
	a.events += b.events
	a.right += b.right
	a.wrong += b.wrong
	a.unlinked += b.unlinked
}

func (a cpuAccuracy) String() string {
	return fmt.Sprintf("%d samples in a block's fetch or import: %d (%.2f%%) linked to the right block's span, "+
		"%d (%.3f%%) to another's, %d not linked", a.events, a.right, 100*float64(a.right)/float64(a.events),
		a.wrong, 100*float64(a.wrong)/float64(a.events), a.unlinked)
}

// measureCPU checks each CPU sample of the trace against the truth: a sample whose stack is in
// Syncer.fetch belongs to the block whose fetch was running then, one in Syncer.importBlock to
// the block being imported (both are sequential). The profile must link it to a span of that
// block's importBlock task.
func measureCPU(t *testing.T, run syncnodeRun, out *converted, whole map[uint64]pcommon.TraceID) cpuAccuracy {
	tl := out.res.tl
	// The height of the block each profile sample is linked to, by its timestamp.
	linked := map[uint64]uint64{}
	pd := out.res.Profiles
	dict := pd.Dictionary()
	if pd.ResourceProfiles().Len() > 0 {
		samples := pd.ResourceProfiles().At(0).ScopeProfiles().At(0).Profiles().At(0).Samples()
		for i := range samples.Len() {
			s := samples.At(i)
			link := dict.LinkTable().At(int(s.LinkIndex()))
			h := out.blockHeight(link.SpanID())
			for j := range s.TimestampsUnixNano().Len() {
				linked[s.TimestampsUnixNano().At(j)] = h
			}
		}
	}
	from, to := uint64(tl.Mono(tl.Start)), uint64(tl.Mono(tl.End))
	var a cpuAccuracy
	r, err := trace.NewReader(bytes.NewReader(run.trace))
	if err != nil {
		t.Fatal(err)
	}
	for {
		ev, err := r.ReadEvent()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if ev.Kind() != trace.EventStackSample {
			continue
		}
		mono := uint64(tl.Mono(ev.Time()))
		want := truthOfSample(run.blocks, ev.Stack(), mono)
		if want == nil || want.StartMonoNS < from || want.EndMonoNS > to {
			continue
		}
		if _, ok := whole[want.Height]; !ok {
			continue
		}
		a.events++
		switch h, ok := linked[uint64(tl.UnixNano(ev.Time()))]; {
		case !ok:
			a.unlinked++
			var fs []string
			for f := range ev.Stack().Frames() {
				fs = append(fs, f.Func)
			}
			t.Logf("sample of block %d on goroutine %d not linked: %s", want.Height, ev.Goroutine(), strings.Join(fs, " < "))
		case h == want.Height:
			a.right++
		default:
			a.wrong++
			var fs []string
			for f := range ev.Stack().Frames() {
				fs = append(fs, f.Func)
			}
			t.Logf("sample of block %d on goroutine %d linked to block %d: %s (mono %d; fetch %d..%d, import %d..%d)", want.Height, ev.Goroutine(), h,
				strings.Join(fs, " < "), mono, want.StartMonoNS, want.FetchEndMonoNS, want.ImportStartMonoNS, want.EndMonoNS)
		}
	}
	return a
}

// truthOfSample is the block a sample at mono with stack st worked for, nil when its stack is
// in neither a fetch nor an import.
func truthOfSample(blocks []truthBlock, st trace.Stack, mono uint64) *truthBlock {
	var fetch, imp bool
	for f := range st.Frames() {
		fetch = fetch || f.Func == "main.(*Syncer).fetch" || strings.HasPrefix(f.Func, "main.(*Syncer).fetch.func")
		imp = imp || f.Func == "main.(*Syncer).importBlock" || strings.HasPrefix(f.Func, "main.(*Syncer).importBlock.func")
	}
	for i := range blocks {
		b := &blocks[i]
		if (fetch && b.StartMonoNS <= mono && mono <= b.FetchEndMonoNS) || (imp && b.ImportStartMonoNS <= mono && mono <= b.EndMonoNS) {
			return b
		}
	}
	return nil
}

// blockHeight is the height logged by the importBlock task above span id, 0 when none.
func (out *converted) blockHeight(id pcommon.SpanID) uint64 {
	sp, ok := out.byID[id]
	if !ok {
		return 0
	}
	task, ok := out.taskSpanOf(sp)
	if !ok {
		return 0
	}
	for i := range task.Events().Len() {
		if ev := task.Events().At(i); ev.Name() == "height" {
			v, _ := ev.Attributes().Get(metadata.AttributeLogMessage)
			var h uint64
			if _, err := fmt.Sscan(v.Str(), &h); err == nil {
				return h
			}
		}
	}
	return 0
}
