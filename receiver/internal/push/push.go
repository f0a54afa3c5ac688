// Package push is the HTTP endpoint apps upload to: pprof profiles (POST /v1/pprof) and
// execution traces such as runtime/trace.FlightRecorder snapshots (POST /v1/trace). Each
// upload becomes a window of its target and is converted before the reply, so a client
// learns whether its bytes were usable; the conversion stops when the client leaves.
//
// Its place among the layers: docs/design.md, "Layers".
package push

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"time"

	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.uber.org/zap"

	"github.com/gostitch/gostitch/receiver/internal/collect"
	"github.com/gostitch/gostitch/receiver/internal/metadata"
	"github.com/gostitch/gostitch/receiver/internal/selftel"
	"github.com/gostitch/gostitch/receiver/internal/target"
)

// Paths served.
const (
	PprofPath = "/v1/pprof"
	TracePath = "/v1/trace"
)

// Request fields naming the target: a header, or a query parameter of the same meaning.
const (
	TargetHeader = "X-Gostitch-Target"
	TargetQuery  = "target"
	PIDHeader    = "X-Gostitch-Pid"
	PIDQuery     = "pid"
)

// Handler serves uploads. It answers 202 when the upload was converted and delivered, 400 when
// the request or its bytes are unusable or the next consumer rejected the data permanently,
// 404 for other paths, 405 for methods other than POST, 413 over the limits and 503 when the
// next consumer failed in a way a retry may fix.
type Handler struct {
	// Targets maps the configured target names to their identity (pid 0 when unknown).
	Targets map[string]target.Identity
	// PID, when set, gives a target's current pid (resolved from its endpoint, or configured)
	// for uploads that name none; 0 when unknown.
	PID      func(target string) int
	Sink     collect.Sink
	Limits   collect.Limits
	SpoolDir string
	Logger   *zap.Logger
	Tel      *selftel.Telemetry
}

// ServeHTTP routes an upload by path.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		http.Error(w, "use POST", http.StatusMethodNotAllowed)
		return
	}
	switch r.URL.Path {
	case PprofPath:
		h.serve(w, r, "push_pprof", metadata.AttributeSourcePprof, h.Limits.MaxProfileBytes, h.pprofWindow)
	case TracePath:
		h.serve(w, r, "push_trace", metadata.AttributeSourceGoTrace, h.Limits.MaxTraceBytes, h.traceWindow)
	default:
		http.Error(w, fmt.Sprintf("unknown path %s: use %s or %s", r.URL.Path, PprofPath, TracePath), http.StatusNotFound)
	}
}

// windowFunc reads an upload's body into a window and returns the bytes read.
type windowFunc func(body io.Reader, w *collect.Window) (n int64, err error)

// serve reads an upload of kind into a window and converts it. An upload that cannot be read
// (over the limit, empty, cut off) is logged and counted as a drop of source.
func (h *Handler) serve(rw http.ResponseWriter, r *http.Request, kind, source string, limit int64, read windowFunc) {
	id, err := h.identify(r)
	if err != nil {
		http.Error(rw, err.Error(), http.StatusBadRequest)
		return
	}
	win := &collect.Window{Target: id, Origin: collect.OriginPush, Start: time.Now()}
	body := http.MaxBytesReader(rw, r.Body, limit)
	n, err := read(body, win)
	defer win.Release(h.Logger)
	if err != nil {
		h.Tel.Collection(r.Context(), id.Name, kind, err)
		h.Tel.Dropped(r.Context(), source, "bad_input", 1)
		status, reason := http.StatusBadRequest, "read upload: "+err.Error()
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			status, reason = http.StatusRequestEntityTooLarge, fmt.Sprintf("upload larger than the limit of %d bytes", limit)
		}
		h.Logger.Warn("Push upload failed", zap.String("target", id.Name), zap.String("kind", kind), zap.String("error", reason))
		http.Error(rw, reason, status)
		return
	}
	win.End = time.Now()
	h.Tel.BytesRead(r.Context(), id.Name, kind, n)
	err = h.Sink.ConsumeWindow(r.Context(), win)
	h.Tel.Collection(r.Context(), id.Name, kind, err)
	switch {
	case err != nil && r.Context().Err() != nil:
		// The conversion stopped with the request: its client left or the receiver shuts down.
		h.Logger.Info("Push upload not converted: the client left or the receiver is shutting down",
			zap.String("target", id.Name), zap.String("kind", kind), zap.Error(err))
		http.Error(rw, err.Error(), http.StatusServiceUnavailable)
	case errors.Is(err, collect.ErrBadInput):
		http.Error(rw, err.Error(), http.StatusBadRequest)
	case consumererror.IsPermanent(err):
		// As the collector's OTLP receiver does: the next consumer will never take this data,
		// so the client must not send it again.
		h.Logger.Warn("Push upload rejected by the next consumer", zap.String("target", id.Name), zap.String("kind", kind), zap.Error(err))
		http.Error(rw, "rejected, do not retry: "+err.Error(), http.StatusBadRequest)
	case err != nil:
		h.Logger.Warn("Push upload not delivered", zap.String("target", id.Name), zap.String("kind", kind), zap.Error(err))
		http.Error(rw, err.Error(), http.StatusServiceUnavailable)
	default:
		rw.WriteHeader(http.StatusAccepted)
	}
}

// identify finds the configured target an upload names, with an optional pid override.
func (h *Handler) identify(r *http.Request) (target.Identity, error) {
	name := r.Header.Get(TargetHeader)
	if name == "" {
		name = r.URL.Query().Get(TargetQuery)
	}
	if name == "" {
		return target.Identity{}, fmt.Errorf("name the target in the %s header or the %q query parameter", TargetHeader, TargetQuery)
	}
	id, ok := h.Targets[name]
	if !ok {
		return target.Identity{}, fmt.Errorf("unknown target %q: add it to the receiver's targets", name)
	}
	if h.PID != nil {
		if current := h.PID(name); current > 0 {
			id.PID = current
		}
	}
	pid := r.Header.Get(PIDHeader)
	if pid == "" {
		pid = r.URL.Query().Get(PIDQuery)
	}
	if pid != "" {
		n, err := strconv.Atoi(pid)
		if err != nil || n <= 0 {
			return target.Identity{}, fmt.Errorf("bad pid %q", pid)
		}
		id.PID = n
	}
	return id, nil
}

func (h *Handler) pprofWindow(body io.Reader, w *collect.Window) (int64, error) {
	data, err := io.ReadAll(body)
	if err != nil {
		return 0, err
	}
	if len(data) == 0 {
		return 0, errors.New("empty body")
	}
	w.Profiles = append(w.Profiles, collect.Profile{From: "push " + w.Target.Name, Data: data})
	return int64(len(data)), nil
}

// traceWindow spools the trace to disk: traces can be large and are parsed as a stream.
func (h *Handler) traceWindow(body io.Reader, w *collect.Window) (int64, error) {
	f, err := os.CreateTemp(h.SpoolDir, "push-trace-*.bin")
	if err != nil {
		return 0, fmt.Errorf("spool: %w", err)
	}
	n, err := io.Copy(f, body)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil && n == 0 {
		err = errors.New("empty body")
	}
	if err != nil {
		os.Remove(f.Name())
		return 0, err
	}
	w.Traces = append(w.Traces, collect.NewSpooledTrace("push "+w.Target.Name, f.Name(), n))
	return n, nil
}
