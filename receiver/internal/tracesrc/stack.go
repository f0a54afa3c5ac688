package tracesrc

import (
	"golang.org/x/exp/trace"

	"github.com/gostitch/gostitch/receiver/internal/exectrace"
)

// stackCache extracts the top frames of stacks, once per stack and generation: stack ids
// refer to their generation's table, so they are never kept past the generation.
type stackCache struct {
	depth int
	gen   map[exectrace.StackID][]trace.StackFrame
}

// frames returns the top frames of stack id, nil for no stack.
func (c *stackCache) frames(tr *exectrace.Reader, id exectrace.StackID) []trace.StackFrame {
	if id == exectrace.NoStack {
		return nil
	}
	if f, ok := c.gen[id]; ok {
		return f
	}
	f := tr.AppendFrames(nil, id, c.depth)
	if c.gen == nil {
		c.gen = make(map[exectrace.StackID][]trace.StackFrame)
	}
	c.gen[id] = f
	return f
}

// reset forgets the stacks of the generation that ended.
func (c *stackCache) reset() { clear(c.gen) }
