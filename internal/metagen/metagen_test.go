package metagen

import (
	"os"
	"strings"
	"testing"
)

// TestParseRefusesIncompleteMetrics checks the rules Generate relies on, each on a metadata.yaml
// that breaks one of them.
func TestParseRefusesIncompleteMetrics(t *testing.T) {
	const head = "type: x\nscope_name: y\nattributes: {}\n"
	for name, tc := range map[string]struct{ yaml, want string }{
		"histogram without temporality": {
			head + "metrics:\n  a.b:\n    enabled: true\n    description: d\n    unit: s\n    histogram: {value_type: double}\n",
			`metric "a.b" needs aggregation_temporality`,
		},
		"two shapes": {
			head + "metrics:\n  a.b:\n    description: d\n    unit: s\n    gauge: {value_type: int}\n    sum: {value_type: int, aggregation_temporality: delta}\n",
			`metric "a.b" needs exactly one of gauge, sum, histogram`,
		},
		"telemetry turned off": {
			head + "telemetry:\n  metrics:\n    a.b:\n      enabled: false\n      description: d\n      unit: s\n      sum: {value_type: int, monotonic: true}\n",
			`telemetry metric "a.b" must be enabled`,
		},
		"unknown attribute": {
			head + "metrics:\n  a.b:\n    description: d\n    unit: s\n    gauge: {value_type: int}\n    attributes: [nope]\n",
			`names unknown attribute "nope"`,
		},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := Parse([]byte(tc.yaml))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Parse: got %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

// TestGenerateRepositoryMetadata generates from the repository's metadata.yaml: a metric turned
// off there would be off in DefaultMetricsConfig, and every metric has a config field.
func TestGenerateRepositoryMetadata(t *testing.T) {
	src, err := os.ReadFile("../../metadata.yaml")
	if err != nil {
		t.Fatal(err)
	}
	md, err := Parse(src)
	if err != nil {
		t.Fatal(err)
	}
	goSrc, _, err := Generate(src)
	if err != nil {
		t.Fatal(err)
	}
	for name, m := range md.Metrics {
		field := goName(name)
		for _, want := range []string{
			field + " MetricConfig `mapstructure:\"" + name + "\"`",
			field + ": MetricConfig{Enabled: " + map[bool]string{true: "true", false: "false"}[m.Enabled] + "}",
		} {
			if !strings.Contains(strings.Join(strings.Fields(string(goSrc)), " "), want) {
				t.Errorf("generated source lacks %q", want)
			}
		}
	}
}
