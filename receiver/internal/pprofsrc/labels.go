package pprofsrc

import (
	"encoding/binary"
	"slices"
	"strings"

	"github.com/gostitch/gostitch/receiver/internal/profdict"
)

// labeler turns the labels of samples into attribute indices and links, reusing its scratch
// space. It caches the attribute index of each single-valued label it has seen.
type labeler struct {
	t       *dictionary
	p       *pprofData
	entries []label
	strs    []strLabel
	nums    []numLabel
	strVals []string
	numVals []int64
	buf     []byte
	cache   map[label]int32
}

// strLabel is a string label of a sample: its values in the order of the profile.
type strLabel struct {
	key  string
	vals []string
	// first is the label entry of the first value.
	first label
}

// numLabel is a numeric label of a sample; the unit is that of its first value.
type numLabel struct {
	key   string
	vals  []int64
	first label
}

func newLabeler(t *dictionary, p *pprofData) *labeler {
	return &labeler{t: t, p: p, cache: map[label]int32{}}
}

// appendLabels appends to dst the attribute indices of a sample's labels, string labels first,
// each group in key order, and returns the link its trace-context labels give; the labels the
// link uses are not attributes. As profile.Parse has it, a label with a string value is a
// string label, one with a number or a unit a numeric label, and one with neither is no label.
func (lb *labeler) appendLabels(dst []int32, labels []label) ([]int32, profdict.Link) {
	if len(labels) == 0 {
		return dst, profdict.Link{}
	}
	p := lb.p
	lb.strs, lb.strVals = lb.strs[:0], lb.strVals[:0]
	for _, e := range lb.sorted(labels, func(e label) bool { return e.str != 0 }) {
		lb.strVals = append(lb.strVals, p.str(e.str))
		if n := len(lb.strs); n > 0 && lb.strs[n-1].key == p.str(e.key) {
			lb.strs[n-1].vals = lb.strVals[len(lb.strVals)-len(lb.strs[n-1].vals)-1:]
			continue
		}
		lb.strs = append(lb.strs, strLabel{key: p.str(e.key), vals: lb.strVals[len(lb.strVals)-1:], first: e})
	}
	l, traceAt, spanAt := linkOf(lb.strs)
	for i, kv := range lb.strs {
		if i != traceAt && i != spanAt {
			dst = append(dst, lb.strAttr(kv))
		}
	}

	lb.nums, lb.numVals = lb.nums[:0], lb.numVals[:0]
	for _, e := range lb.sorted(labels, func(e label) bool { return e.str == 0 && (e.num != 0 || e.unit != 0) }) {
		lb.numVals = append(lb.numVals, int64(e.num))
		if n := len(lb.nums); n > 0 && lb.nums[n-1].key == p.str(e.key) {
			lb.nums[n-1].vals = lb.numVals[len(lb.numVals)-len(lb.nums[n-1].vals)-1:]
			continue
		}
		lb.nums = append(lb.nums, numLabel{key: p.str(e.key), vals: lb.numVals[len(lb.numVals)-1:], first: e})
	}
	for _, kv := range lb.nums {
		dst = append(dst, lb.numAttr(kv))
	}
	return dst, l
}

// sorted returns the label entries keep selects, stably sorted by key.
func (lb *labeler) sorted(labels []label, keep func(label) bool) []label {
	lb.entries = lb.entries[:0]
	for _, e := range labels {
		if keep(e) {
			lb.entries = append(lb.entries, e)
		}
	}
	if len(lb.entries) > 1 {
		slices.SortStableFunc(lb.entries, func(a, b label) int { return strings.Compare(lb.p.str(a.key), lb.p.str(b.key)) })
	}
	return lb.entries
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
		return lb.t.attr(attrKey{kind: attrStrs, key: lb.t.Str(kv.key), str: string(b)})
	}
	i, ok := lb.cache[kv.first]
	if !ok {
		i = lb.t.attr(attrKey{kind: attrStr, key: lb.t.Str(kv.key), str: kv.vals[0]})
		lb.cache[kv.first] = i
	}
	return i
}

// numAttr returns the attribute of a numeric label; several values share the first one's unit.
func (lb *labeler) numAttr(kv numLabel) int32 {
	unit := lb.p.str(kv.first.unit)
	if len(kv.vals) != 1 {
		b := lb.buf[:0]
		for _, v := range kv.vals {
			b = binary.AppendVarint(b, v)
		}
		lb.buf = b
		return lb.t.attr(attrKey{kind: attrInts, key: lb.t.Str(kv.key), unit: lb.t.Str(unit), str: string(b)})
	}
	i, ok := lb.cache[kv.first]
	if !ok {
		k := attrKey{kind: attrInt, key: lb.t.Str(kv.key), num: kv.vals[0]}
		if unit != "" {
			k.unit = lb.t.Str(unit)
		}
		i = lb.t.attr(k)
		lb.cache[kv.first] = i
	}
	return i
}
