package tracesrc

import (
	"strings"

	"golang.org/x/exp/trace"

	"github.com/gostitch/gostitch/receiver/internal/exectrace"
)

// TLS handshakes. The execution trace has no TLS events, but every syscall and block of a
// goroutine carries its stack, and a crypto/tls handshake runs under
// crypto/tls.(*Conn).handshakeContext: a goroutine's consecutive stacked events (syscalls,
// blocks, preemptions) whose stacks hold that frame are one handshake (about five syscalls and
// one network block each on loopback). Its end is the end of its last such operation (the
// syscall's exit, or the run after the block). A server handshake starts at its first event,
// the ClientHello's read; a client's first event comes late (a TLS 1.3 client makes its key
// share before it writes the ClientHello, and emits no event meanwhile), so a client
// handshake starts where the goroutine's previous operation, the dial's connect, ended. The
// frames name the side ((*Conn).clientHandshake / serverHandshake) and the version (methods of
// (*clientHandshakeStateTLS13) / (*serverHandshakeStateTLS13) for 1.3, of
// (*clientHandshakeState) / (*serverHandshakeState) for 1.2). Whether a TLS 1.2 handshake
// resumed a session shows too: a full one always makes a syscall under doFullHandshake (a
// client also under readFinished or readSessionTicket), a resumed one only under the state's
// handshake method (a server: under its other methods). TLS 1.3 resumption and the cipher
// suite leave no trace in the stacks: Handshake does not claim them.

// TLSSide says which end of a TLS handshake the goroutine was.
type TLSSide uint8

// TLS handshake sides.
const (
	TLSClient TLSSide = iota + 1
	TLSServer
)

// TLSResumption says whether a handshake resumed a session.
type TLSResumption uint8

// TLS resumptions; ResumptionUnknown for every TLS 1.3 handshake (its stacks do not tell).
const (
	ResumptionUnknown TLSResumption = iota
	ResumptionFull
	ResumptionResumed
)

// Handshake is one TLS handshake (crypto/tls) of a goroutine.
type Handshake struct {
	Side TLSSide
	// Version is the protocol version as the semantic conventions spell it ("1.3", "1.2");
	// empty when no frame said (a handshake cut by the trace's end, or one that failed early).
	Version   string
	Resumed   TLSResumption
	Goroutine trace.GoID
	// Thread is the OS thread of the handshake's first event.
	Thread     trace.ThreadID
	Start, End trace.Time
	// Region indexes the task's innermost region of the goroutine at the start, -1 for none
	// (for a handshake outside tasks: its regions outside tasks, as Episode.Region).
	Region int
	// Partial is set when the handshake began before the trace or outlasted it.
	Partial bool
	// Connect is the dial's connect syscall that a client handshake followed: zero when the
	// trace did not show one since the goroutine's previous handshake.
	Connect Call
}

// Call is one system call of a goroutine: its bounds and the thread it ran on.
type Call struct {
	Start, End trace.Time
	Thread     trace.ThreadID
}

// HandshakeHandler receives the TLS handshakes of goroutines working for no task (a Handler
// that implements it, with Options.MaxGoroutineSpans positive; each takes a place as an
// episode does, see outside.go). Handshakes of goroutines working for a task go into
// Task.Handshakes.
type HandshakeHandler interface {
	GoroutineHandshake(h Handshake)
}

// Stack classes: what a stack's frames say of TLS and dialing.
const (
	stackClassed uint8 = 1 << iota // the class is known (cache entries only)
	stackHandshake
	stackClient
	stackServer
	stackTLS13
	stackTLS12
	stackFull12  // a frame only a full TLS 1.2 handshake makes syscalls under
	stackConnect // net.(*netFD).connect: a dial's connect
)

// maxClassedStacks bounds the per-generation class cache (stack ids are dense from 1).
const maxClassedStacks = 1 << 20

// tlsClassDepth is how many frames a stack is searched: a client handshake's read sits some
// 27 frames deep.
const tlsClassDepth = 48

// stackClasses caches the class of each stack of a generation.
type stackClasses struct {
	class  []uint8
	frames []trace.StackFrame
}

// of returns the class of stack id.
func (c *stackClasses) of(tr *exectrace.Reader, id exectrace.StackID) uint8 {
	if id == exectrace.NoStack {
		return 0
	}
	if id < maxClassedStacks {
		if int(id) < len(c.class) && c.class[id] != 0 {
			return c.class[id]
		}
	}
	c.frames = tr.AppendFrames(c.frames[:0], id, tlsClassDepth)
	k := stackClassed | classify(c.frames)
	if id < maxClassedStacks {
		if int(id) >= len(c.class) {
			c.class = append(c.class, make([]uint8, int(id)+1-len(c.class))...)
		}
		c.class[id] = k
	}
	return k
}

// reset forgets the classes of the generation that ended.
func (c *stackClasses) reset() { clear(c.class) }

// classify reads the TLS and dial frames of a stack.
func classify(frames []trace.StackFrame) uint8 {
	var k uint8
	for _, f := range frames {
		fn, ok := strings.CutPrefix(f.Func, "crypto/tls.")
		if !ok {
			if f.Func == "net.(*netFD).connect" {
				k |= stackConnect
			}
			continue
		}
		switch {
		case fn == "(*Conn).handshakeContext":
			k |= stackHandshake
		case fn == "(*Conn).clientHandshake":
			k |= stackClient
		case fn == "(*Conn).serverHandshake":
			k |= stackServer
		case strings.HasPrefix(fn, "(*clientHandshakeStateTLS13)."), strings.HasPrefix(fn, "(*serverHandshakeStateTLS13)."):
			k |= stackTLS13
		case fn == "(*clientHandshakeState).doFullHandshake", fn == "(*clientHandshakeState).readFinished",
			fn == "(*clientHandshakeState).readSessionTicket", fn == "(*serverHandshakeState).doFullHandshake":
			k |= stackTLS12 | stackFull12
		case strings.HasPrefix(fn, "(*clientHandshakeState)."), strings.HasPrefix(fn, "(*serverHandshakeState)."):
			k |= stackTLS12
		}
	}
	if k&stackHandshake == 0 || k&(stackClient|stackServer) == 0 {
		k &= stackConnect // handshakeContext alone: a completed handshake's check (Write calls it)
	}
	return k
}

// goTLS is a goroutine's TLS state: its open handshake and what it did before.
type goTLS struct {
	open bool
	h    Handshake
	// first is the time of the open handshake's first event.
	first trace.Time
	class uint8
	task  *taskState
	// op is the class of the goroutine's last operation (syscall, block or preemption); opWait
	// says it is a syscall or block not yet ended (by the goroutine running again).
	op     uint8
	opWait bool
	// lastEnd is when the goroutine's last syscall or block that was not a handshake's ended;
	// connect is the last dial's connect syscall.
	lastEnd trace.Time
	connect Call
}

// tlsTransition follows goroutine g's TLS handshakes through transition ev (from, to).
func (s *state) tlsTransition(g *gState, from, to trace.GoState, ev *exectrace.Event) {
	now := ev.Time
	if from == trace.GoRunning && (to == trace.GoSyscall || to == trace.GoWaiting || to == trace.GoRunnable) {
		k := s.tlsClasses.of(s.tr, ev.Stack)
		if k&(stackHandshake|stackConnect) == 0 && g.tls == nil {
			return
		}
		t := g.tlsState()
		if k&stackConnect != 0 && to == trace.GoSyscall && t.op&stackConnect == 0 {
			t.connect = Call{Start: now, Thread: g.m} // the dial's first syscall: connect
		}
		t.op, t.opWait = k, to != trace.GoRunnable
		switch {
		case k&stackHandshake == 0:
			s.tlsClose(g, t, false)
		case !t.open:
			s.tlsOpen(g, t, now)
		}
		t.class |= k
		return
	}
	t := g.tls
	if t == nil || to != trace.GoRunning || !t.opWait {
		return
	}
	if t.op&stackHandshake != 0 {
		t.h.End = now
	} else {
		t.lastEnd = now
		if t.op&stackConnect != 0 && t.connect.End == 0 {
			t.connect.End = now
		}
	}
	t.opWait = false
}

func (g *gState) tlsState() *goTLS {
	if g.tls == nil {
		g.tls = &goTLS{}
	}
	return g.tls
}

// tlsOpen starts a handshake of g at its first handshake event, at now.
func (s *state) tlsOpen(g *gState, t *goTLS, now trace.Time) {
	t.open, t.class, t.first = true, 0, now
	t.h = Handshake{Goroutine: g.id, Thread: g.m, Start: now, End: now, Region: -1, Partial: g.partial}
	t.task = g.cur
	if noOpenTask(g.cur) {
		t.task = nil
		if s.outsideOn() {
			t.h.Region = g.innermostRegion(nil)
		}
	} else {
		t.h.Region = g.innermostRegion(g.cur)
	}
	if g.partial {
		t.h.Start = s.tl.Start
	}
	t.h.Connect = t.connect
	t.connect = Call{}
}

// tlsClose ends g's open handshake and hands it over: into its task when the goroutine worked
// for one that is still to be handed over, else as work outside tasks. cut marks a handshake
// still going at the trace's end.
func (s *state) tlsClose(g *gState, t *goTLS, cut bool) {
	if !t.open {
		return
	}
	t.open = false
	h := t.h
	h.Partial = h.Partial || cut
	h = t.settle(h)
	if ts := t.task; ts != nil && ts.open && !ts.emitted {
		h.Start = max(h.Start, ts.t.Start)
		ts.t.Handshakes = append(ts.t.Handshakes, h)
		return
	}
	if t.task == nil && s.outsideOn() {
		if hh, ok := s.outside.(HandshakeHandler); ok && s.reserve(g, 1) {
			hh.GoroutineHandshake(h)
		}
	}
}

// settle fills what the frames say of h: the side, the version, the resumption and a client's
// start (the end of the goroutine's previous operation, when the trace shows one).
func (t *goTLS) settle(h Handshake) Handshake {
	switch {
	case t.class&stackClient != 0:
		h.Side = TLSClient
		if t.lastEnd != 0 && !h.Partial {
			h.Start = t.lastEnd
		}
	case t.class&stackServer != 0:
		h.Side = TLSServer
	}
	switch {
	case t.class&stackTLS13 != 0:
		h.Version = "1.3"
	case t.class&stackTLS12 != 0:
		h.Version = "1.2"
		h.Resumed = ResumptionResumed
		if t.class&stackFull12 != 0 {
			h.Resumed = ResumptionFull
		}
	}
	return h
}

// tlsFinish closes g's open handshake when it exits (cut: at the trace's end).
func (s *state) tlsFinish(g *gState, cut bool) {
	if g.tls != nil {
		s.tlsClose(g, g.tls, cut)
	}
}
