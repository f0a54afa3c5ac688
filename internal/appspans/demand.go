package appspans

import "sync"

// The services whose spans some receiver will look up: a gostitchjoin processor indexes a
// service's spans only while one is wanted, from the start of an execution trace of it until
// its window's conversion is done, since no task can be matched to a span that ended before
// its trace began, and the spans arrive after they end. Outside those times it only moves the
// service's watermark (Index.Saw). Counted per holder, so overlapping windows and several
// receivers each keep a service wanted until the last lets go.
var demand struct {
	mu      sync.Mutex
	holders map[string]int
}

// Want marks the spans of svc arriving from now on as wanted, until release is called (once).
func Want(svc string) (release func()) {
	demand.mu.Lock()
	defer demand.mu.Unlock()
	if demand.holders == nil {
		demand.holders = make(map[string]int)
	}
	demand.holders[svc]++
	var once sync.Once
	return func() {
		once.Do(func() {
			demand.mu.Lock()
			defer demand.mu.Unlock()
			if demand.holders[svc]--; demand.holders[svc] == 0 {
				delete(demand.holders, svc)
			}
		})
	}
}

// Wanted says whether some receiver wants the spans of svc now.
func Wanted(svc string) bool {
	demand.mu.Lock()
	defer demand.mu.Unlock()
	return demand.holders[svc] > 0
}
