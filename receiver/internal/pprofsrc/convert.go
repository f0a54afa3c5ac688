package pprofsrc

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"

	"github.com/google/pprof/profile"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/pprofile"

	"github.com/gostitch/gostitch/receiver/internal/metadata"
	"github.com/gostitch/gostitch/receiver/internal/target"
)

// Options tune Convert.
type Options struct {
	// LabelAttributes lists the pprof label keys that break metrics down (pprof.label_attributes);
	// no other label ever becomes a metric attribute.
	LabelAttributes []string
	// StartTime starts the cumulative sums (the process start time when known; 0 when not).
	StartTime pcommon.Timestamp
}

// Convert maps a profile from Decode (valid; Convert does not modify it) of the given kind (cpu,
// heap, allocs, goroutine, block, mutex; "" to infer it from the sample types) to OTLP profiles,
// one per sample type, and to the metrics that kind feeds (none for other kinds). Labels become
// sample attributes, trace-context labels links. It fails when the profile lacks the sample
// type a metric of its kind reads.
func Convert(p *profile.Profile, kind string, id target.Identity, opts Options) (pprofile.Profiles, pmetric.Metrics, error) {
	if kind == "" {
		kind = inferKind(p)
	}
	metrics, err := buildMetrics(p, kind, id, opts)
	if err != nil {
		return pprofile.Profiles{}, pmetric.Metrics{}, err
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
	p        *profile.Profile
	id       target.Identity
	t        *dictionary
	refs     []sampleRef
	attrs    []int32
	kindAttr int32
}

func buildProfiles(p *profile.Profile, kind string, id target.Identity) pprofile.Profiles {
	out := pprofile.NewProfiles()
	b := &profilesBuilder{p: p, id: id, t: newDictionary(out.Dictionary(), p), refs: make([]sampleRef, len(p.Sample))}
	lb := newLabeler(b.t)
	for i, s := range p.Sample {
		from := len(b.attrs)
		var l link
		b.attrs, l = lb.appendLabels(b.attrs, s)
		b.refs[i] = sampleRef{stack: b.t.stackOf(s.Location), link: b.t.link(l), attrsFrom: int32(from), attrsTo: int32(len(b.attrs))}
	}
	if _, known := kindMetrics[kind]; known {
		b.kindAttr = b.t.attr(attrKey{kind: attrStr, key: b.t.str(metadata.AttributeProfileType), str: kind})
	}

	rp := out.ResourceProfiles().AppendEmpty()
	id.FillResource(rp.Resource())
	sp := rp.ScopeProfiles().AppendEmpty()
	target.FillScope(sp.Scope(), metadata.AttributeSourcePprof)
	profiles := sp.Profiles()
	profiles.EnsureCapacity(len(p.SampleType))
	for _, vi := range sampleTypeOrder(p) {
		b.fill(profiles.AppendEmpty(), vi)
	}
	return out
}

// fill makes dp the profile of sample type vi: the samples whose value of that type is not 0.
func (b *profilesBuilder) fill(dp pprofile.Profile, vi int) {
	p, t := b.p, b.t
	st := p.SampleType[vi]
	dp.SampleType().SetTypeStrindex(t.str(st.Type))
	dp.SampleType().SetUnitStrindex(t.str(st.Unit))
	if p.PeriodType != nil {
		dp.PeriodType().SetTypeStrindex(t.str(p.PeriodType.Type))
		dp.PeriodType().SetUnitStrindex(t.str(p.PeriodType.Unit))
	}
	dp.SetPeriod(p.Period)
	dp.SetTime(pcommon.Timestamp(max(p.TimeNanos, 0)))
	dp.SetDurationNano(uint64(max(p.DurationNanos, 0)))
	if b.kindAttr != 0 {
		dp.AttributeIndices().Append(b.kindAttr)
	}

	var n, total int64
	for _, s := range p.Sample {
		if v := s.Value[vi]; v != 0 {
			n++
			total += v
		}
	}
	samples := dp.Samples()
	samples.EnsureCapacity(int(n))
	for i, s := range p.Sample {
		v := s.Value[vi]
		if v == 0 {
			continue
		}
		ref := b.refs[i]
		ds := samples.AppendEmpty()
		ds.SetStackIndex(ref.stack)
		ds.SetLinkIndex(ref.link)
		ds.Values().Append(v)
		if ref.attrsTo > ref.attrsFrom {
			ds.AttributeIndices().FromRaw(b.attrs[ref.attrsFrom:ref.attrsTo])
		}
	}
	dp.SetProfileID(profileID(b.id, p, st, n, total))
}

// sampleTypeOrder lists the sample type indices with the default sample type first, since
// tools show the first profile by default.
func sampleTypeOrder(p *profile.Profile) []int {
	order := make([]int, 0, len(p.SampleType))
	for i, st := range p.SampleType {
		if st.Type == p.DefaultSampleType {
			order = append([]int{i}, order...)
		} else {
			order = append(order, i)
		}
	}
	return order
}

// profileID derives a profile id from the target and the profile's identifying fields, so that
// reading the same profile twice gives the same id.
func profileID(id target.Identity, p *profile.Profile, st *profile.ValueType, samples, total int64) pprofile.ProfileID {
	h := sha256.New()
	fmt.Fprintf(h, "%q %d %q %q %q", id.Name, id.PID, id.Host, st.Type, st.Unit)
	var b [32]byte
	binary.BigEndian.PutUint64(b[0:], uint64(p.TimeNanos))
	binary.BigEndian.PutUint64(b[8:], uint64(p.DurationNanos))
	binary.BigEndian.PutUint64(b[16:], uint64(samples))
	binary.BigEndian.PutUint64(b[24:], uint64(total))
	h.Write(b[:])
	var pid pprofile.ProfileID
	copy(pid[:], h.Sum(nil))
	return pid
}
