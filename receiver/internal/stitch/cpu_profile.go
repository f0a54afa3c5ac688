package stitch

import (
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pprofile"
	"golang.org/x/exp/trace"

	"github.com/gostitch/gostitch/receiver/internal/metadata"
	"github.com/gostitch/gostitch/receiver/internal/profdict"
	"github.com/gostitch/gostitch/receiver/internal/target"
	"github.com/gostitch/gostitch/receiver/internal/tracesrc"
)

// nsCPUProfile is the id namespace of the execution trace's CPU profiles.
const nsCPUProfile = "go.trace/cpu-profile"

// cpuProfile collects the CPU samples that an execution trace took while goroutines worked for
// tasks into one OTLP profile (sample type cpu/nanoseconds, one period per sample). Each sample
// has its timestamp and a link to the span it was taken in: the innermost region of the sampled
// goroutine, else the task (docs/design.md, "Join rules": task). Samples of one stack and one span share an OTLP
// sample, with one value per timestamp. Samples outside tasks are not linked to anything and
// stay in the pprof CPU profile only.
type cpuProfile struct {
	period int64
	out    pprofile.Profiles
	dict   *profdict.Dict
	prof   pprofile.Profile

	samples map[[2]int32]int32 // by stack and link
	// frames maps the frames slices tracesrc shares among samples of one stack to their stack.
	frames map[*trace.StackFrame]int32

	count      int
	start, end trace.Time
	locs       []int32
	line       [1]profdict.Line
}

// add adds the samples of task t, whose trace and spans are traceID and ids.
func (p *cpuProfile) add(t *tracesrc.Task, traceID pcommon.TraceID, ids *taskSpanIDs, tl *tracesrc.Timeline) {
	if len(t.Samples) == 0 {
		return
	}
	if p.dict == nil {
		p.init()
	}
	for i := range t.Samples {
		s := &t.Samples[i]
		link := p.dict.Link(profdict.Link{Trace: traceID, Span: ids.parent(s.Region)})
		stack := p.stack(s.Stack)
		key := [2]int32{stack, link}
		si, ok := p.samples[key]
		if !ok {
			samples := p.prof.Samples()
			si = int32(samples.Len())
			ps := samples.AppendEmpty()
			ps.SetStackIndex(stack)
			ps.SetLinkIndex(link)
			p.samples[key] = si
		}
		ps := p.prof.Samples().At(int(si))
		ps.Values().Append(p.period)
		ps.TimestampsUnixNano().Append(uint64(tl.UnixNano(s.Time)))
		if p.count == 0 || s.Time < p.start {
			p.start = s.Time
		}
		p.end = max(p.end, s.Time)
		p.count++
	}
}

func (p *cpuProfile) init() {
	p.out = pprofile.NewProfiles()
	p.dict = profdict.New(p.out.Dictionary(), profdict.Sizes{})
	p.samples = make(map[[2]int32]int32)
	p.frames = make(map[*trace.StackFrame]int32)
	p.prof = pprofile.NewProfile()
}

// result wraps the profile in its resource and scope, nil-free: an empty Profiles when no
// sample was taken in a task.
func (p *cpuProfile) result(c *TraceConverter, tl *tracesrc.Timeline) pprofile.Profiles {
	if p.count == 0 {
		return pprofile.NewProfiles()
	}
	rp := p.out.ResourceProfiles().AppendEmpty()
	c.id.FillResource(rp.Resource())
	sp := rp.ScopeProfiles().AppendEmpty()
	target.FillScope(sp.Scope(), metadata.AttributeSourceGoTrace)
	prof := sp.Profiles().AppendEmpty()
	p.prof.MoveTo(prof)
	d := p.dict
	prof.SampleType().SetTypeStrindex(d.Str("cpu"))
	prof.SampleType().SetUnitStrindex(d.Str("nanoseconds"))
	prof.PeriodType().SetTypeStrindex(d.Str("cpu"))
	prof.PeriodType().SetUnitStrindex(d.Str("nanoseconds"))
	prof.SetPeriod(p.period)
	prof.SetTime(pcommon.Timestamp(tl.UnixNano(p.start)))
	prof.SetDurationNano(uint64(p.end - p.start))
	attrs := d.Tables().AttributeTable()
	kind := attrs.AppendEmpty()
	kind.SetKeyStrindex(d.Str(metadata.AttributeProfileType))
	kind.Value().SetStr(metadata.AttributeProfileTypeCPU)
	prof.AttributeIndices().Append(int32(attrs.Len() - 1))
	prof.SetProfileID(c.hash(nsCPUProfile).U64(uint64(tl.Start)).U64(uint64(p.count)).ProfileID())
	return p.out
}

// stack returns the stack index of frames (innermost first).
func (p *cpuProfile) stack(frames []trace.StackFrame) int32 {
	if len(frames) == 0 {
		return 0
	}
	if i, ok := p.frames[&frames[0]]; ok {
		return i
	}
	p.locs = p.locs[:0]
	for _, f := range frames {
		name := p.dict.Str(f.Func)
		p.line[0] = profdict.Line{Function: p.dict.Function(profdict.Function{Name: name, SystemName: name, File: p.dict.Str(f.File)}),
			Line: int64(f.Line)}
		p.locs = append(p.locs, p.dict.Location(0, f.PC, p.line[:]))
	}
	i := p.dict.Stack(p.locs)
	p.frames[&frames[0]] = i
	return i
}
