package push

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"slices"
	"testing"

	"go.opentelemetry.io/collector/consumer/consumererror"

	"github.com/gostitch/gostitch/receiver/internal/collect"
)

// outcomeSink reads every input of a window, as a converter would, and answers with the
// outcome the fuzzer chose: delivered, bad input, or a permanent or retryable downstream error.
type outcomeSink struct {
	outcome byte
	windows int
	read    []byte
}

func (s *outcomeSink) ConsumeWindow(_ context.Context, w *collect.Window) error {
	s.windows++
	for _, p := range w.Profiles {
		s.read = append(s.read, p.Data...)
	}
	for _, tr := range w.Traces {
		rc, err := tr.Open()
		if err != nil {
			return fmt.Errorf("open spooled trace: %w", err)
		}
		b, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			return fmt.Errorf("read spooled trace: %w", err)
		}
		s.read = append(s.read, b...)
	}
	switch s.outcome % 4 {
	case 1:
		return fmt.Errorf("decode: %w", collect.ErrBadInput)
	case 2:
		return consumererror.NewPermanent(errors.New("exporter rejects the data"))
	case 3:
		return errors.New("exporter queue is full")
	}
	return nil
}

// FuzzPushHandler drives the upload handler with arbitrary requests (seeds in
// testdata/fuzz/FuzzPushHandler). It must never panic, answer only the documented statuses,
// deliver exactly the body it accepted, and leave no spool file behind.
func FuzzPushHandler(f *testing.F) {
	documented := []int{http.StatusAccepted, http.StatusBadRequest, http.StatusNotFound,
		http.StatusMethodNotAllowed, http.StatusRequestEntityTooLarge, http.StatusServiceUnavailable}
	f.Fuzz(func(t *testing.T, method, path, query, targetName, pid string, body []byte, outcome byte) {
		sink := &outcomeSink{outcome: outcome}
		h := newHandler(t, sink)
		// Built by hand: httptest.NewRequest panics on what a fuzzer writes, a server never does.
		req := &http.Request{
			Method: method,
			URL:    &url.URL{Path: path, RawQuery: query},
			Header: http.Header{TargetHeader: {targetName}, PIDHeader: {pid}},
			Body:   io.NopCloser(bytes.NewReader(body)),
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)

		if !slices.Contains(documented, rec.Code) {
			t.Fatalf("status %d is not documented (body %q)", rec.Code, rec.Body)
		}
		if rec.Code != http.StatusAccepted && rec.Body.Len() == 0 {
			t.Errorf("status %d without a reason", rec.Code)
		}
		if sink.windows > 1 {
			t.Errorf("one upload became %d windows", sink.windows)
		}
		if sink.windows == 1 && !bytes.Equal(sink.read, body) {
			t.Errorf("the window holds %d bytes, the upload had %d", len(sink.read), len(body))
		}
		// Delivered, bad input, permanent and retryable downstream errors.
		if want := [...]int{http.StatusAccepted, http.StatusBadRequest, http.StatusBadRequest, http.StatusServiceUnavailable}[outcome%4]; sink.windows == 1 && rec.Code != want {
			t.Errorf("status %d for sink outcome %d, want %d", rec.Code, outcome%4, want)
		}
		if rec.Code == http.StatusAccepted && sink.windows != 1 {
			t.Error("202 for an upload that reached no sink")
		}
		if left, err := os.ReadDir(h.SpoolDir); err != nil || len(left) > 0 {
			t.Errorf("spool directory after the request: %v, %v", left, err)
		}
	})
}
