package collect

import (
	"bufio"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// tcpListen is the socket state "LISTEN" in /proc/net/tcp.
const tcpListen = "0A"

// ListenerPID returns the pid of the process listening on the TCP port of endpoint (a URL such
// as http://127.0.0.1:6060), found through /proc/net/tcp{,6} and the processes' fd tables.
func ListenerPID(procRoot, endpoint string) (int, error) {
	port, err := endpointPort(endpoint)
	if err != nil {
		return 0, err
	}
	inodes := map[string]bool{}
	for _, table := range []string{"net/tcp", "net/tcp6"} {
		if err := listeningInodes(filepath.Join(procRoot, table), port, inodes); err != nil && !os.IsNotExist(err) {
			return 0, err
		}
	}
	if len(inodes) == 0 {
		return 0, fmt.Errorf("no process listens on TCP port %d", port)
	}
	pid, err := socketOwner(procRoot, inodes)
	if err != nil {
		return 0, fmt.Errorf("find the process listening on TCP port %d: %w", port, err)
	}
	return pid, nil
}

func endpointPort(endpoint string) (int, error) {
	u, err := url.Parse(endpoint)
	if err != nil {
		return 0, fmt.Errorf("parse endpoint %q: %w", endpoint, err)
	}
	portStr := u.Port()
	if portStr == "" {
		portStr = map[string]string{"http": "80", "https": "443"}[u.Scheme]
	}
	port, err := net.LookupPort("tcp", portStr)
	if err != nil {
		return 0, fmt.Errorf("endpoint %q has no usable port: %w", endpoint, err)
	}
	return port, nil
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
