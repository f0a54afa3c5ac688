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

// get issues a GET that may run for d plus the scraper's timeout and checks it returned pprof
// data. Reading the body is bound by the same deadline.
func (s *scraper) get(ctx context.Context, u string, d time.Duration) (io.ReadCloser, error) {
	allowed := d + s.timeout
	ctx, cancel := context.WithTimeout(ctx, allowed)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		cancel()
		return nil, fmt.Errorf("GET %s: %w", u, err)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		cancel()
		return nil, fmt.Errorf("GET %s: %w", u, nameTimeout(ctx, allowed, err))
	}
	if err := checkResponse(resp); err != nil {
		resp.Body.Close()
		cancel()
		return nil, fmt.Errorf("GET %s: %w", u, nameTimeout(ctx, allowed, err))
	}
	return &deadlineBody{ReadCloser: resp.Body, ctx: ctx, cancel: cancel, allowed: allowed}, nil
}

// nameTimeout says how long the target was given when err comes from the request's deadline.
func nameTimeout(ctx context.Context, allowed time.Duration, err error) error {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return fmt.Errorf("no complete answer within %v: %w", allowed, err)
	}
	return err
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

// deadlineBody is a response body read under its request's deadline: its errors name the time
// allowed when the deadline cut the read, and Close releases the request's context.
type deadlineBody struct {
	io.ReadCloser
	ctx     context.Context
	cancel  context.CancelFunc
	allowed time.Duration
}

func (b *deadlineBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err != nil && err != io.EOF {
		err = nameTimeout(b.ctx, b.allowed, err)
	}
	return n, err
}

func (b *deadlineBody) Close() error {
	err := b.ReadCloser.Close()
	b.cancel()
	return err
}
