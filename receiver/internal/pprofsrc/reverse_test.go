package pprofsrc

import (
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/google/pprof/profile"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pprofile"
)

// toPprof maps converted OTLP profiles back to pprof, one profile per OTLP profile: the reverse
// of Convert that the round-trip tests compare with the input. Attributes become labels (ints
// with their unit as numeric labels), a sample's link the labels otel.trace_id and otel.span_id.
func toPprof(pd pprofile.Profiles) ([]*profile.Profile, error) {
	if err := validate(pd); err != nil {
		return nil, err
	}
	d := pd.Dictionary()
	strs := d.StringTable()
	str := func(i int32) string { return strs.At(int(i)) }

	mappings := map[int32]*profile.Mapping{}
	functions := map[int32]*profile.Function{}
	locations := map[int32]*profile.Location{}
	var out []*profile.Profile
	for _, rp := range pd.ResourceProfiles().All() {
		for _, sp := range rp.ScopeProfiles().All() {
			for _, dp := range sp.Profiles().All() {
				p := &profile.Profile{
					SampleType:    []*profile.ValueType{{Type: str(dp.SampleType().TypeStrindex()), Unit: str(dp.SampleType().UnitStrindex())}},
					PeriodType:    &profile.ValueType{Type: str(dp.PeriodType().TypeStrindex()), Unit: str(dp.PeriodType().UnitStrindex())},
					Period:        dp.Period(),
					TimeNanos:     int64(dp.Time()),
					DurationNanos: int64(dp.DurationNano()),
				}
				for _, ds := range dp.Samples().All() {
					s := &profile.Sample{Value: ds.Values().AsRaw()}
					for _, li := range d.StackTable().At(int(ds.StackIndex())).LocationIndices().All() {
						s.Location = append(s.Location, reverseLocation(d, li, str, locations, functions, mappings))
					}
					for _, ai := range ds.AttributeIndices().All() {
						addLabel(s, d.AttributeTable().At(int(ai)), str)
					}
					if l := d.LinkTable().At(int(ds.LinkIndex())); !l.TraceID().IsEmpty() || !l.SpanID().IsEmpty() {
						addLinkLabels(s, l.TraceID(), l.SpanID())
					}
					p.Sample = append(p.Sample, s)
				}
				out = append(out, p)
			}
		}
	}
	return out, nil
}

func reverseLocation(d pprofile.ProfilesDictionary, li int32, str func(int32) string,
	locations map[int32]*profile.Location, functions map[int32]*profile.Function, mappings map[int32]*profile.Mapping,
) *profile.Location {
	if l, ok := locations[li]; ok {
		return l
	}
	dl := d.LocationTable().At(int(li))
	l := &profile.Location{ID: uint64(li), Address: dl.Address()}
	if mi := dl.MappingIndex(); mi != 0 {
		if l.Mapping = mappings[mi]; l.Mapping == nil {
			dm := d.MappingTable().At(int(mi))
			l.Mapping = &profile.Mapping{ID: uint64(mi), Start: dm.MemoryStart(), Limit: dm.MemoryLimit(),
				Offset: dm.FileOffset(), File: str(dm.FilenameStrindex())}
			mappings[mi] = l.Mapping
		}
	}
	for _, ln := range dl.Lines().All() {
		fi := ln.FunctionIndex()
		f := functions[fi]
		if f == nil {
			df := d.FunctionTable().At(int(fi))
			f = &profile.Function{ID: uint64(fi), Name: str(df.NameStrindex()), SystemName: str(df.SystemNameStrindex()),
				Filename: str(df.FilenameStrindex()), StartLine: df.StartLine()}
			functions[fi] = f
		}
		l.Line = append(l.Line, profile.Line{Function: f, Line: ln.Line(), Column: ln.Column()})
	}
	locations[li] = l
	return l
}

func addLabel(s *profile.Sample, a pprofile.KeyValueAndUnit, str func(int32) string) {
	key, v := str(a.KeyStrindex()), a.Value()
	switch v.Type() {
	case pcommon.ValueTypeStr:
		setLabel(s, key, v.Str())
	case pcommon.ValueTypeInt:
		setNumLabel(s, key, v.Int(), str(a.UnitStrindex()))
	case pcommon.ValueTypeSlice:
		for _, e := range v.Slice().All() {
			if e.Type() == pcommon.ValueTypeInt {
				setNumLabel(s, key, e.Int(), str(a.UnitStrindex()))
			} else {
				setLabel(s, key, e.Str())
			}
		}
	}
}

func setLabel(s *profile.Sample, key, v string) {
	if s.Label == nil {
		s.Label = map[string][]string{}
	}
	s.Label[key] = append(s.Label[key], v)
}

func setNumLabel(s *profile.Sample, key string, v int64, unit string) {
	if s.NumLabel == nil {
		s.NumLabel, s.NumUnit = map[string][]int64{}, map[string][]string{}
	}
	s.NumLabel[key] = append(s.NumLabel[key], v)
	s.NumUnit[key] = append(s.NumUnit[key], unit)
}

func addLinkLabels(s *profile.Sample, trace pcommon.TraceID, span pcommon.SpanID) {
	if !trace.IsEmpty() {
		setLabel(s, "otel.trace_id", hex.EncodeToString(trace[:]))
	}
	if !span.IsEmpty() {
		setLabel(s, "otel.span_id", hex.EncodeToString(span[:]))
	}
}

// validate checks what OTLP requires of the dictionary and the references into it: zero values
// at index 0, every index in range, every sample one value, and no entry stored twice.
func validate(pd pprofile.Profiles) error {
	d := pd.Dictionary()
	var errs []error
	check := func(ok bool, format string, args ...any) {
		if !ok {
			errs = append(errs, fmt.Errorf(format, args...))
		}
	}
	strs, attrs, stacks := d.StringTable().Len(), d.AttributeTable().Len(), d.StackTable().Len()
	inRange := func(i int32, n int) bool { return i >= 0 && int(i) < n }

	check(strs > 0 && d.StringTable().At(0) == "", "string_table[0] is not \"\"")
	check(d.MappingTable().Len() > 0 && d.MappingTable().At(0).Equal(pprofile.NewMapping()), "mapping_table[0] is not zero")
	check(d.FunctionTable().Len() > 0 && d.FunctionTable().At(0).Equal(pprofile.NewFunction()), "function_table[0] is not zero")
	check(d.LocationTable().Len() > 0 && d.LocationTable().At(0).Equal(pprofile.NewLocation()), "location_table[0] is not zero")
	check(stacks > 0 && d.StackTable().At(0).Equal(pprofile.NewStack()), "stack_table[0] is not zero")
	check(attrs > 0 && d.AttributeTable().At(0).Equal(pprofile.NewKeyValueAndUnit()), "attribute_table[0] is not zero")
	check(d.LinkTable().Len() > 0 && d.LinkTable().At(0).Equal(pprofile.NewLink()), "link_table[0] is not zero")

	unique := func(table string, n int, key func(int) string) {
		seen := make(map[string]int, n)
		for i := range n {
			k := key(i)
			if j, dup := seen[k]; dup {
				check(false, "%s[%d] repeats [%d]", table, i, j)
			}
			seen[k] = i
		}
	}
	unique("string_table", strs, d.StringTable().At)
	for i, m := range d.MappingTable().All() {
		check(inRange(m.FilenameStrindex(), strs), "mapping %d: filename index out of range", i)
		for _, a := range m.AttributeIndices().All() {
			check(inRange(a, attrs), "mapping %d: attribute index %d out of range", i, a)
		}
	}
	unique("mapping_table", d.MappingTable().Len(), func(i int) string {
		m := d.MappingTable().At(i)
		return fmt.Sprint(m.MemoryStart(), m.MemoryLimit(), m.FileOffset(), m.FilenameStrindex(), m.AttributeIndices().AsRaw())
	})
	for i, f := range d.FunctionTable().All() {
		check(inRange(f.NameStrindex(), strs) && inRange(f.SystemNameStrindex(), strs) && inRange(f.FilenameStrindex(), strs),
			"function %d: string index out of range", i)
	}
	unique("function_table", d.FunctionTable().Len(), func(i int) string {
		f := d.FunctionTable().At(i)
		return fmt.Sprint(f.NameStrindex(), f.SystemNameStrindex(), f.FilenameStrindex(), f.StartLine())
	})
	for i, l := range d.LocationTable().All() {
		check(inRange(l.MappingIndex(), d.MappingTable().Len()), "location %d: mapping index out of range", i)
		for _, ln := range l.Lines().All() {
			check(inRange(ln.FunctionIndex(), d.FunctionTable().Len()), "location %d: function index out of range", i)
		}
	}
	unique("location_table", d.LocationTable().Len(), func(i int) string {
		l := d.LocationTable().At(i)
		k := fmt.Sprint(l.MappingIndex(), l.Address(), l.AttributeIndices().AsRaw())
		for _, ln := range l.Lines().All() {
			k += fmt.Sprint(" ", ln.FunctionIndex(), ln.Line(), ln.Column())
		}
		return k
	})
	for i, st := range d.StackTable().All() {
		for _, li := range st.LocationIndices().All() {
			// 0 is the empty location, for a pprof location with nothing in it.
			check(inRange(li, d.LocationTable().Len()), "stack %d: location index %d out of range", i, li)
		}
	}
	unique("stack_table", stacks, func(i int) string { return fmt.Sprint(d.StackTable().At(i).LocationIndices().AsRaw()) })
	for i, a := range d.AttributeTable().All() {
		check(inRange(a.KeyStrindex(), strs) && inRange(a.UnitStrindex(), strs), "attribute %d: string index out of range", i)
	}
	unique("attribute_table", attrs, func(i int) string {
		a := d.AttributeTable().At(i)
		return fmt.Sprint(a.KeyStrindex(), a.UnitStrindex(), a.Value().AsRaw())
	})
	unique("link_table", d.LinkTable().Len(), func(i int) string {
		l := d.LinkTable().At(i)
		return fmt.Sprint(l.TraceID(), l.SpanID())
	})

	for _, rp := range pd.ResourceProfiles().All() {
		for _, sp := range rp.ScopeProfiles().All() {
			for pi, dp := range sp.Profiles().All() {
				check(inRange(dp.SampleType().TypeStrindex(), strs) && inRange(dp.SampleType().UnitStrindex(), strs),
					"profile %d: sample type index out of range", pi)
				for _, a := range dp.AttributeIndices().All() {
					check(a > 0 && inRange(a, attrs), "profile %d: attribute index %d out of range", pi, a)
				}
				for si, s := range dp.Samples().All() {
					check(s.Values().Len() == 1, "profile %d sample %d: %d values", pi, si, s.Values().Len())
					check(inRange(s.StackIndex(), stacks), "profile %d sample %d: stack index out of range", pi, si)
					check(inRange(s.LinkIndex(), d.LinkTable().Len()), "profile %d sample %d: link index out of range", pi, si)
					for _, a := range s.AttributeIndices().All() {
						check(a > 0 && inRange(a, attrs), "profile %d sample %d: attribute index %d out of range", pi, si, a)
					}
				}
			}
		}
	}
	return errors.Join(errs...)
}
