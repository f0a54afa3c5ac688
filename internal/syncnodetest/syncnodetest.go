// Package syncnodetest runs the examples/syncnode demo workload for tests that need a real Go
// process to observe: built from this module, listening for net/http/pprof on a free port.
package syncnodetest

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"net/http"
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

// Get fetches path (e.g. "/debug/pprof/trace?seconds=2") from syncnode's net/http/pprof
// server and returns the body, failing tb unless the answer is a whole 200.
func (n *Node) Get(tb testing.TB, path string) []byte {
	tb.Helper()
	resp, err := http.Get("http://" + n.Addr + path)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		tb.Fatalf("GET %s: %v (HTTP %d)", path, err, resp.StatusCode)
	}
	return data
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

// RefutesRate reports whether misses out of n refute a miss rate of at most rate: were the true
// rate that high, as many misses or more would occur with probability below 0.001. One window of
// syncnode holds a few hundred measured items, too few to assert a rate of 1 % or 0.1 % by
// comparing the observed share alone without failing now and then by chance; the accuracy tests
// assert their goals this way and log the observed shares.
func RefutesRate(misses, n int, rate float64) bool {
	if misses <= 0 || n <= 0 {
		return false
	}
	if rate <= 0 {
		return true
	}
	// P(X < misses) for X ~ Binomial(n, rate).
	below := 0.0
	for k := range min(misses, n+1) {
		below += math.Exp(logChoose(n, k) + float64(k)*math.Log(rate) + float64(n-k)*math.Log1p(-rate))
	}
	return 1-below < 0.001
}

func logChoose(n, k int) float64 {
	a, _ := math.Lgamma(float64(n + 1))
	b, _ := math.Lgamma(float64(k + 1))
	c, _ := math.Lgamma(float64(n - k + 1))
	return a - b - c
}
