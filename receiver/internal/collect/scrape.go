package collect

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"
)

// scraper fetches profiles and traces from one net/http/pprof endpoint.
type scraper struct {
	client   *http.Client
	base     string
	timeout  time.Duration // allowance on top of a request's own duration
	limits   Limits
	spoolDir string
}

// Limits bound the raw inputs read from outside.
type Limits struct {
	MaxProfileBytes int64
	MaxTraceBytes   int64
}

// profileURL is the net/http/pprof URL of a profile kind.
func (s *scraper) profileURL(kind string, d time.Duration) string {
	if kind == "cpu" {
		return fmt.Sprintf("%s/debug/pprof/profile?seconds=%d", s.base, int(d.Round(time.Second)/time.Second))
	}
	return s.base + "/debug/pprof/" + kind
}

// profile fetches one profile; d is the CPU profile's duration (unused for other kinds).
func (s *scraper) profile(ctx context.Context, kind string, d time.Duration) (Profile, error) {
	u := s.profileURL(kind, d)
	if kind != "cpu" {
		d = 0
	}
	body, err := s.get(ctx, u, d)
	if err != nil {
		return Profile{}, err
	}
	defer body.Close()
	data, err := io.ReadAll(io.LimitReader(body, s.limits.MaxProfileBytes+1))
	if err != nil {
		return Profile{}, fmt.Errorf("read %s: %w", u, err)
	}
	if int64(len(data)) > s.limits.MaxProfileBytes {
		return Profile{}, fmt.Errorf("read %s: profile larger than limits.max_profile_bytes (%d)", u, s.limits.MaxProfileBytes)
	}
	return Profile{Kind: kind, From: u, Data: data}, nil
}

// trace streams an execution trace of duration d into a spool file.
func (s *scraper) trace(ctx context.Context, d time.Duration) (Trace, error) {
	u := fmt.Sprintf("%s/debug/pprof/trace?seconds=%s", s.base, strconv.FormatFloat(d.Seconds(), 'f', -1, 64))
	body, err := s.get(ctx, u, d)
	if err != nil {
		return Trace{}, err
	}
	defer body.Close()
	f, err := os.CreateTemp(s.spoolDir, "trace-*.bin")
	if err != nil {
		return Trace{}, fmt.Errorf("spool %s: %w", u, err)
	}
	n, err := io.Copy(f, io.LimitReader(body, s.limits.MaxTraceBytes+1))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	switch {
	case err != nil:
		err = fmt.Errorf("read %s: %w", u, err)
	case n > s.limits.MaxTraceBytes:
		err = fmt.Errorf("read %s: trace larger than limits.max_trace_bytes (%d)", u, s.limits.MaxTraceBytes)
	case n == 0:
		err = fmt.Errorf("read %s: empty trace", u)
	}
	if err != nil {
		os.Remove(f.Name())
		return Trace{}, err
	}
	return NewSpooledTrace(u, f.Name(), n), nil
}

// get issues a GET that may run for d plus the scraper's timeout and checks it returned pprof data.
func (s *scraper) get(ctx context.Context, u string, d time.Duration) (io.ReadCloser, error) {
	ctx, cancel := context.WithTimeout(ctx, d+s.timeout)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		cancel()
		return nil, fmt.Errorf("GET %s: %w", u, err)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		cancel()
		if errors.Is(err, context.DeadlineExceeded) {
			return nil, fmt.Errorf("GET %s: no complete answer within %v: %w", u, d+s.timeout, err)
		}
		return nil, fmt.Errorf("GET %s: %w", u, err)
	}
	if err := checkResponse(resp); err != nil {
		resp.Body.Close()
		cancel()
		return nil, fmt.Errorf("GET %s: %w", u, err)
	}
	return &cancelOnClose{ReadCloser: resp.Body, cancel: cancel}, nil
}

// checkResponse rejects error statuses and HTML pages (an endpoint that is not net/http/pprof).
func checkResponse(resp *http.Response) error {
	if resp.StatusCode != http.StatusOK {
		snippet, _ := io.ReadAll(io.LimitReader(resp.Body, 200))
		return fmt.Errorf("status %s: %s", resp.Status, strings.TrimSpace(string(snippet)))
	}
	if mt, _, err := mime.ParseMediaType(resp.Header.Get("Content-Type")); err == nil && strings.HasPrefix(mt, "text/") {
		return fmt.Errorf("answered %s, not profile data: is the endpoint the net/http/pprof base URL?", mt)
	}
	return nil
}

// cancelOnClose releases a request's context when its body is closed.
type cancelOnClose struct {
	io.ReadCloser
	cancel context.CancelFunc
}

func (c *cancelOnClose) Close() error {
	err := c.ReadCloser.Close()
	c.cancel()
	return err
}
