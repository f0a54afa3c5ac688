package tracesrc

import (
	"bytes"
	"testing"
	"time"
)

// tlsCollector collects the tasks and the handshakes outside tasks of a read.
type tlsCollector struct {
	*outsideCollector
	handshakes []Handshake
}

func (c *tlsCollector) GoroutineHandshake(h Handshake) { c.handshakes = append(c.handshakes, h) }

// TestReadHandshakes reads real traces of syncnode -tls -reconnect-every 2 (testdata/synctraces.go): the
// syncer redials inside each importBlock task's connect region, and the peers (goroutines of the
// same process, working for no task) serve the other end. Every connect region the trace shows
// whole holds exactly one client handshake of its goroutine, after the dial's connect; each
// whole server handshake overlaps a client handshake, and there are as many of each (but for
// the trace's edges); the frames name the version, and TLS 1.2's resumption.
func TestReadHandshakes(t *testing.T) {
	for _, c := range []struct {
		name, version string
		resumed       TLSResumption
	}{
		{"synctls13.trace", "1.3", ResumptionUnknown},
		{"synctls12.trace", "1.2", ResumptionResumed},  // the client's session cache resumes every redial
		{"synctls12full.trace", "1.2", ResumptionFull}, // -tls-no-resume: the peers issue no tickets
	} {
		t.Run(c.name, func(t *testing.T) {
			col := &tlsCollector{outsideCollector: &outsideCollector{collector: newCollector(t)}}
			if _, err := Read(bytes.NewReader(readFixture(t, c.name)), Options{MinSpanDuration: time.Millisecond, MaxGoroutineSpans: 1 << 20}, col); err != nil {
				t.Fatal(err)
			}
			var clients []Handshake
			regions := 0
			for _, task := range col.tasks {
				for _, h := range task.Handshakes {
					if h.Side != TLSClient {
						t.Errorf("task %d: a %v handshake, want only the syncer's client ones", task.ID, h.Side)
					}
					clients = append(clients, h)
				}
				for _, r := range task.Regions {
					if r.Type != "connect" || r.Continued || !r.Ended {
						continue
					}
					regions++
					n := 0
					for _, h := range task.Handshakes {
						if h.Goroutine == r.Goroutine && r.Start <= h.Start && h.End <= r.End {
							n++
							checkClientHandshake(t, h, c.version, c.resumed)
						}
					}
					if n != 1 {
						t.Errorf("task %d: connect region [%d, %d] holds %d client handshakes, want 1", task.ID, r.Start, r.End, n)
					}
				}
			}
			if regions < 10 {
				t.Fatalf("%d whole connect regions, want at least 10 redials in the trace", regions)
			}
			servers := 0
			for _, h := range col.handshakes {
				if h.Side != TLSServer || h.Version != c.version || h.Resumed != c.resumed || h.End <= h.Start {
					t.Errorf("handshake outside tasks %+v: want a server's, TLS %s, resumed %v", h, c.version, c.resumed)
				}
				if h.Partial {
					continue
				}
				servers++
				matched := false
				for _, ch := range clients {
					matched = matched || h.Start < ch.End && ch.Start < h.End
				}
				if !matched {
					t.Errorf("server handshake [%d, %d] overlaps no client handshake", h.Start, h.End)
				}
			}
			if servers < len(clients)-2 || servers > len(clients)+2 {
				t.Errorf("%d whole server handshakes against %d client ones", servers, len(clients))
			}
			t.Logf("%d connect regions, %d client and %d server handshakes", regions, len(clients), servers)
		})
	}
}

// checkClientHandshake checks a whole client handshake: its version and resumption, and the
// dial's connect syscall before it, on a thread of the process.
func checkClientHandshake(t *testing.T, h Handshake, version string, resumed TLSResumption) {
	t.Helper()
	if h.Partial || h.Version != version || h.Resumed != resumed || h.End <= h.Start {
		t.Errorf("client handshake %+v: want whole, TLS %s, resumed %v", h, version, resumed)
	}
	if c := h.Connect; c.Start == 0 || c.End < c.Start || h.Start < c.End || c.Thread == 0 {
		t.Errorf("client handshake [%d, %d]: dial's connect %+v, want one ended before it", h.Start, h.End, c)
	}
}

// TestReadNoHandshakes checks that a trace of plain TCP (syncnode without -tls) has none.
func TestReadNoHandshakes(t *testing.T) {
	col := &tlsCollector{outsideCollector: &outsideCollector{collector: newCollector(t)}}
	if _, err := Read(bytes.NewReader(readFixture(t, "syncnode.trace")), Options{MaxGoroutineSpans: 1 << 20}, col); err != nil {
		t.Fatal(err)
	}
	n := len(col.handshakes)
	for _, task := range col.tasks {
		n += len(task.Handshakes)
	}
	if n != 0 {
		t.Errorf("%d handshakes in a trace without TLS", n)
	}
}
