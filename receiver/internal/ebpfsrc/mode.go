package ebpfsrc

import "fmt"

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

// Validate rejects unknown modes; the empty mode means auto.
func (m Mode) Validate() error {
	switch m {
	case "", ModeAuto, ModeOn, ModeOff:
		return nil
	}
	return fmt.Errorf("ebpf.mode %q: want auto, on or off", string(m))
}
