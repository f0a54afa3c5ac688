// Package collect is the collection controller: per target and per collection interval it
// gathers the raw inputs of one window (pprof profiles, the execution trace, files) and hands
// them to a Sink. It knows nothing of their formats.
//
// Its place among the layers: docs/design.md, "Layers" and "Data flow".
package collect

import (
	"context"
	"errors"
	"io"
	"os"
	"time"

	"go.uber.org/zap"

	"github.com/gostitch/gostitch/receiver/internal/target"
)

// Origin says how a window's inputs arrived.
type Origin string

// Origins of windows.
const (
	OriginScrape Origin = "scrape"
	OriginFile   Origin = "file"
	OriginPush   Origin = "push"
)

// Window is one collection round for one target: the raw inputs gathered for [Start, End].
type Window struct {
	Target target.Identity
	Origin Origin
	// Start and End bound the window in wall time. A scrape's CPU profile and execution trace
	// run between them; its point-in-time profiles and files are read right after End.
	Start, End time.Time
	// Profiles holds the raw pprof bytes gathered, in the order fetched.
	Profiles []Profile
	// Traces holds the execution traces gathered (at most one for a scrape).
	Traces []Trace
	// releases are what Settings.OnTraceStart returned for the window, called by Release.
	releases []func()
}

// Size is the window's input bytes: its profiles' and its traces' sizes.
func (w *Window) Size() int64 {
	var n int64
	for _, p := range w.Profiles {
		n += int64(len(p.Data))
	}
	for _, tr := range w.Traces {
		n += tr.Size
	}
	return n
}

// Profile is one raw pprof profile (gzip-compressed or plain protobuf).
type Profile struct {
	// Kind is the profile name: cpu, heap, allocs, goroutine, block or mutex; empty for files.
	Kind string
	// From names where the bytes came from (URL or path), for errors.
	From string
	Data []byte
}

// Trace is one raw Go execution trace. Traces can be large, so they are opened as a stream
// (a spool file for scrapes and pushes, the file itself for trace_files).
type Trace struct {
	// From names where the bytes came from (URL or path), for errors.
	From    string
	Size    int64
	path    string
	spooled bool // a temporary copy, removed after the window is consumed
}

// Open returns the trace bytes as a stream.
func (t Trace) Open() (io.ReadCloser, error) { return os.Open(t.path) }

// NewFileTrace refers to a trace file the user gave; it is never removed.
func NewFileTrace(path string, size int64) Trace { return Trace{From: path, Size: size, path: path} }

// NewSpooledTrace refers to a temporary copy of a trace fetched from from; the controller or the
// push handler removes it after the window is consumed.
func NewSpooledTrace(from, path string, size int64) Trace {
	return Trace{From: from, Size: size, path: path, spooled: true}
}

// Release removes the window's spooled traces, files the user gave never, and calls the
// window's releases.
func (w *Window) Release(logger *zap.Logger) {
	for _, release := range w.releases {
		release()
	}
	for _, tr := range w.Traces {
		if !tr.spooled {
			continue
		}
		if err := os.Remove(tr.path); err != nil {
			logger.Warn("Cannot remove spooled trace", zap.String("path", tr.path), zap.Error(err))
		}
	}
}

// ErrBadInput marks a window's inputs as unusable, whatever their origin: ConsumeWindow wraps
// it when bytes scraped, read from a file or pushed cannot be converted.
var ErrBadInput = errors.New("bad input")

// Sink consumes windows. ConsumeWindow must not keep the window's traces open after it returns:
// spool files are removed then. Its error wraps ErrBadInput when the inputs are unusable.
type Sink interface {
	ConsumeWindow(ctx context.Context, w *Window) error
}
