package collect

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
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
	fmt.Println("listening")
	_, _ = io.Copy(io.Discard, os.Stdin)
}

// TestListenerPIDInOtherNetworkNamespaces: two network namespaces the test creates (as a node
// agent sees two pods) each hold their own address and a process listening on the same port; the
// endpoint's address picks the right one, and an address of neither finds nothing.
func TestListenerPIDInOtherNetworkNamespaces(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("skipped: creating network namespaces needs root (CI runs this test as root)")
	}
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
		run(t, "ip", "netns", "add", ns)
		t.Cleanup(func() {
			if out, err := exec.Command("ip", "netns", "del", ns).CombinedOutput(); err != nil {
				t.Errorf("ip netns del %s: %v: %s", ns, err, out)
			}
		})
		run(t, "ip", "-n", ns, "link", "set", "lo", "up")
		run(t, "ip", "-n", ns, "addr", "add", addr+"/32", "dev", "lo")
		pids = append(pids, startNamespaceListener(t, ns, "0.0.0.0:"+port))
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

func run(t *testing.T, name string, args ...string) {
	t.Helper()
	if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
		t.Fatalf("%s %s: %v: %s", name, strings.Join(args, " "), err, out)
	}
}

// startNamespaceListener runs TestHelperNamespaceListener in namespace ns and returns its pid
// once it listens; it stops when the test ends.
func startNamespaceListener(t *testing.T, ns, addr string) int {
	t.Helper()
	cmd := exec.Command("ip", "netns", "exec", ns, os.Args[0], "-test.run=^TestHelperNamespaceListener$", "-test.count=1")
	cmd.Env = append(os.Environ(), "GOSTITCH_LISTEN="+addr)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		stdin.Close()
		_ = cmd.Wait()
	})
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || strings.TrimSpace(line) != "listening" {
		t.Fatalf("listener in %s: %q, %v", ns, line, err)
	}
	return cmd.Process.Pid
}
