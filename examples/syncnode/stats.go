package main

import (
	"fmt"
	"math"
	"time"
)

// bucketGrowth is the width of LatencyStats buckets: each is 2% wider than the previous, so
// a reported quantile is within 2% of the true one.
const bucketGrowth = 1.02

// LatencyStats summarizes import latencies in constant memory: exact count, mean and maximum,
// and a log-scale histogram of microseconds for percentiles.
type LatencyStats struct {
	count   uint64
	sum     time.Duration
	max     time.Duration
	buckets []uint64 // buckets[i] counts latencies in [growth^i, growth^(i+1)) µs
}

// Add records one latency.
func (s *LatencyStats) Add(d time.Duration) {
	s.count++
	s.sum += d
	s.max = max(s.max, d)
	us := max(float64(d)/float64(time.Microsecond), 1)
	i := int(math.Log(us) / math.Log(bucketGrowth))
	if i >= len(s.buckets) {
		s.buckets = append(s.buckets, make([]uint64, i+1-len(s.buckets))...)
	}
	s.buckets[i]++
}

// Quantile returns the q-quantile (0 < q ≤ 1): the upper bound of the bucket holding it,
// capped at the maximum.
func (s *LatencyStats) Quantile(q float64) time.Duration {
	if s.count == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(s.count)))
	var seen uint64
	for i, n := range s.buckets {
		seen += n
		if seen >= rank {
			upper := time.Duration(math.Pow(bucketGrowth, float64(i+1)) * float64(time.Microsecond))
			return min(upper, s.max)
		}
	}
	return s.max
}

// Summary returns the one-line summary printed at exit.
func (s *LatencyStats) Summary(elapsed time.Duration) string {
	avg := time.Duration(0)
	if s.count > 0 {
		avg = s.sum / time.Duration(s.count)
	}
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	return fmt.Sprintf("summary: imported %d blocks in %.1fs (%.1f blocks/s); importBlock task ms avg %.2f p95 %.2f max %.2f",
		s.count, elapsed.Seconds(), float64(s.count)/max(elapsed.Seconds(), 1e-9),
		ms(avg), ms(s.Quantile(0.95)), ms(s.max))
}
