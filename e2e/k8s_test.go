package e2e

import (
	"bytes"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"
)

// k8sObject is the part of a Kubernetes manifest the tests read.
type k8sObject struct {
	file       string
	APIVersion string `yaml:"apiVersion"`
	Kind       string `yaml:"kind"`
	Metadata   struct {
		Name      string `yaml:"name"`
		Namespace string `yaml:"namespace"`
	} `yaml:"metadata"`
	Data map[string]string `yaml:"data"`
	Spec struct {
		Template struct {
			Spec k8sPodSpec `yaml:"spec"`
		} `yaml:"template"`
		Ports []struct {
			Port int `yaml:"port"`
		} `yaml:"ports"`
	} `yaml:"spec"`
}

type k8sPodSpec struct {
	HostPID     bool `yaml:"hostPID"`
	HostIPC     bool `yaml:"hostIPC"`
	HostNetwork bool `yaml:"hostNetwork"`
	Containers  []struct {
		Name            string `yaml:"name"`
		SecurityContext struct {
			Privileged   bool  `yaml:"privileged"`
			RunAsUser    int64 `yaml:"runAsUser"`
			Capabilities struct {
				Add  []string `yaml:"add"`
				Drop []string `yaml:"drop"`
			} `yaml:"capabilities"`
		} `yaml:"securityContext"`
	} `yaml:"containers"`
	Volumes []struct {
		Name     string `yaml:"name"`
		HostPath any    `yaml:"hostPath"`
	} `yaml:"volumes"`
}

// k8sObjects decodes every YAML document in examples/k8s.
func k8sObjects(t *testing.T) []k8sObject {
	t.Helper()
	files, err := filepath.Glob("../examples/k8s/*.yaml")
	require.NoError(t, err)
	require.NotEmpty(t, files)
	var objs []k8sObject
	for _, f := range files {
		b, err := os.ReadFile(f)
		require.NoError(t, err)
		dec := yaml.NewDecoder(bytes.NewReader(b))
		for {
			var o k8sObject
			err := dec.Decode(&o)
			if errors.Is(err, io.EOF) {
				break
			}
			require.NoError(t, err, "decode a document of %s", f)
			o.file = filepath.Base(f)
			objs = append(objs, o)
		}
	}
	return objs
}

// k8sFind returns the one object of that kind and name.
func k8sFind(t *testing.T, objs []k8sObject, kind, name string) k8sObject {
	t.Helper()
	for _, o := range objs {
		if o.Kind == kind && o.Metadata.Name == name {
			return o
		}
	}
	t.Fatalf("no %s %s in examples/k8s", kind, name)
	return k8sObject{}
}

// TestK8sManifestsParse: every document in examples/k8s is a named object in the gostitch namespace.
func TestK8sManifestsParse(t *testing.T) {
	kinds := map[string]bool{}
	for _, o := range k8sObjects(t) {
		kinds[o.Kind] = true
		assert.NotEmpty(t, o.APIVersion, "%s: a document without apiVersion", o.file)
		assert.NotEmpty(t, o.Metadata.Name, "%s: a %s without a name", o.file, o.Kind)
		if o.Kind != "Namespace" {
			assert.Equal(t, "gostitch", o.Metadata.Namespace, "%s: %s %s", o.file, o.Kind, o.Metadata.Name)
		}
	}
	for _, kind := range []string{"Namespace", "DaemonSet", "Deployment", "Service", "ConfigMap"} {
		assert.True(t, kinds[kind], "examples/k8s has a %s", kind)
	}
}

// TestK8sDaemonSetGrantsLeastPrivilege: the agent DaemonSet shares the host's pid namespace and
// grants exactly agentCapabilities, the set the privilege tests run with, to a non-root user,
// with nothing more privileged (no privileged mode, no hostPath, no host IPC).
func TestK8sDaemonSetGrantsLeastPrivilege(t *testing.T) {
	ds := k8sFind(t, k8sObjects(t), "DaemonSet", "gostitch-agent")
	pod := ds.Spec.Template.Spec
	assert.True(t, pod.HostPID, "hostPID: true, so pids in the agent are the kernel's")
	assert.False(t, pod.HostIPC, "no host IPC namespace")
	for _, v := range pod.Volumes {
		assert.Nil(t, v.HostPath, "volume %s: no hostPath (BTF and /proc come with the container)", v.Name)
	}
	var want []string
	for _, c := range agentCapabilities {
		want = append(want, strings.TrimPrefix(c.name, "CAP_"))
	}
	require.NotEmpty(t, pod.Containers)
	for _, c := range pod.Containers {
		sc := c.SecurityContext
		assert.ElementsMatch(t, want, sc.Capabilities.Add, "container %s adds exactly the agent's capabilities", c.Name)
		assert.Equal(t, []string{"ALL"}, sc.Capabilities.Drop, "container %s drops every other capability", c.Name)
		assert.False(t, sc.Privileged, "container %s is not privileged", c.Name)
		assert.Equal(t, unprivilegedUID, strconv.FormatInt(sc.RunAsUser, 10), "container %s runs as the privilege tests' user", c.Name)
	}
}

// TestK8sConfigsMatch: the gateway ConfigMap holds examples/gateway.yaml verbatim, the agent
// exports to the gateway Service, and the distribution accepts the agent's configuration.
func TestK8sConfigsMatch(t *testing.T) {
	objs := k8sObjects(t)
	gatewayConfig, err := os.ReadFile("../examples/gateway.yaml")
	require.NoError(t, err)
	assert.Equal(t, string(gatewayConfig), k8sFind(t, objs, "ConfigMap", "gostitch-gateway").Data["gateway.yaml"],
		"examples/k8s/gateway.yaml carries examples/gateway.yaml verbatim")

	svc := k8sFind(t, objs, "Service", "gostitch-gateway")
	require.Len(t, svc.Spec.Ports, 1)
	agentConfig := k8sFind(t, objs, "ConfigMap", "gostitch-agent").Data["agent.yaml"]
	var agent struct {
		Exporters map[string]struct {
			Endpoint string `yaml:"endpoint"`
		} `yaml:"exporters"`
	}
	require.NoError(t, yaml.Unmarshal([]byte(agentConfig), &agent))
	assert.Equal(t, svc.Metadata.Name+"."+svc.Metadata.Namespace+".svc:"+strconv.Itoa(svc.Spec.Ports[0].Port),
		agent.Exporters["otlp_grpc/gateway"].Endpoint, "the agent exports to the gateway Service")

	config := filepath.Join(t.TempDir(), "agent.yaml")
	require.NoError(t, os.WriteFile(config, []byte(agentConfig), 0o644))
	cmd := exec.Command(distBinary(t), "validate", "--config", config, "--feature-gates=service.profilesSupport")
	cmd.Env = append(os.Environ(), "NODE_IP=127.0.0.1")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "the distribution accepts the agent's configuration: %s", out)
}
