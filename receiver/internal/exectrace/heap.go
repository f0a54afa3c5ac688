package exectrace

// The frontier is a binary min-heap of cursors by the time of their next event. Among equal
// times the order is the one x/exp/trace's heap gives, so that both hand out the same order.

func heapInsert(h []*cursor, c *cursor) []*cursor {
	h = append(h, c)
	siftUp(h, len(h)-1)
	return h
}

// heapFix restores the heap after h[i]'s time changed.
func heapFix(h []*cursor, i int) {
	if siftUp(h, i) == i {
		siftDown(h, i)
	}
}

// heapRemove removes h[i].
func heapRemove(h []*cursor, i int) []*cursor {
	for i > 0 {
		p := (i - 1) / 2
		h[p], h[i] = h[i], h[p]
		i = p
	}
	last := len(h) - 1
	h[0], h[last] = h[last], h[0]
	h = h[:last]
	siftDown(h, 0)
	return h
}

func siftUp(h []*cursor, i int) int {
	for i > 0 && h[(i-1)/2].time > h[i].time {
		p := (i - 1) / 2
		h[p], h[i] = h[i], h[p]
		i = p
	}
	return i
}

func siftDown(h []*cursor, i int) {
	for {
		m := i
		for _, k := range [2]int{2*i + 1, 2*i + 2} {
			if k < len(h) && h[k].time < h[m].time {
				m = k
			}
		}
		if m == i {
			return
		}
		h[i], h[m] = h[m], h[i]
		i = m
	}
}
