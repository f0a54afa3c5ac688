package gostitchreceiver

import (
	"testing"

	"go.opentelemetry.io/collector/confmap"
)

// FuzzConfig unmarshals arbitrary YAML through confmap into the receiver's Config, as the
// collector does, and validates it (seeds in testdata/fuzz/FuzzConfig). Neither step may
// panic, and a rejected config must say why.
func FuzzConfig(f *testing.F) {
	f.Fuzz(func(t *testing.T, yaml []byte) {
		retrieved, err := confmap.NewRetrievedFromYAML(yaml)
		if err != nil {
			return
		}
		conf, err := retrieved.AsConf()
		if err != nil {
			return
		}
		cfg := createDefaultConfig()
		if err := conf.Unmarshal(cfg); err != nil && err.Error() == "" {
			t.Fatal("unmarshal failed without a reason")
		}
		if err := confmap.Validate(cfg); err != nil && err.Error() == "" {
			t.Fatal("validation failed without a reason")
		}
	})
}
