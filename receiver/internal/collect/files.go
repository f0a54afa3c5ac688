package collect

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"time"

	"go.uber.org/zap"
)

// fileState is what tells a file changed: its size and modification time.
type fileState struct {
	size    int64
	modTime time.Time
}

// file is a file to read, with its state when it was found.
type file struct {
	path string
	fileState
}

// fileTracker finds the files matching a target's globs that are new or changed since they were
// read, and holds back those that may still be being written.
type fileTracker struct {
	patterns []string
	logger   *zap.Logger
	read     map[string]fileState // as last read
	looked   map[string]fileState // as at the last look
	lastLook time.Time
}

// newFileTracker starts tracking now: a file last modified before is taken as whole at the first look.
func newFileTracker(patterns []string, logger *zap.Logger) *fileTracker {
	return &fileTracker{patterns: patterns, logger: logger, read: map[string]fileState{}, lastLook: time.Now()}
}

// changed returns the matching files that are new or changed since they were read and whole, in
// name order, and records them as read. A file is taken as whole when it is not empty and did not
// change since the previous look: same size and mtime as then, or modified before it. One that is
// being written, or was truncated to be rewritten, is looked at again at the next call, so no
// window gets it empty or cut. Files that vanished are forgotten, so a file put back is read again.
func (ft *fileTracker) changed() ([]file, error) {
	now := time.Now() // before any stat: a file modified during this look counts as modified after it
	var paths []string
	for _, p := range ft.patterns {
		m, err := filepath.Glob(p)
		if err != nil {
			return nil, fmt.Errorf("glob %q: %w", p, err)
		}
		paths = append(paths, m...)
	}
	slices.Sort(paths)
	paths = slices.Compact(paths)

	looked := make(map[string]fileState, len(paths))
	var out []file
	for _, p := range paths {
		fi, err := os.Stat(p)
		if err != nil || !fi.Mode().IsRegular() {
			continue
		}
		st := fileState{size: fi.Size(), modTime: fi.ModTime()}
		looked[p] = st
		if old, ok := ft.read[p]; ok && old == st {
			continue
		}
		if prev := ft.looked[p]; st.size == 0 || (prev != st && !st.modTime.Before(ft.lastLook)) {
			if prev != st {
				ft.logger.Debug("File is empty or being written; looked at again next window",
					zap.String("path", p), zap.Int64("size", st.size))
			}
			continue
		}
		ft.read[p] = st
		out = append(out, file{path: p, fileState: st})
	}
	for p := range ft.read {
		if _, ok := looked[p]; !ok {
			delete(ft.read, p)
		}
	}
	ft.looked, ft.lastLook = looked, now
	return out, nil
}

// unread forgets that path was read, so the next look takes it again.
func (ft *fileTracker) unread(path string) { delete(ft.read, path) }

// readWhole reads f, which must not exceed limit bytes. ok is false when the file no longer has
// the size it was found with: it is changing, and is read again once it is whole.
func readWhole(f file, limit int64, what string) (data []byte, ok bool, err error) {
	r, err := os.Open(f.path)
	if err != nil {
		return nil, false, err
	}
	defer r.Close()
	data, err = io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, false, fmt.Errorf("read %s: %w", f.path, err)
	}
	if int64(len(data)) > limit {
		return nil, false, fmt.Errorf("read %s: larger than %s (%d)", f.path, what, limit)
	}
	return data, int64(len(data)) == f.size, nil
}
