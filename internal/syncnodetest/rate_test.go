package syncnodetest

import "testing"

// TestRefutesRate checks the binomial tail against values worked out by hand (Poisson
// approximations: with n=180, 8 misses refute 1 % and 7 do not; 3 refute 0.1 % and 2 do not).
func TestRefutesRate(t *testing.T) {
	for _, c := range []struct {
		misses, n int
		rate      float64
		want      bool
	}{
		{0, 180, 0.01, false},
		{7, 180, 0.01, false},
		{8, 180, 0.01, true},
		{2, 180, 0.001, false},
		{3, 180, 0.001, true},
		{1, 10, 0, true},
		{5, 10, 0.5, false},
		{10, 10, 0.5, true},
	} {
		if got := RefutesRate(c.misses, c.n, c.rate); got != c.want {
			t.Errorf("RefutesRate(%d, %d, %g) = %v, want %v", c.misses, c.n, c.rate, got, c.want)
		}
	}
}
