package e2e

import (
	"os/exec"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestExampleConfigsValidate: the distribution accepts each example configuration as shipped,
// every ${env:...} at its default.
func TestExampleConfigsValidate(t *testing.T) {
	bin := distBinary(t)
	for _, config := range []string{"demo.yaml", "gateway.yaml", "otel-app.yaml"} {
		t.Run(config, func(t *testing.T) {
			out, err := exec.Command(bin, "validate", "--config", "../examples/"+config, "--feature-gates=service.profilesSupport").CombinedOutput()
			require.NoError(t, err, "%s", out)
		})
	}
}
