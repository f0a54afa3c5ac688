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
	"sync"
	"time"
)

// tcpListen is the socket state "LISTEN" in /proc/net/tcp.
const tcpListen = "0A"

// PIDResolver finds the processes behind endpoints. Reading /proc/net/tcp walks the kernel's
// whole socket table (about 10 ms here) and finding a socket's process scans every process's
// fds, so it keeps a snapshot of both (listening sockets by port, socket inodes by pid) that
// the targets resolving at about the same time (at start, say) share. It is safe for
// concurrent use.
type PIDResolver struct {
	procRoot string
	mu       sync.Mutex
	snap     pidSnapshot
}

// pidSnapshot is what one read of /proc found.
type pidSnapshot struct {
	listeners map[int][]string // TCP port → inodes of the sockets listening on it, this namespace
	owners    map[string]int   // socket inode → pid, every readable process
	taken     time.Time        // when the read began
}

// snapshotTTL bounds how long a snapshot answers without a fresh read.
const snapshotTTL = 2 * time.Second

// NewPIDResolver returns a resolver reading the /proc mounted at procRoot.
func NewPIDResolver(procRoot string) *PIDResolver {
	return &PIDResolver{procRoot: procRoot}
}

// ListenerPID returns the pid of the process listening on the TCP port of endpoint (a URL such
// as http://127.0.0.1:6060), found through /proc/net/tcp{,6} and the processes' fd tables. When
// no socket of the receiver's own network namespace listens there, the other network namespaces
// that hold the endpoint's address are searched (a pod's own network, seen by a node agent
// sharing the host's pid namespace).
func (r *PIDResolver) ListenerPID(endpoint string) (int, error) {
	host, port, err := endpointHostPort(endpoint)
	if err != nil {
		return 0, err
	}
	asked := time.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	// A recent snapshot answers; when it finds no live owner, /proc is read again, unless a read
	// began since this call did: that one saw all there is.
	if time.Since(r.snap.taken) >= snapshotTTL {
		if err := r.retake(); err != nil {
			return 0, err
		}
	}
	pid, err := r.find(host, port)
	if err != nil && r.snap.taken.Before(asked) {
		if err := r.retake(); err != nil {
			return 0, err
		}
		pid, err = r.find(host, port)
	}
	return pid, err
}

func (r *PIDResolver) retake() error {
	snap, err := takePIDSnapshot(r.procRoot)
	if err == nil {
		r.snap = snap
	}
	return err
}

// find looks the listener of host:port up in the snapshot: in the receiver's own network
// namespace, else in the one that holds host.
func (r *PIDResolver) find(host netip.Addr, port int) (int, error) {
	inodes := r.snap.listeners[port]
	if len(inodes) == 0 {
		var err error
		if inodes, err = namespaceListeners(r.procRoot, host, port); err != nil {
			return 0, err
		}
	}
	if len(inodes) == 0 {
		return 0, fmt.Errorf("no process listens on TCP port %d (in this network namespace, or one holding %s)", port, addrName(host))
	}
	pid, ok := r.snap.owner(r.procRoot, inodes)
	if !ok {
		return 0, fmt.Errorf("find the process listening on TCP port %d: no readable process owns the listening socket (not permitted to read other processes' fds?)", port)
	}
	return pid, nil
}

// owner returns the live process holding one of the socket inodes.
func (s *pidSnapshot) owner(procRoot string, inodes []string) (int, bool) {
	for _, inode := range inodes {
		if pid, ok := s.owners[inode]; ok && ProcessAlive(procRoot, pid) {
			return pid, true
		}
	}
	return 0, false
}

// takePIDSnapshot reads the listening sockets of the receiver's network namespace and the
// socket inodes of every readable process.
func takePIDSnapshot(procRoot string) (pidSnapshot, error) {
	snap := pidSnapshot{taken: time.Now()}
	var err error
	if snap.listeners, err = listeningSockets(filepath.Join(procRoot, "net")); err != nil {
		return pidSnapshot{}, err
	}
	if snap.owners, err = scanSocketOwners(procRoot); err != nil {
		return pidSnapshot{}, err
	}
	return snap, nil
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

// listeningSockets reads the listening sockets of one network namespace, by port, from its
// /proc/<pid>/net directory.
func listeningSockets(netDir string) (map[int][]string, error) {
	byPort := map[int][]string{}
	for _, table := range []string{"tcp", "tcp6"} {
		if err := addListening(filepath.Join(netDir, table), byPort); err != nil && !os.IsNotExist(err) {
			return nil, err
		}
	}
	return byPort, nil
}

// namespaceListeners returns the sockets listening on port in the network namespaces, other
// than the receiver's own, that have host as a local address; each is read through its first
// process. A loopback or unnamed host says nothing about which namespace is meant.
func namespaceListeners(procRoot string, host netip.Addr, port int) ([]string, error) {
	if !host.IsValid() || host.IsLoopback() || host.IsUnspecified() {
		return nil, nil
	}
	own, _ := os.Readlink(filepath.Join(procRoot, "self", "ns", "net"))
	seen := map[string]bool{own: true}
	entries, err := os.ReadDir(procRoot)
	if err != nil {
		return nil, err
	}
	var inodes, namespaces []string
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
		byPort, err := listeningSockets(netDir)
		if err != nil || len(byPort[port]) == 0 {
			continue
		}
		namespaces = append(namespaces, ns)
		inodes = append(inodes, byPort[port]...)
	}
	if len(namespaces) > 1 {
		return nil, fmt.Errorf("%s port %d listens in %d network namespaces (%s): set the target's pid", host, port, len(namespaces), strings.Join(namespaces, ", "))
	}
	return inodes, nil
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

// addListening adds the inodes of the sockets in LISTEN state of one /proc/net table, by port.
func addListening(path string, byPort map[int][]string) error {
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
		if p, err := strconv.ParseUint(hexPort, 16, 16); err == nil {
			byPort[int(p)] = append(byPort[int(p)], fields[9])
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("read %s: %w", path, err)
	}
	return nil
}

// scanSocketOwners maps every socket inode in /proc/*/fd to the process holding it.
func scanSocketOwners(procRoot string) (map[string]int, error) {
	entries, err := os.ReadDir(procRoot)
	if err != nil {
		return nil, err
	}
	owners := make(map[string]int)
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
			owners[strings.TrimSuffix(strings.TrimPrefix(link, "socket:["), "]")] = pid
		}
	}
	return owners, nil
}

// ProcessAlive reports whether pid names a running process.
func ProcessAlive(procRoot string, pid int) bool {
	_, err := os.Stat(filepath.Join(procRoot, strconv.Itoa(pid)))
	return err == nil
}
