// Package syncnodetest runs the examples/syncnode demo workload for tests that need a real Go
// process to observe: built from this module, listening for net/http/pprof on a free port.
package syncnodetest

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// Node is a running syncnode.
type Node struct {
	// PID is its process id; Addr the host:port of its net/http/pprof server.
	PID  int
	Addr string
	cmd  *exec.Cmd
}

// Start builds syncnode and runs it with args added to -pprof-addr 127.0.0.1:0 -log-every 0.
// It is killed at the end of the test unless Stop stopped it first.
func Start(tb testing.TB, args ...string) *Node {
	tb.Helper()
	bin := filepath.Join(tb.TempDir(), "syncnode")
	build := exec.Command("go", "build", "-o", bin, "github.com/gostitch/gostitch/examples/syncnode")
	if out, err := build.CombinedOutput(); err != nil {
		tb.Fatalf("go build syncnode: %v\n%s", err, out)
	}
	cmd := exec.Command(bin, append([]string{"-pprof-addr", "127.0.0.1:0", "-log-every", "0"}, args...)...)
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		tb.Fatalf("start syncnode: %v", err)
	}
	n := &Node{PID: cmd.Process.Pid, cmd: cmd}
	tb.Cleanup(func() {
		if n.cmd != nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})
	if n.Addr, err = pprofAddr(stdout); err != nil {
		tb.Fatal(err)
	}
	go func() { _, _ = io.Copy(io.Discard, stdout) }()
	return n
}

// pprofAddr reads syncnode's output up to its "pprof listening on http://ADDR" line.
func pprofAddr(stdout io.Reader) (string, error) {
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		if addr, ok := strings.CutPrefix(sc.Text(), "pprof listening on http://"); ok {
			return addr, nil
		}
	}
	return "", fmt.Errorf("syncnode did not say where pprof listens: %w", io.ErrUnexpectedEOF)
}

// Stop ends syncnode with SIGTERM, so it flushes its -truth file, and waits for it.
func (n *Node) Stop() error {
	cmd := n.cmd
	n.cmd = nil
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		return fmt.Errorf("stop syncnode: %w", err)
	}
	if err := cmd.Wait(); err != nil {
		return fmt.Errorf("syncnode: %w", err)
	}
	return nil
}
