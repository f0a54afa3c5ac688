package ebpfsrc

import (
	"os"
	"os/exec"
	"strings"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/gostitch/gostitch/internal/roottest"
)

// TestModesWithoutCapabilities re-runs TestHelperNoCapabilities with every capability dropped
// (setpriv's bounding set keeps execve from granting them back to root).
func TestModesWithoutCapabilities(t *testing.T) {
	roottest.Need(t, "loading eBPF programs")
	setpriv, err := exec.LookPath("setpriv")
	if err != nil {
		t.Fatalf("setpriv (util-linux) is needed to drop capabilities: %v", err)
	}
	cmd := exec.Command(setpriv, "--bounding-set=-all", "--inh-caps=-all", os.Args[0],
		"-test.run=^TestHelperNoCapabilities$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), "GOSTITCH_NO_CAPS=1")
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "--- PASS: TestHelperNoCapabilities") {
		t.Fatalf("without capabilities: %v\n%s", err, out)
	}
}

func TestHelperNoCapabilities(t *testing.T) {
	if os.Getenv("GOSTITCH_NO_CAPS") == "" {
		t.Skip("helper process of TestModesWithoutCapabilities")
	}
	core, logs := observer.New(zap.InfoLevel)
	s, err := Open(ModeAuto, Options{}, zap.New(core))
	if s != nil || err != nil {
		t.Fatalf("auto without capabilities: %v, %v; want nothing", s, err)
	}
	if logs.Len() != 1 || logs.All()[0].Level != zap.WarnLevel {
		t.Fatalf("auto logged %d entries, want one warning: %v", logs.Len(), logs.All())
	}
	warning := logs.All()[0].ContextMap()["error"]
	if !strings.Contains(warning.(string), "CAP_BPF") {
		t.Errorf("warning %q does not name the missing capability", warning)
	}
	if _, err := Open(ModeOn, Options{}, zap.New(core)); err == nil || !strings.Contains(err.Error(), "CAP_PERFMON") {
		t.Errorf("on without capabilities: %v, want an error naming CAP_PERFMON", err)
	}
}
