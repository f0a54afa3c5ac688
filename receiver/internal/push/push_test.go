package push

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.uber.org/zap"

	"github.com/gostitch/gostitch/receiver/internal/collect"
	"github.com/gostitch/gostitch/receiver/internal/selftel"
	"github.com/gostitch/gostitch/receiver/internal/target"
)

// recordingSink keeps the windows it gets, reading traces while they exist.
type recordingSink struct {
	windows []*collect.Window
	traces  [][]byte
	paths   []string
	err     error
}

func (s *recordingSink) ConsumeWindow(_ context.Context, w *collect.Window) error {
	s.windows = append(s.windows, w)
	for _, tr := range w.Traces {
		rc, err := tr.Open()
		if err != nil {
			return err
		}
		b, _ := io.ReadAll(rc)
		rc.Close()
		s.traces = append(s.traces, b)
		if f, ok := rc.(*os.File); ok {
			s.paths = append(s.paths, f.Name())
		}
	}
	return s.err
}

func newHandler(t *testing.T, sink collect.Sink) *Handler {
	tel, err := selftel.New(componenttest.NewNopTelemetrySettings())
	require.NoError(t, err)
	return &Handler{
		Targets:  map[string]target.Identity{"app": {Name: "app", PID: 7, Host: "h"}},
		Sink:     sink,
		Limits:   collect.Limits{MaxProfileBytes: 16, MaxTraceBytes: 32},
		SpoolDir: t.TempDir(),
		Logger:   zap.NewNop(),
		Tel:      tel,
	}
}

func post(h http.Handler, method, url, body string, header http.Header) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, url, strings.NewReader(body))
	for k, v := range header {
		req.Header[k] = v
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func TestPprofUploadBecomesAWindow(t *testing.T) {
	sink := &recordingSink{}
	h := newHandler(t, sink)
	rec := post(h, http.MethodPost, PprofPath+"?target=app", "pprof-bytes", nil)
	require.Equal(t, http.StatusAccepted, rec.Code, rec.Body.String())
	require.Len(t, sink.windows, 1)
	w := sink.windows[0]
	assert.Equal(t, target.Identity{Name: "app", PID: 7, Host: "h"}, w.Target)
	assert.Equal(t, collect.OriginPush, w.Origin)
	assert.Equal(t, []byte("pprof-bytes"), w.Profiles[0].Data)
}

// TestUploadTakesTheTargetsCurrentPID: an upload that names no pid carries the pid the receiver
// knows now (resolved from the target's endpoint); one that names a pid keeps it.
func TestUploadTakesTheTargetsCurrentPID(t *testing.T) {
	sink := &recordingSink{}
	h := newHandler(t, sink)
	h.PID = func(name string) int { return map[string]int{"app": 4242}[name] }
	rec := post(h, http.MethodPost, PprofPath+"?target=app", "pprof-bytes", nil)
	require.Equal(t, http.StatusAccepted, rec.Code, rec.Body.String())
	rec = post(h, http.MethodPost, PprofPath+"?target=app&pid=99", "pprof-bytes", nil)
	require.Equal(t, http.StatusAccepted, rec.Code, rec.Body.String())
	require.Len(t, sink.windows, 2)
	assert.Equal(t, 4242, sink.windows[0].Target.PID)
	assert.Equal(t, 99, sink.windows[1].Target.PID)
}

func TestTraceUploadIsSpooledAndRemoved(t *testing.T) {
	sink := &recordingSink{}
	h := newHandler(t, sink)
	rec := post(h, http.MethodPost, TracePath, "go 1.26 trace...", http.Header{TargetHeader: {"app"}, PIDHeader: {"99"}})
	require.Equal(t, http.StatusAccepted, rec.Code, rec.Body.String())
	require.Len(t, sink.traces, 1)
	assert.Equal(t, "go 1.26 trace...", string(sink.traces[0]))
	assert.Equal(t, 99, sink.windows[0].Target.PID)
	assert.NoFileExists(t, sink.paths[0])
}

func TestUploadErrorsAreClear(t *testing.T) {
	for _, tc := range []struct {
		name, method, url, body string
		header                  http.Header
		sinkErr                 error
		code                    int
		msg                     string
	}{
		{"no target", http.MethodPost, PprofPath, "x", nil, nil, 400, "name the target in the X-Gostitch-Target header"},
		{"unknown target", http.MethodPost, PprofPath + "?target=nope", "x", nil, nil, 400, `unknown target "nope"`},
		{"bad pid", http.MethodPost, PprofPath + "?target=app&pid=x", "x", nil, nil, 400, `bad pid "x"`},
		{"empty", http.MethodPost, PprofPath + "?target=app", "", nil, nil, 400, "empty body"},
		{"profile too large", http.MethodPost, PprofPath + "?target=app", strings.Repeat("x", 17), nil, nil, 413, "larger than the limit of 16 bytes"},
		{"trace too large", http.MethodPost, TracePath + "?target=app", strings.Repeat("x", 33), nil, nil, 413, "larger than the limit of 32 bytes"},
		{"undecodable", http.MethodPost, PprofPath + "?target=app", "x", nil, fmt.Errorf("decode: %w", collect.ErrBadInput), 400, "decode: bad input"},
		{"downstream", http.MethodPost, PprofPath + "?target=app", "x", nil, fmt.Errorf("next consumer refused"), 503, "next consumer refused"},
		{"wrong method", http.MethodGet, PprofPath + "?target=app", "", nil, nil, 405, "use POST"},
		{"wrong path", http.MethodPost, "/v1/other", "", nil, nil, 404, "use /v1/pprof or /v1/trace"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHandler(t, &recordingSink{err: tc.sinkErr})
			rec := post(h, tc.method, tc.url, tc.body, tc.header)
			assert.Equal(t, tc.code, rec.Code)
			assert.Contains(t, rec.Body.String(), tc.msg)
		})
	}
}

// leavingSink reports each window on started and converts until its context ends.
type leavingSink struct{ started, stopped chan error }

func (s leavingSink) ConsumeWindow(ctx context.Context, _ *collect.Window) error {
	s.started <- nil
	<-ctx.Done()
	s.stopped <- ctx.Err()
	return ctx.Err()
}

// TestConversionStopsWhenTheClientLeaves: an upload's conversion runs under the request's
// context, which ends when the client hangs up.
func TestConversionStopsWhenTheClientLeaves(t *testing.T) {
	sink := leavingSink{started: make(chan error, 1), stopped: make(chan error, 1)}
	srv := httptest.NewServer(newHandler(t, sink))
	defer srv.Close()
	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL+TracePath+"?target=app", strings.NewReader("trace"))
	require.NoError(t, err)
	go func() {
		<-sink.started
		cancel()
	}()
	_, err = srv.Client().Do(req)
	require.ErrorIs(t, err, context.Canceled)
	select {
	case err := <-sink.stopped:
		require.ErrorIs(t, err, context.Canceled)
	case <-time.After(5 * time.Second):
		t.Fatal("the conversion went on after the client left")
	}
}
