package e2e

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gostitch/gostitch/internal/roottest"
	"github.com/gostitch/gostitch/internal/syncnodetest"
)

// capability is one Linux capability the agent needs and what it logs without it.
type capability struct {
	name    string // as in capabilities(7)
	missing string // a line the agent logs when it runs without this capability alone
}

// agentCapabilities is the least privilege of an agent with eBPF on and target pids resolved
// from their endpoints, for targets of any user: the privilege tests grant exactly these, and
// examples/k8s/daemonset.yaml must add exactly these (TestK8sDaemonSetGrantsLeastPrivilege).
var agentCapabilities = []capability{
	{"CAP_BPF", "missing CAP_BPF"},                             // create the maps, load the programs
	{"CAP_PERFMON", "missing CAP_PERFMON"},                     // tracing programs: tp_btf hooks
	{"CAP_DAC_READ_SEARCH", "Cannot resolve the target's pid"}, // open another user's /proc/<pid>/fd (mode 0500)
	{"CAP_SYS_PTRACE", "Cannot resolve the target's pid"},      // read the socket links in it (ptrace read access)
}

// unprivilegedUID is the uid and gid the agent runs as in the privilege tests (nobody).
const unprivilegedUID = "65534"

func capabilityNames(caps []capability) []string {
	var names []string
	for _, c := range caps {
		names = append(names, c.name)
	}
	return names
}

// TestPrivilegeLeastCapabilities: as uid 65534 with only agentCapabilities, the agent resolves
// the pid of a root-owned target from its endpoint, loads the eBPF programs (ebpf.mode on) and
// turns the target's socket events into spans.
func TestPrivilegeLeastCapabilities(t *testing.T) {
	skipUnlessPrivilegeRun(t)
	node := syncnodetest.Start(t, "-peers", "2")
	agent := runAgentAs(t, capabilityNames(agentCapabilities), "SYNCNODE_PPROF=http://"+node.Addr, "EBPF_MODE=on")
	agent.waitFor(t, 40*time.Second, "Resolved target pid", "gostitch.source: Str(ebpf)", "Name           : tcp connection")
	assert.True(t, containsLine(agent.log.String(), "Resolved target pid", fmt.Sprintf(`"pid": %d}`, node.PID)), "the pid is syncnode's, %d", node.PID)
	assert.True(t, containsLine(agent.log.String(), "\tinfo\t", "eBPF socket source on", `"missing": []`),
		"every eBPF program attached, said once at info")
	assert.NotContains(t, agent.log.String(), "eBPF socket source off")
}

// TestPrivilegeEachCapabilityIsNeeded: without any one of agentCapabilities the agent either
// refuses ebpf.mode on naming the capability, or cannot resolve the target's pid.
func TestPrivilegeEachCapabilityIsNeeded(t *testing.T) {
	skipUnlessPrivilegeRun(t)
	node := "http://" + syncnodetest.Start(t, "-peers", "1").Addr
	for i, c := range agentCapabilities {
		t.Run(c.name, func(t *testing.T) {
			var others []capability
			others = append(append(others, agentCapabilities[:i]...), agentCapabilities[i+1:]...)
			agent := runAgentAs(t, capabilityNames(others), "SYNCNODE_PPROF="+node, "EBPF_MODE=on", "LOG_LEVEL=debug")
			agent.waitFor(t, 30*time.Second, c.missing)
		})
	}
}

// TestPrivilegeNoCapabilities: as uid 65534 with no capability at all, ebpf.mode auto logs one
// warning naming what is missing while pprof profiles and execution-trace spans keep flowing,
// and ebpf.mode on fails the start with that reason.
func TestPrivilegeNoCapabilities(t *testing.T) {
	skipUnlessPrivilegeRun(t)
	node := "http://" + syncnodetest.Start(t, "-peers", "1").Addr

	t.Run("auto", func(t *testing.T) {
		agent := runAgentAs(t, nil, "SYNCNODE_PPROF="+node, "EBPF_MODE=auto")
		agent.waitFor(t, 40*time.Second, "gostitch.source: Str(go.trace)", "Sample #")
		var warnings []string
		for _, line := range strings.Split(agent.log.String(), "\n") {
			if strings.Contains(line, "\twarn\t") && strings.Contains(line, "eBPF") {
				warnings = append(warnings, line)
			}
		}
		require.Len(t, warnings, 1, "one warning about eBPF")
		for _, part := range []string{"eBPF socket source off", "pprof and execution traces go on", "missing CAP_BPF and CAP_PERFMON"} {
			assert.Contains(t, warnings[0], part)
		}
		assert.NotContains(t, agent.log.String(), "gostitch.source: Str(ebpf)")
	})

	t.Run("on", func(t *testing.T) {
		agent := runAgentAs(t, nil, "SYNCNODE_PPROF="+node, "EBPF_MODE=on")
		select {
		case <-agent.done:
		case <-time.After(30 * time.Second):
			t.Fatal("the collector still runs 30s after a start that must fail")
		}
		require.Error(t, agent.err, "the collector exits with an error")
		assert.Contains(t, agent.log.String(), `failed to start "gostitch" receiver: ebpf.mode is on: eBPF socket source: missing CAP_BPF and CAP_PERFMON`)
	})
}

// loggedProcess is a process started by startLogged.
type loggedProcess struct {
	log  syncBuffer
	done chan struct{} // closed when the process has exited
	err  error         // its exit, once done is closed
}

// startLogged starts cmd, a server process, and stops it with SIGTERM at the end of the test,
// showing the tail of its output when the test failed.
func startLogged(t testing.TB, name string, cmd *exec.Cmd) *loggedProcess {
	t.Helper()
	c := &loggedProcess{done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = &c.log, &c.log
	require.NoError(t, cmd.Start(), "start %s", name)
	go func() {
		c.err = cmd.Wait()
		close(c.done)
	}()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-c.done:
		case <-time.After(30 * time.Second):
			cmd.Process.Kill()
			<-c.done
		}
		if t.Failed() {
			t.Logf("%s log (tail):\n%s", name, tail(c.log.String(), 3000))
		}
	})
	return c
}

// waitFor waits until the output holds every part.
func (c *loggedProcess) waitFor(t testing.TB, timeout time.Duration, parts ...string) {
	t.Helper()
	require.Eventually(t, func() bool {
		out := c.log.String()
		for _, p := range parts {
			if !strings.Contains(out, p) {
				return false
			}
		}
		return true
	}, timeout, 500*time.Millisecond, "the output holds %q", parts)
}

// skipUnlessPrivilegeRun skips the test unless the distribution is built and the test runs as
// root, which may switch to uid 65534 with chosen capabilities.
func skipUnlessPrivilegeRun(t *testing.T) {
	t.Helper()
	distBinary(t)
	roottest.Need(t, "switching to uid 65534 with chosen capabilities")
}

// withoutTracefs unmounts tracefs, fails if some is still mounted, then runs its arguments.
const withoutTracefs = `umount /sys/kernel/tracing /sys/kernel/debug/tracing 2>/dev/null
if grep -q ' tracefs ' /proc/self/mounts; then echo 'tracefs still mounted' >&2; exit 1; fi
exec "$@"`

// runAgentAs runs the distribution on testdata/collector-privilege.yaml as uid and gid 65534
// with exactly caps (setpriv sets the inheritable, ambient and bounding sets, so execve grants
// nothing else) and without tracefs, until the end of the test. Binary and config are copied
// where that user can read them.
func runAgentAs(t *testing.T, caps []string, env ...string) *loggedProcess {
	t.Helper()
	bin := distBinary(t)
	setpriv, err := exec.LookPath("setpriv")
	require.NoError(t, err, "setpriv (util-linux) runs the agent with chosen capabilities")
	unshare, err := exec.LookPath("unshare")
	require.NoError(t, err, "unshare (util-linux) runs the agent without tracefs")

	dir, err := os.MkdirTemp("", "gostitch-privilege-")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	require.NoError(t, os.Chmod(dir, 0o755))
	require.NoError(t, copyFile(bin, filepath.Join(dir, "otelcol"), 0o755))
	require.NoError(t, copyFile("testdata/collector-privilege.yaml", filepath.Join(dir, "config.yaml"), 0o644))

	set := "-all"
	for _, c := range caps {
		set += ",+" + strings.ToLower(strings.TrimPrefix(c, "CAP_"))
	}
	// A private mount namespace without tracefs: tp_btf programs do not need it.
	cmd := exec.Command(unshare, "--mount", "--propagation", "private", "--", "sh", "-c", withoutTracefs, "sh",
		setpriv, "--reuid", unprivilegedUID, "--regid", unprivilegedUID, "--clear-groups",
		"--inh-caps", set, "--ambient-caps", set, "--bounding-set", set,
		filepath.Join(dir, "otelcol"), "--config", filepath.Join(dir, "config.yaml"), "--feature-gates=service.profilesSupport")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	return startLogged(t, "collector", cmd)
}

// copyFile copies src to a new file dst with mode perm.
func copyFile(src, dst string, perm os.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
