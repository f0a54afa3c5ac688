package tracesrc

import (
	"golang.org/x/exp/trace"
)

// stackCache extracts the top frames of stacks, once per stack and generation: a Stack handle
// refers to its generation's tables, so handles are never kept past the generation.
type stackCache struct {
	depth int
	gen   map[trace.Stack][]trace.StackFrame
}

// frames returns the top frames of st, nil for no stack.
func (c *stackCache) frames(st trace.Stack) []trace.StackFrame {
	if st == trace.NoStack {
		return nil
	}
	if f, ok := c.gen[st]; ok {
		return f
	}
	var f []trace.StackFrame
	for fr := range st.Frames() {
		f = append(f, fr)
		if len(f) == c.depth {
			break
		}
	}
	if c.gen == nil {
		c.gen = make(map[trace.Stack][]trace.StackFrame)
	}
	c.gen[st] = f
	return f
}

// reset forgets the stacks of the generation that ended.
func (c *stackCache) reset() { clear(c.gen) }
