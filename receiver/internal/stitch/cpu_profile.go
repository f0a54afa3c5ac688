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
// sample, with one value per timestamp. With TraceOptions.MaxGoroutineSpans, the samples taken
// outside tasks are in it too, with their goroutine as an attribute, linked to the span of the
// region outside tasks they fell in or to nothing (goroutine_spans.go).
type cpuProfile struct {
	period int64
	out    pprofile.Profiles
	dict   *profdict.Dict
	prof   pprofile.Profile

	samples map[[3]int32]int32 // by stack, link and goroutine attribute
	// frames maps the frames slices tracesrc shares among samples of one stack to their stack.
	frames map[*trace.StackFrame]int32

	// goroutineAttrs indexes the attribute table entry of each goroutine of samples outside tasks.
	goroutineAttrs map[trace.GoID]int32

	// count counts the samples; outside counts those of them taken outside tasks.
	count, outside int
	start, end     trace.Time
	locs           []int32
	line           [1]profdict.Line
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
		p.sample(s, profdict.Link{Trace: traceID, Span: ids.parent(s.Region)}, 0, tl)
	}
}

// addOutside adds a sample taken outside tasks, linked to link (none when it is zero).
func (p *cpuProfile) addOutside(s *tracesrc.CPUSample, link profdict.Link, tl *tracesrc.Timeline) {
	if p.dict == nil {
		p.init()
	}
	var attr int32
	if s.Goroutine > 0 {
		var ok bool
		if attr, ok = p.goroutineAttrs[s.Goroutine]; !ok {
			table := p.dict.Tables().AttributeTable()
			attr = int32(table.Len())
			kv := table.AppendEmpty()
			kv.SetKeyStrindex(p.dict.Str(metadata.AttributeGoroutineID))
			kv.Value().SetInt(int64(s.Goroutine))
			p.goroutineAttrs[s.Goroutine] = attr
		}
	}
	p.sample(s, link, attr, tl)
	p.outside++
}

// sample adds one sample with its link (none when its span is empty) and attribute index (0: none).
func (p *cpuProfile) sample(s *tracesrc.CPUSample, link profdict.Link, attr int32, tl *tracesrc.Timeline) {
	li := int32(0)
	if !link.Span.IsEmpty() {
		li = p.dict.Link(link)
	}
	stack := p.stack(s.Stack)
	key := [3]int32{stack, li, attr}
	si, ok := p.samples[key]
	if !ok {
		samples := p.prof.Samples()
		si = int32(samples.Len())
		ps := samples.AppendEmpty()
		ps.SetStackIndex(stack)
		ps.SetLinkIndex(li)
		if attr > 0 {
			ps.AttributeIndices().Append(attr)
		}
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

func (p *cpuProfile) init() {
	p.out = pprofile.NewProfiles()
	p.dict = profdict.New(p.out.Dictionary(), profdict.Sizes{})
	p.samples = make(map[[3]int32]int32)
	p.goroutineAttrs = make(map[trace.GoID]int32)
	p.frames = make(map[*trace.StackFrame]int32)
	p.prof = pprofile.NewProfile()
}

// result wraps the profile in its resource and scope, nil-free: an empty Profiles when it has
// no sample.
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
