package collect

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/gostitch/gostitch/internal/netnstest"
	"github.com/gostitch/gostitch/internal/roottest"
)

// TestHelperNamespaceListener is not a test: run by TestListenerPIDInOtherNetworkNamespaces
// inside a network namespace, it listens on $GOSTITCH_LISTEN until its stdin closes.
func TestHelperNamespaceListener(t *testing.T) {
	addr := os.Getenv("GOSTITCH_LISTEN")
	if addr == "" {
		t.Skip("helper process of TestListenerPIDInOtherNetworkNamespaces")
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	netnstest.Serve()
}

// TestListenerPIDInOtherNetworkNamespaces: two network namespaces the test creates (as a node
// agent sees two pods) each hold their own address and a process listening on the same port; the
// endpoint's address picks the right one, and an address of neither finds nothing.
func TestListenerPIDInOtherNetworkNamespaces(t *testing.T) {
	roottest.Need(t, "creating network namespaces")
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("skipped: needs ip (iproute2; make setup installs it)")
	}
	// A port no process of the test's own namespace listens on, or that one would be found first.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(l.Addr().String())
	l.Close()
	third := os.Getpid() % 250
	var pids []int
	var addrs []string
	for i := range 2 {
		ns := fmt.Sprintf("gsp%d-%d", os.Getpid(), i)
		addr := fmt.Sprintf("10.201.%d.%d", third, i+2)
		netnstest.Add(t, ns)
		netnstest.Run(t, "", "ip", "-n", ns, "link", "set", "lo", "up")
		netnstest.Run(t, "", "ip", "-n", ns, "addr", "add", addr+"/32", "dev", "lo")
		pids = append(pids, netnstest.StartHelper(t, ns, "TestHelperNamespaceListener", "GOSTITCH_LISTEN=0.0.0.0:"+port))
		addrs = append(addrs, addr)
	}
	for i, addr := range addrs {
		pid, err := NewPIDResolver("/proc").ListenerPID("http://" + addr + ":" + port)
		if err != nil || pid != pids[i] {
			t.Errorf("%s: pid %d, %v; want %d", addr, pid, err, pids[i])
		}
	}
	if pid, err := NewPIDResolver("/proc").ListenerPID(fmt.Sprintf("http://10.201.%d.9:%s", third, port)); err == nil || !strings.Contains(err.Error(), "no process listens") {
		t.Errorf("an address of no namespace: pid %d, %v", pid, err)
	}
}
