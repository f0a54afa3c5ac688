package pprofsrc

import (
	"strconv"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/pprofile"

	"github.com/gostitch/gostitch/receiver/internal/metadata"
	"github.com/gostitch/gostitch/receiver/internal/otelid"
	"github.com/gostitch/gostitch/receiver/internal/profdict"
	"github.com/gostitch/gostitch/receiver/internal/target"
)

// Options tune DecodeConvert.
type Options struct {
	// LabelAttributes lists the pprof label keys that break metrics down (pprof.label_attributes);
	// no other label ever becomes a metric attribute.
	LabelAttributes []string
	// StartTime starts the cumulative sums (the process start time when known; 0 when not).
	StartTime pcommon.Timestamp
	// Metrics builds the metrics the receiver's config turns on (zero: metadata.yaml's defaults).
	Metrics metadata.Builder
}

// DecodeConvert reads a pprof profile, gzip-compressed or plain protobuf, of at most maxSize
// bytes decompressed (DefaultMaxSize when maxSize <= 0), and maps it to OTLP profiles, one per
// sample type, and to the metrics its kind feeds (none for other kinds). The kind is cpu, heap,
// allocs, goroutine, block or mutex; "" infers it from the sample types. Labels become sample
// attributes, trace-context labels links. Errors of the bytes are of the classes ErrEmpty,
// ErrTooLarge, ErrNotPprof and ErrMalformed; it also fails when the profile lacks the sample
// type a metric of its kind reads; the profiles and metrics are then empty, never zero values.
// The caller adds where the bytes came from. Conversion allocates up to some 20 times the
// decompressed size, for real and hostile input alike.
func DecodeConvert(data []byte, maxSize int, kind string, id target.Identity, opts Options) (pprofile.Profiles, pmetric.Metrics, error) {
	p, err := decode(data, maxSize)
	if err != nil {
		return pprofile.NewProfiles(), pmetric.NewMetrics(), err
	}
	if kind == "" {
		kind = inferKind(p)
	}
	metrics, err := buildMetrics(p, kind, id, opts)
	if err != nil {
		return pprofile.NewProfiles(), pmetric.NewMetrics(), err
	}
	return buildProfiles(p, kind, id), metrics, nil
}

// sampleRef is what all the per-type copies of one pprof sample share.
type sampleRef struct {
	stack, link int32
	// attrs is the range of the sample's attribute indices in the shared backing slice.
	attrsFrom, attrsTo int32
}

// profilesBuilder holds the dictionary and the samples' shared parts while it fills one OTLP
// profile per sample type.
type profilesBuilder struct {
	p        *pprofData
	id       target.Identity
	t        *dictionary
	refs     []sampleRef
	attrs    []int32
	kindAttr int32
}

func buildProfiles(p *pprofData, kind string, id target.Identity) pprofile.Profiles {
	out := pprofile.NewProfiles()
	b := &profilesBuilder{p: p, id: id, t: newDictionary(out.Dictionary(), p), refs: make([]sampleRef, len(p.samples))}
	lb := newLabeler(b.t, p)
	for i, s := range p.samples {
		from := len(b.attrs)
		var l profdict.Link
		b.attrs, l = lb.appendLabels(b.attrs, p.labels[s.labels.from:s.labels.to])
		b.refs[i] = sampleRef{stack: b.t.stackOf(p.locs[s.locs.from:s.locs.to]), link: b.t.Link(l), attrsFrom: int32(from), attrsTo: int32(len(b.attrs))}
	}
	if _, known := kindMetrics[kind]; known {
		b.kindAttr = b.t.attr(attrKey{kind: attrStr, key: b.t.Str(metadata.AttributeProfileType), str: kind})
	}

	rp := out.ResourceProfiles().AppendEmpty()
	id.FillResource(rp.Resource())
	sp := rp.ScopeProfiles().AppendEmpty()
	target.FillScope(sp.Scope(), metadata.AttributeSourcePprof)
	profiles := sp.Profiles()
	profiles.EnsureCapacity(len(p.sampleTypes))
	for _, vi := range sampleTypeOrder(p) {
		b.fill(profiles.AppendEmpty(), vi)
	}
	return out
}

// fill makes dp the profile of sample type vi: the samples whose value of that type is not 0.
func (b *profilesBuilder) fill(dp pprofile.Profile, vi int) {
	p, t := b.p, b.t
	st := p.sampleTypes[vi]
	dp.SampleType().SetTypeStrindex(t.Str(p.str(st.typ)))
	dp.SampleType().SetUnitStrindex(t.Str(p.str(st.unit)))
	dp.PeriodType().SetTypeStrindex(t.Str(p.str(p.periodType.typ)))
	dp.PeriodType().SetUnitStrindex(t.Str(p.str(p.periodType.unit)))
	dp.SetPeriod(p.period)
	dp.SetTime(pcommon.Timestamp(max(p.timeNanos, 0)))
	dp.SetDurationNano(uint64(max(p.durationNanos, 0)))
	if b.kindAttr != 0 {
		dp.AttributeIndices().Append(b.kindAttr)
	}

	nt := len(p.sampleTypes)
	var n, total int64
	for i := vi; i < len(p.values); i += nt {
		if v := p.values[i]; v != 0 {
			n++
			total += v
		}
	}
	samples := dp.Samples()
	samples.EnsureCapacity(int(n))
	for i := range p.samples {
		v := p.values[i*nt+vi]
		if v == 0 {
			continue
		}
		ref := b.refs[i]
		ds := samples.AppendEmpty()
		ds.SetStackIndex(ref.stack)
		ds.SetLinkIndex(ref.link)
		values := ds.Values()
		values.EnsureCapacity(1) // made to size: cheaper than grown by append
		values.Append(v)
		if ref.attrsTo > ref.attrsFrom {
			ds.AttributeIndices().FromRaw(b.attrs[ref.attrsFrom:ref.attrsTo])
		}
	}
	dp.SetProfileID(profileID(b.id, p, p.str(st.typ), p.str(st.unit), n, total))
}

// sampleTypeOrder lists the sample type indices with the default sample type first, since
// tools show the first profile by default.
func sampleTypeOrder(p *pprofData) []int {
	order := make([]int, 0, len(p.sampleTypes))
	for i, st := range p.sampleTypes {
		if p.str(st.typ) == p.str(p.defaultSampleType) {
			order = append([]int{i}, order...)
		} else {
			order = append(order, i)
		}
	}
	return order
}

// profileID derives a profile id from the target and the profile's identifying fields, so that
// reading the same profile twice gives the same id.
func profileID(id target.Identity, p *pprofData, typ, unit string, samples, total int64) pprofile.ProfileID {
	// What fmt's "%q %d %q %q %q" writes of the name, pid, host, type and unit, then the numbers.
	b := make([]byte, 0, 128)
	b = strconv.AppendQuote(b, id.Name)
	b = append(b, ' ')
	b = strconv.AppendInt(b, int64(id.PID), 10)
	for _, s := range [...]string{id.Host, typ, unit} {
		b = strconv.AppendQuote(append(b, ' '), s)
	}
	return otelid.FromBytes(b).U64(uint64(p.timeNanos)).U64(uint64(p.durationNanos)).
		U64(uint64(samples)).U64(uint64(total)).ProfileID()
}
