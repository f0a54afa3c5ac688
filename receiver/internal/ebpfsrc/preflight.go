package ebpfsrc

import (
	"fmt"
	"os"
	"strings"

	"github.com/cilium/ebpf/rlimit"
	"golang.org/x/sys/unix"
)

const btfPath = "/sys/kernel/btf/vmlinux"

// Capabilities (include/uapi/linux/capability.h).
const (
	capSysAdmin = 21
	capPerfmon  = 38
	capBPF      = 39
)

// preflight returns one error naming the first thing the programs need that is missing.
func preflight() error {
	if err := checkCapabilities(); err != nil {
		return err
	}
	if _, err := os.Stat(btfPath); err != nil {
		return fmt.Errorf("no kernel BTF (%s; the kernel needs CONFIG_DEBUG_INFO_BTF): %w", btfPath, err)
	}
	if err := rlimit.RemoveMemlock(); err != nil {
		return fmt.Errorf("raise the memlock rlimit for eBPF maps (kernels before 5.11 charge maps to it: grant CAP_SYS_RESOURCE or raise RLIMIT_MEMLOCK): %w", err)
	}
	return nil
}

// checkCapabilities wants CAP_SYS_ADMIN (root) or both CAP_BPF and CAP_PERFMON.
func checkCapabilities() error {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return fmt.Errorf("read process capabilities: %w", err)
	}
	has := func(c uint) bool { return data[c/32].Effective&(1<<(c%32)) != 0 }
	if has(capSysAdmin) {
		return nil
	}
	var missing []string
	if !has(capBPF) {
		missing = append(missing, "CAP_BPF")
	}
	if !has(capPerfmon) {
		missing = append(missing, "CAP_PERFMON")
	}
	if len(missing) > 0 {
		return fmt.Errorf("missing %s: loading the eBPF programs needs CAP_BPF and CAP_PERFMON (or root)", strings.Join(missing, " and "))
	}
	return nil
}
