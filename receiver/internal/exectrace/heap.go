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
	if i >= len(h) {
		return
	}
	c := h[i]
	for {
		k := 2*i + 1
		if k >= len(h) {
			break
		}
		if k+1 < len(h) && h[k+1].time < h[k].time {
			k++
		}
		if h[k].time >= c.time {
			break
		}
		h[i] = h[k]
		i = k
	}
	h[i] = c
}
