package ebpfsrc

import (
	"fmt"
	"os"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// monoNow reads CLOCK_MONOTONIC, the clock of bpf_ktime_get_ns and Go execution traces.
func monoNow() uint64 {
	var ts unix.Timespec
	// CLOCK_MONOTONIC cannot fail with a valid timespec pointer.
	_ = unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	return uint64(ts.Nano())
}

// monoOffset is wall-clock Unix ns minus CLOCK_MONOTONIC ns, now.
func monoOffset() int64 {
	mono := monoNow()
	return time.Now().UnixNano() - int64(mono)
}

// bootID names the running boot: socket cookies are unique only within one.
func bootID() (string, error) {
	b, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	if err != nil {
		return "", fmt.Errorf("read boot id: %w", err)
	}
	return strings.TrimSpace(string(b)), nil
}
