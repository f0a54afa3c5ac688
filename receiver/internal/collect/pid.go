package collect

import (
	"bufio"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// tcpListen is the socket state "LISTEN" in /proc/net/tcp.
const tcpListen = "0A"

// ListenerPID returns the pid of the process listening on the TCP port of endpoint (a URL such
// as http://127.0.0.1:6060), found through /proc/net/tcp{,6} and the processes' fd tables. When
// no socket of the receiver's own network namespace listens there, the other network namespaces
// that hold the endpoint's address are searched (a pod's own network, seen by a node agent
// sharing the host's pid namespace).
func ListenerPID(procRoot, endpoint string) (int, error) {
	host, port, err := endpointHostPort(endpoint)
	if err != nil {
		return 0, err
	}
	inodes := map[string]bool{}
	if err := listeningInodesIn(filepath.Join(procRoot, "net"), port, inodes); err != nil {
		return 0, err
	}
	if len(inodes) == 0 {
		if err := namespaceListeners(procRoot, host, port, inodes); err != nil {
			return 0, err
		}
	}
	if len(inodes) == 0 {
		return 0, fmt.Errorf("no process listens on TCP port %d (in this network namespace, or one holding %s)", port, addrName(host))
	}
	pid, err := socketOwner(procRoot, inodes)
	if err != nil {
		return 0, fmt.Errorf("find the process listening on TCP port %d: %w", port, err)
	}
	return pid, nil
}

// endpointHostPort returns the endpoint's address (invalid for a host name) and TCP port.
func endpointHostPort(endpoint string) (netip.Addr, int, error) {
	u, err := url.Parse(endpoint)
	if err != nil {
		return netip.Addr{}, 0, fmt.Errorf("parse endpoint %q: %w", endpoint, err)
	}
	host, _ := netip.ParseAddr(u.Hostname())
	portStr := u.Port()
	if portStr == "" {
		portStr = map[string]string{"http": "80", "https": "443"}[u.Scheme]
	}
	port, err := net.LookupPort("tcp", portStr)
	if err != nil {
		return netip.Addr{}, 0, fmt.Errorf("endpoint %q has no usable port: %w", endpoint, err)
	}
	return host.Unmap(), port, nil
}

// addrName names an address for a message, "its address" when it is not one.
func addrName(a netip.Addr) string {
	if !a.IsValid() {
		return "its address"
	}
	return a.String()
}

// listeningInodesIn adds the listening sockets on port of one network namespace, from its
// /proc/<pid>/net directory.
func listeningInodesIn(netDir string, port int, inodes map[string]bool) error {
	for _, table := range []string{"tcp", "tcp6"} {
		if err := listeningInodes(filepath.Join(netDir, table), port, inodes); err != nil && !os.IsNotExist(err) {
			return err
		}
	}
	return nil
}

// namespaceListeners adds the listening sockets on port of the network namespaces, other than
// the receiver's own, that have host as a local address; each is read through its first
// process. A loopback or unnamed host says nothing about which namespace is meant.
func namespaceListeners(procRoot string, host netip.Addr, port int, inodes map[string]bool) error {
	if !host.IsValid() || host.IsLoopback() || host.IsUnspecified() {
		return nil
	}
	own, _ := os.Readlink(filepath.Join(procRoot, "self", "ns", "net"))
	seen := map[string]bool{own: true}
	entries, err := os.ReadDir(procRoot)
	if err != nil {
		return err
	}
	var namespaces []string
	for _, e := range entries {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		ns, err := os.Readlink(filepath.Join(procRoot, e.Name(), "ns", "net"))
		if err != nil || seen[ns] {
			continue // exited, not ours to read, or a namespace already read
		}
		seen[ns] = true
		netDir := filepath.Join(procRoot, e.Name(), "net")
		if !localAddress(netDir, host) {
			continue
		}
		found := map[string]bool{}
		if err := listeningInodesIn(netDir, port, found); err != nil || len(found) == 0 {
			continue
		}
		namespaces = append(namespaces, ns)
		for inode := range found {
			inodes[inode] = true
		}
	}
	if len(namespaces) > 1 {
		clear(inodes)
		return fmt.Errorf("%s port %d listens in %d network namespaces (%s): set the target's pid", host, port, len(namespaces), strings.Join(namespaces, ", "))
	}
	return nil
}

// localAddress reports whether addr is a local address of the network namespace whose
// /proc/<pid>/net directory is netDir: a "host LOCAL" route of its fib_trie for IPv4, an entry
// of its if_inet6 for IPv6.
func localAddress(netDir string, addr netip.Addr) bool {
	if addr.Is6() {
		data, err := os.ReadFile(filepath.Join(netDir, "if_inet6"))
		if err != nil {
			return false
		}
		want := fmt.Sprintf("%x", addr.AsSlice())
		for line := range strings.Lines(string(data)) {
			if f := strings.Fields(line); len(f) > 0 && f[0] == want {
				return true
			}
		}
		return false
	}
	data, err := os.ReadFile(filepath.Join(netDir, "fib_trie"))
	if err != nil {
		return false
	}
	// Leaf lines ("|-- 10.0.0.2") are followed by their routes ("/32 host LOCAL").
	var leaf netip.Addr
	for line := range strings.Lines(string(data)) {
		f := strings.Fields(line)
		switch {
		case len(f) == 2 && f[0] == "|--":
			leaf, _ = netip.ParseAddr(f[1])
		case len(f) >= 3 && strings.HasPrefix(f[0], "/") && f[1] == "host" && f[2] == "LOCAL" && leaf.IsValid():
			bits, err := strconv.Atoi(f[0][1:])
			if err != nil {
				continue
			}
			if p, err := leaf.Prefix(bits); err == nil && p.Contains(addr) {
				return true
			}
		}
	}
	return false
}

// listeningInodes adds the inodes of sockets in LISTEN state on port from one /proc/net table.
func listeningInodes(path string, port int, inodes map[string]bool) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Scan() // header
	for sc.Scan() {
		// sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode
		fields := strings.Fields(sc.Text())
		if len(fields) < 10 || fields[3] != tcpListen {
			continue
		}
		_, hexPort, ok := strings.Cut(fields[1], ":")
		if !ok {
			continue
		}
		if p, err := strconv.ParseUint(hexPort, 16, 16); err == nil && int(p) == port {
			inodes[fields[9]] = true
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("read %s: %w", path, err)
	}
	return nil
}

// socketOwner scans /proc/*/fd for a link to one of the socket inodes.
func socketOwner(procRoot string, inodes map[string]bool) (int, error) {
	entries, err := os.ReadDir(procRoot)
	if err != nil {
		return 0, err
	}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		fdDir := filepath.Join(procRoot, e.Name(), "fd")
		fds, err := os.ReadDir(fdDir)
		if err != nil {
			continue // the process exited or is not ours to read
		}
		for _, fd := range fds {
			link, err := os.Readlink(filepath.Join(fdDir, fd.Name()))
			if err != nil || !strings.HasPrefix(link, "socket:[") {
				continue
			}
			if inodes[strings.TrimSuffix(strings.TrimPrefix(link, "socket:["), "]")] {
				return pid, nil
			}
		}
	}
	return 0, fmt.Errorf("no readable process owns the listening socket (not permitted to read other processes' fds?)")
}

// ProcessAlive reports whether pid names a running process.
func ProcessAlive(procRoot string, pid int) bool {
	_, err := os.Stat(filepath.Join(procRoot, strconv.Itoa(pid)))
	return err == nil
}
