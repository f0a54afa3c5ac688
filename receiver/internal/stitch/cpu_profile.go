package stitch

import (
	"encoding/binary"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pprofile"
	"golang.org/x/exp/trace"

	"github.com/gostitch/gostitch/receiver/internal/metadata"
	"github.com/gostitch/gostitch/receiver/internal/target"
	"github.com/gostitch/gostitch/receiver/internal/tracesrc"
)

// nsCPUProfile is the id namespace of the execution trace's CPU profiles.
const nsCPUProfile = "go.trace/cpu-profile"

// cpuProfile collects the CPU samples that an execution trace took while goroutines worked for
// tasks into one OTLP profile (sample type cpu/nanoseconds, one period per sample). Each sample
// has its timestamp and a link to the span it was taken in: the innermost region of the sampled
// goroutine, else the task (DESIGN.md rule 4). Samples of one stack and one span share an OTLP
// sample, with one value per timestamp. Samples outside tasks are not linked to anything and
// stay in the pprof CPU profile only.
type cpuProfile struct {
	period int64
	out    pprofile.Profiles
	d      pprofile.ProfilesDictionary
	prof   pprofile.Profile

	strings   map[string]int32
	functions map[[2]int32]int32 // name and file
	locations map[cpuLocation]int32
	stacks    map[string]int32 // by the varint location indices
	links     map[cpuLink]int32
	samples   map[[2]int32]int32 // by stack and link
	// frames maps the frames slices tracesrc shares among samples of one stack to their stack.
	frames map[*trace.StackFrame]int32

	count      int
	start, end trace.Time
	buf        []byte
	locs       []int32
}

type cpuLocation struct {
	pc       uint64
	function int32
	line     int64
}

type cpuLink struct {
	trace pcommon.TraceID
	span  pcommon.SpanID
}

// add adds the samples of task t, whose trace and spans are traceID and ids.
func (p *cpuProfile) add(t *tracesrc.Task, traceID pcommon.TraceID, ids *taskSpanIDs, tl *tracesrc.Timeline) {
	if len(t.Samples) == 0 {
		return
	}
	if p.strings == nil {
		p.init()
	}
	for i := range t.Samples {
		s := &t.Samples[i]
		link := p.link(cpuLink{trace: traceID, span: ids.parent(s.Region)})
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
	p.d = p.out.Dictionary()
	p.strings = make(map[string]int32)
	p.functions = make(map[[2]int32]int32)
	p.locations = make(map[cpuLocation]int32)
	p.stacks = make(map[string]int32)
	p.links = make(map[cpuLink]int32)
	p.samples = make(map[[2]int32]int32)
	p.frames = make(map[*trace.StackFrame]int32)
	// Index 0 of every table is the zero value, so that 0 means "unset".
	p.str("")
	p.d.MappingTable().AppendEmpty()
	p.d.FunctionTable().AppendEmpty()
	p.d.LocationTable().AppendEmpty()
	p.d.StackTable().AppendEmpty()
	p.d.AttributeTable().AppendEmpty()
	p.d.LinkTable().AppendEmpty()
	p.links[cpuLink{}] = 0
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
	prof.SampleType().SetTypeStrindex(p.str("cpu"))
	prof.SampleType().SetUnitStrindex(p.str("nanoseconds"))
	prof.PeriodType().SetTypeStrindex(p.str("cpu"))
	prof.PeriodType().SetUnitStrindex(p.str("nanoseconds"))
	prof.SetPeriod(p.period)
	prof.SetTime(pcommon.Timestamp(tl.UnixNano(p.start)))
	prof.SetDurationNano(uint64(p.end - p.start))
	kind := p.d.AttributeTable().AppendEmpty()
	kind.SetKeyStrindex(p.str(metadata.AttributeProfileType))
	kind.Value().SetStr(metadata.AttributeProfileTypeCPU)
	prof.AttributeIndices().Append(int32(p.d.AttributeTable().Len() - 1))
	tid := c.hash(nsCPUProfile).u64(uint64(tl.Start)).u64(uint64(p.count)).traceID()
	prof.SetProfileID(pprofile.ProfileID(tid))
	return p.out
}

func (p *cpuProfile) str(s string) int32 {
	if i, ok := p.strings[s]; ok {
		return i
	}
	i := int32(p.d.StringTable().Len())
	p.d.StringTable().Append(s)
	p.strings[s] = i
	return i
}

func (p *cpuProfile) link(l cpuLink) int32 {
	if i, ok := p.links[l]; ok {
		return i
	}
	i := int32(p.d.LinkTable().Len())
	dl := p.d.LinkTable().AppendEmpty()
	dl.SetTraceID(l.trace)
	dl.SetSpanID(l.span)
	p.links[l] = i
	return i
}

// stack returns the stack index of frames (innermost first), stored once per distinct content.
func (p *cpuProfile) stack(frames []trace.StackFrame) int32 {
	if len(frames) == 0 {
		return 0
	}
	if i, ok := p.frames[&frames[0]]; ok {
		return i
	}
	p.locs, p.buf = p.locs[:0], p.buf[:0]
	for _, f := range frames {
		l := p.location(f)
		p.locs = append(p.locs, l)
		p.buf = binary.AppendUvarint(p.buf, uint64(l))
	}
	i, ok := p.stacks[string(p.buf)]
	if !ok {
		i = int32(p.d.StackTable().Len())
		p.d.StackTable().AppendEmpty().LocationIndices().FromRaw(p.locs)
		p.stacks[string(p.buf)] = i
	}
	p.frames[&frames[0]] = i
	return i
}

func (p *cpuProfile) location(f trace.StackFrame) int32 {
	fk := [2]int32{p.str(f.Func), p.str(f.File)}
	fn, ok := p.functions[fk]
	if !ok {
		fn = int32(p.d.FunctionTable().Len())
		df := p.d.FunctionTable().AppendEmpty()
		df.SetNameStrindex(fk[0])
		df.SetSystemNameStrindex(fk[0])
		df.SetFilenameStrindex(fk[1])
		p.functions[fk] = fn
	}
	lk := cpuLocation{pc: f.PC, function: fn, line: int64(f.Line)}
	if i, ok := p.locations[lk]; ok {
		return i
	}
	i := int32(p.d.LocationTable().Len())
	dl := p.d.LocationTable().AppendEmpty()
	dl.SetAddress(f.PC)
	ln := dl.Lines().AppendEmpty()
	ln.SetFunctionIndex(fn)
	ln.SetLine(lk.line)
	p.locations[lk] = i
	return i
}
