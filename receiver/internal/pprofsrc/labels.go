package pprofsrc

import (
	"encoding/binary"
	"slices"

	"github.com/google/pprof/profile"
)

// labeler turns the labels of samples into attribute indices, reusing its scratch space.
type labeler struct {
	t    *dictionary
	keys []string
	buf  []byte
}

// appendAttrs appends to dst the attribute indices of the labels of s, string labels first,
// each group in key order; labels in skip are left out.
func (lb *labeler) appendAttrs(dst []int32, s *profile.Sample, skip usedLabels) []int32 {
	lb.keys = lb.keys[:0]
	for k := range s.Label {
		if skip == 0 || !skip.has(k) {
			lb.keys = append(lb.keys, k)
		}
	}
	slices.Sort(lb.keys)
	for _, k := range lb.keys {
		dst = append(dst, lb.t.attr(lb.strLabel(k, s.Label[k])))
	}

	lb.keys = lb.keys[:0]
	for k := range s.NumLabel {
		lb.keys = append(lb.keys, k)
	}
	slices.Sort(lb.keys)
	for _, k := range lb.keys {
		dst = append(dst, lb.t.attr(lb.numLabel(k, s.NumLabel[k], s.NumUnit[k])))
	}
	return dst
}

func (lb *labeler) strLabel(key string, vals []string) attrKey {
	k := attrKey{kind: attrStr, key: lb.t.str(key)}
	if len(vals) == 1 {
		k.str = vals[0]
		return k
	}
	b := lb.buf[:0]
	for _, v := range vals {
		b = binary.AppendUvarint(b, uint64(len(v)))
		b = append(b, v...)
	}
	lb.buf = b
	k.kind, k.str = attrStrs, string(b)
	return k
}

// numLabel keys a numeric label; several values share the first one's unit.
func (lb *labeler) numLabel(key string, vals []int64, units []string) attrKey {
	k := attrKey{kind: attrInt, key: lb.t.str(key)}
	if len(units) > 0 {
		k.unit = lb.t.str(units[0])
	}
	if len(vals) == 1 {
		k.num = vals[0]
		return k
	}
	b := lb.buf[:0]
	for _, v := range vals {
		b = binary.AppendVarint(b, v)
	}
	lb.buf = b
	k.kind, k.str = attrInts, string(b)
	return k
}
