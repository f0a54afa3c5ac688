// Package roottest skips tests that need root (eBPF programs, network namespaces, switching
// users) when they do not run as root. CI runs them as root, so there they always run.
package roottest

import (
	"os"
	"testing"
)

// Need skips tb unless it runs as root; what names the operation that needs root, such as
// "loading eBPF programs".
func Need(tb testing.TB, what string) {
	tb.Helper()
	if os.Geteuid() != 0 {
		tb.Skipf("skipped: %s needs root (CI runs this test as root)", what)
	}
}
