package collect

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"time"
)

// fileState is what tells a file changed since it was read.
type fileState struct {
	size    int64
	modTime time.Time
}

// fileTracker finds the files matching a target's globs that are new or changed since the last look.
type fileTracker struct {
	patterns []string
	seen     map[string]fileState
}

func newFileTracker(patterns []string) *fileTracker {
	return &fileTracker{patterns: patterns, seen: map[string]fileState{}}
}

// changed returns the matching files that are new or changed, in name order, and records them as read.
// Files that vanished are forgotten, so a file put back is read again.
func (ft *fileTracker) changed() ([]string, error) {
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

	present := make(map[string]bool, len(paths))
	var out []string
	for _, p := range paths {
		fi, err := os.Stat(p)
		if err != nil || !fi.Mode().IsRegular() {
			continue
		}
		present[p] = true
		st := fileState{size: fi.Size(), modTime: fi.ModTime()}
		if old, ok := ft.seen[p]; ok && old == st {
			continue
		}
		ft.seen[p] = st
		out = append(out, p)
	}
	for p := range ft.seen {
		if !present[p] {
			delete(ft.seen, p)
		}
	}
	return out, nil
}

// readLimited reads a whole file that must not exceed limit bytes.
func readLimited(path string, limit int64, what string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("read %s: larger than %s (%d)", path, what, limit)
	}
	return data, nil
}
