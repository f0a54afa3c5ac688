package stitch

import (
	"math"
	"time"
)

// sketchSteps is the number of buckets per power of two of a durationSketch: a bucket's bounds
// are 2^(1/16) ≈ 1.044 apart, so a quantile is within 4.4%.
const sketchSteps = 16

// sketchBuckets covers 1µs to 2^40µs (12 days); longer durations land in the last bucket.
const sketchBuckets = 1 + 40*sketchSteps

// durationSketch is a running distribution of durations in log-spaced buckets, 2.6 KB whatever
// the number of durations: bucket 0 counts durations under 1µs, bucket i ≥ 1 those in
// [2^((i−1)/16), 2^(i/16)) µs.
type durationSketch struct {
	counts [sketchBuckets]uint32
	n      int
}

func (s *durationSketch) add(d time.Duration) {
	i := 0
	if us := float64(d) / float64(time.Microsecond); us >= 1 {
		i = min(1+int(math.Log2(us)*sketchSteps), sketchBuckets-1)
	}
	s.counts[i]++
	s.n++
}

// p95 is the upper bound of the bucket that holds the nearest-rank 95th percentile; 0 when empty.
func (s *durationSketch) p95() time.Duration {
	rank := (s.n*95 + 99) / 100
	seen := 0
	for i, c := range s.counts {
		if seen += int(c); seen >= rank && seen > 0 {
			return time.Duration(math.Exp2(float64(i)/sketchSteps) * float64(time.Microsecond))
		}
	}
	return 0
}
