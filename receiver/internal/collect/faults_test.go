package collect

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zaptest/observer"
)

// failures returns the "Collection failed" errors logged so far, by target and kind.
func failures(logs *observer.ObservedLogs) map[string]string {
	out := map[string]string{}
	for _, e := range logs.FilterMessage("Collection failed").All() {
		m := e.ContextMap()
		out[m["target"].(string)+"/"+m["kind"].(string)] = m["error"].(string)
	}
	return out
}

// TestStalledBodyTimeoutIsNamed: a target that sends its headers and then stalls mid-body fails
// with the same message as one that never answers: the URL and the time allowed.
func TestStalledBodyTimeoutIsNamed(t *testing.T) {
	stalled := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Write([]byte("go 1.26 trace\x00\x00\x00"))
		w.(http.Flusher).Flush()
		<-r.Context().Done()
	}))
	defer stalled.Close()
	sink := make(chanSink, 1)
	c, logs := newTestController(t, Settings{Interval: time.Minute, Profiles: []string{"heap"}, TraceDuration: time.Second},
		[]TargetSpec{{Name: "stalled", Endpoint: stalled.URL, Client: stalled.Client(), Timeout: 300 * time.Millisecond}}, sink)
	c.Start()
	require.Eventually(t, func() bool { return len(failures(logs)) == 2 }, 10*time.Second, 20*time.Millisecond)
	require.NoError(t, c.Shutdown(context.Background()))
	got := failures(logs)
	assert.Contains(t, got["stalled/trace"], stalled.URL+"/debug/pprof/trace?seconds=1: no complete answer within 1.3s")
	assert.Contains(t, got["stalled/heap"], stalled.URL+"/debug/pprof/heap: no complete answer within 300ms")
	assert.Empty(t, sink)
}

// TestConnectionClosedMidBodyIsNamed: a target whose connection drops in the middle of a
// profile or trace fails that step with the URL and the cause; nothing half-read is delivered.
func TestConnectionClosedMidBodyIsNamed(t *testing.T) {
	cut := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		conn, buf, err := w.(http.Hijacker).Hijack()
		if err != nil {
			return
		}
		defer conn.Close()
		buf.WriteString("HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: 100000\r\n\r\ngo 1.26 trace")
		buf.Flush()
	}))
	defer cut.Close()
	sink := make(chanSink, 1)
	c, logs := newTestController(t, Settings{Interval: time.Minute, Profiles: []string{"goroutine"}, TraceDuration: time.Second},
		[]TargetSpec{{Name: "cut", Endpoint: cut.URL, Client: cut.Client(), Timeout: 5 * time.Second}}, sink)
	c.Start()
	require.Eventually(t, func() bool { return len(failures(logs)) == 2 }, 10*time.Second, 20*time.Millisecond)
	require.NoError(t, c.Shutdown(context.Background()))
	got := failures(logs)
	assert.Contains(t, got["cut/trace"], "read "+cut.URL+"/debug/pprof/trace?seconds=1: unexpected EOF")
	assert.Contains(t, got["cut/goroutine"], "read "+cut.URL+"/debug/pprof/goroutine: unexpected EOF")
	assert.Empty(t, sink)
}

// TestProfileOverLimitIsRejected: a scraped profile larger than limits.max_profile_bytes is
// refused with the limit named; the other profiles of the window still go out.
func TestProfileOverLimitIsRejected(t *testing.T) {
	sizes := map[string]int{"/debug/pprof/goroutine": 401, "/debug/pprof/heap": 400}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Write(make([]byte, sizes[r.URL.Path]))
	}))
	defer srv.Close()
	sink := make(chanSink, 1)
	c, logs := newTestController(t, Settings{Interval: time.Minute, Profiles: []string{"goroutine", "heap"},
		Limits: Limits{MaxProfileBytes: 400, MaxTraceBytes: 1 << 20}},
		[]TargetSpec{{Name: "big", Endpoint: srv.URL, Client: srv.Client(), Timeout: 5 * time.Second}}, sink)
	c.Start()
	rec := receive(t, sink, 10*time.Second)
	require.NoError(t, c.Shutdown(context.Background()))
	assert.Equal(t, map[string]string{"big/goroutine": "read " + srv.URL + "/debug/pprof/goroutine: profile larger than limits.max_profile_bytes (400)"},
		failures(logs))
	require.Len(t, rec.w.Profiles, 1, "the heap profile at the limit is delivered")
	assert.Equal(t, "heap", rec.w.Profiles[0].Kind)
}
