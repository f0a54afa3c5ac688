package pprofsrc

import (
	"encoding/binary"
	"slices"
	"strings"

	"github.com/google/pprof/profile"
)

// labeler turns the labels of samples into attribute indices and links, reusing its scratch
// space. It caches the attribute index of each label value it has seen, per key.
type labeler struct {
	t    *dictionary
	strs []strLabel
	nums []numLabel
	buf  []byte
	// Attribute indices of single-valued labels by key and value (numeric ones without unit).
	strAttrs map[string]map[string]int32
	numAttrs map[string]map[int64]int32
}

// strLabel is a string label of a sample.
type strLabel struct {
	key  string
	vals []string
}

// numLabel is a numeric label of a sample.
type numLabel struct {
	key  string
	vals []int64
}

func newLabeler(t *dictionary) *labeler {
	return &labeler{t: t, strAttrs: map[string]map[string]int32{}, numAttrs: map[string]map[int64]int32{}}
}

// appendLabels appends to dst the attribute indices of the labels of s, string labels first,
// each group in key order, and returns the link its trace-context labels give; the labels the
// link uses are not attributes.
func (lb *labeler) appendLabels(dst []int32, s *profile.Sample) ([]int32, link) {
	lb.strs = lb.strs[:0]
	for k, v := range s.Label {
		lb.strs = append(lb.strs, strLabel{key: k, vals: v})
	}
	if len(lb.strs) > 1 {
		slices.SortFunc(lb.strs, func(a, b strLabel) int { return strings.Compare(a.key, b.key) })
	}
	l, traceAt, spanAt := linkOf(lb.strs)
	for i, kv := range lb.strs {
		if i != traceAt && i != spanAt {
			dst = append(dst, lb.strAttr(kv))
		}
	}

	lb.nums = lb.nums[:0]
	for k, v := range s.NumLabel {
		lb.nums = append(lb.nums, numLabel{key: k, vals: v})
	}
	if len(lb.nums) > 1 {
		slices.SortFunc(lb.nums, func(a, b numLabel) int { return strings.Compare(a.key, b.key) })
	}
	for _, kv := range lb.nums {
		var unit string
		if units := s.NumUnit[kv.key]; len(units) > 0 {
			unit = units[0]
		}
		dst = append(dst, lb.numAttr(kv, unit))
	}
	return dst, l
}

// strAttr returns the attribute of a string label.
func (lb *labeler) strAttr(kv strLabel) int32 {
	if len(kv.vals) != 1 {
		b := lb.buf[:0]
		for _, v := range kv.vals {
			b = binary.AppendUvarint(b, uint64(len(v)))
			b = append(b, v...)
		}
		lb.buf = b
		return lb.t.attr(attrKey{kind: attrStrs, key: lb.t.str(kv.key), str: string(b)})
	}
	cache := lb.strAttrs[kv.key]
	if cache == nil {
		cache = map[string]int32{}
		lb.strAttrs[kv.key] = cache
	}
	i, ok := cache[kv.vals[0]]
	if !ok {
		i = lb.t.attr(attrKey{kind: attrStr, key: lb.t.str(kv.key), str: kv.vals[0]})
		cache[kv.vals[0]] = i
	}
	return i
}

// numAttr returns the attribute of a numeric label; several values share the first one's unit.
func (lb *labeler) numAttr(kv numLabel, unit string) int32 {
	switch {
	case len(kv.vals) != 1:
		b := lb.buf[:0]
		for _, v := range kv.vals {
			b = binary.AppendVarint(b, v)
		}
		lb.buf = b
		return lb.t.attr(attrKey{kind: attrInts, key: lb.t.str(kv.key), unit: lb.t.str(unit), str: string(b)})
	case unit != "":
		return lb.t.attr(attrKey{kind: attrInt, key: lb.t.str(kv.key), unit: lb.t.str(unit), num: kv.vals[0]})
	}
	cache := lb.numAttrs[kv.key]
	if cache == nil {
		cache = map[int64]int32{}
		lb.numAttrs[kv.key] = cache
	}
	i, ok := cache[kv.vals[0]]
	if !ok {
		i = lb.t.attr(attrKey{kind: attrInt, key: lb.t.str(kv.key), num: kv.vals[0]})
		cache[kv.vals[0]] = i
	}
	return i
}
