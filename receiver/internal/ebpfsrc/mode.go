package ebpfsrc

import (
	"fmt"
	"time"
)

// Mode says whether the eBPF socket source runs (config `ebpf.mode`).
type Mode string

// Modes.
const (
	// ModeAuto runs the source when the machine allows it, else logs one warning and goes on.
	ModeAuto Mode = "auto"
	// ModeOn runs the source and fails the start when it cannot.
	ModeOn Mode = "on"
	// ModeOff never loads anything.
	ModeOff Mode = "off"
)

// Validate rejects modes other than auto, on and off.
func (m Mode) Validate() error {
	switch m {
	case ModeAuto, ModeOn, ModeOff:
		return nil
	}
	return fmt.Errorf("ebpf.mode must be one of auto, on, off; got %q", string(m))
}

// Defaults of Options, which the receiver's config starts from.
const (
	DefaultReadWaitThreshold = time.Millisecond
	// DefaultReadIdleThreshold is trace.min_span_duration's default.
	DefaultReadIdleThreshold = time.Millisecond
	DefaultRingBufferSize    = 256 << 10
	DefaultMaxPending        = 1 << 16
	DefaultMaxSockets        = 1 << 14
)

// PIDLimit is the kernel's PID_MAX_LIMIT on 64-bit, the bound of every pid and the size of the
// target_pids bitmap (bpf/socket.h PID_WORDS).
const PIDLimit = 1 << 22
