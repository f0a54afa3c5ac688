// Package netnstest builds network namespaces for tests and runs helper processes of the test
// binary inside them. Its callers need root (see roottest) and ip from iproute2.
package netnstest

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// Run runs name with args and stdin, failing tb with the command's output if it fails.
func Run(tb testing.TB, stdin, name string, args ...string) {
	tb.Helper()
	cmd := exec.Command(name, args...)
	cmd.Stdin = strings.NewReader(stdin)
	if out, err := cmd.CombinedOutput(); err != nil {
		tb.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
}

// Add creates network namespace ns, deleted when the test ends.
func Add(tb testing.TB, ns string) {
	tb.Helper()
	Run(tb, "", "ip", "netns", "add", ns)
	tb.Cleanup(func() {
		if out, err := exec.Command("ip", "netns", "del", ns).CombinedOutput(); err != nil {
			tb.Errorf("ip netns del %s: %v\n%s", ns, err, out)
		}
	})
}

// StartHelper runs the test function helper of the test binary in namespace ns with env added
// and returns its pid once it called Serve; its stdin closes when the test ends.
func StartHelper(tb testing.TB, ns, helper string, env ...string) int {
	tb.Helper()
	cmd := exec.Command("ip", "netns", "exec", ns, os.Args[0], "-test.run=^"+helper+"$", "-test.count=1")
	cmd.Env = append(os.Environ(), env...)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		tb.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		stdin.Close()
		if err := cmd.Wait(); err != nil {
			tb.Errorf("%s in %s: %v", helper, ns, err)
		}
	})
	if line, err := bufio.NewReader(stdout).ReadString('\n'); err != nil || line != ready+"\n" {
		tb.Fatalf("%s in %s did not start: %q, %v", helper, ns, line, err)
	}
	return cmd.Process.Pid
}

// ready is the line Serve prints for StartHelper.
const ready = "ready"

// Serve, called by a helper started by StartHelper once it serves, lets StartHelper return and
// blocks until the test that started the helper ends.
func Serve() {
	fmt.Println(ready)
	_, _ = io.Copy(io.Discard, os.Stdin)
}
