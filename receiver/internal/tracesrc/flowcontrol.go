package tracesrc

import (
	"strings"

	"golang.org/x/exp/trace"

	"github.com/gostitch/gostitch/receiver/internal/exectrace"
)

// FlowControl is the block reason of a wait for HTTP/2 flow-control window: the runtime says
// "select" or "sync.(*Cond).Wait", the stack says the transport's sender waits for its peer to
// open the stream's or the connection's window. Such a wait gets this reason everywhere a
// reason goes (episodes, waits, the breakdown).
const FlowControl = "flow control"

// flowControlWaits are the functions that wait for window, each checked against its source:
//   - grpc-go (google.golang.org/grpc/internal/transport, flowcontrol.go): a stream's sender
//     (client or server) waits in (*writeQuota).get, in a select, for write quota, which the
//     transport's loopy writer gives back only as it writes the stream's data out, as far as
//     the peer's stream and connection windows let it.
//   - x/net/http2 (transport.go) and net/http's bundled copy (h2_bundle.go): a client's request
//     body waits in (*clientStream).awaitFlowControl, on the connection's sync.Cond, for the
//     server's stream and connection windows.
//
// Not among them: grpc-go's wait for a stream slot (MaxConcurrentStreams, in NewStream), for
// headers (waitOnHeader) or on the control buffer (throttle: queued control frames), and an
// x/net/http2 server handler's wait for its DATA frame to be written (writeDataFromHandler),
// which is flow control or the socket's write alike.
var flowControlWaits = map[string]bool{
	"google.golang.org/grpc/internal/transport.(*writeQuota).get": true,
	"golang.org/x/net/http2.(*clientStream).awaitFlowControl":     true,
	"net/http.(*http2clientStream).awaitFlowControl":              true,
}

// flowStackDepth is how many frames a blocking stack is looked at: the waiting function comes
// right under the runtime's and sync's frames (runtime.selectgo; sync.runtime_notifyListWait,
// sync.(*Cond).Wait).
const flowStackDepth = 4

// blockReason is the reason of block event ev: FlowControl for a wait for window, else the
// runtime's reason.
func (s *state) blockReason(ev *exectrace.Event) string {
	if ev.Reason != "select" && ev.Reason != "sync.(*Cond).Wait" {
		return ev.Reason
	}
	if s.names.flowControl(s.tr, ev.Stack) {
		return FlowControl
	}
	return ev.Reason
}

// waitsForWindow reports whether the innermost frame of frames outside the runtime and sync
// is one of flowControlWaits.
func waitsForWindow(frames []trace.StackFrame) bool {
	for _, f := range frames {
		if !strings.HasPrefix(f.Func, "runtime.") && !strings.HasPrefix(f.Func, "sync.") {
			return flowControlWaits[f.Func]
		}
	}
	return false
}

// flowControl reports whether blocking stack id waits for flow-control window.
func (n *stackNames) flowControl(tr *exectrace.Reader, id exectrace.StackID) bool {
	if id == exectrace.NoStack {
		return false
	}
	return classifyOnce(n, &n.flow, tr, id, flowStackDepth, waitsForWindow)
}
