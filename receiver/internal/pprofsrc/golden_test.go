package pprofsrc

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/pprofile"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/golden")

// TestGolden pins the OTLP/JSON of the profiles and metrics of the labeled goroutine fixture.
func TestGolden(t *testing.T) {
	pd, md, err := DecodeConvert(fixture(t, "goroutine"), 0, "goroutine", testID, Options{LabelAttributes: []string{"msg_type"}})
	if err != nil {
		t.Fatal(err)
	}
	profilesJSON, err := (&pprofile.JSONMarshaler{}).MarshalProfiles(pd)
	if err != nil {
		t.Fatal(err)
	}
	metricsJSON, err := (&pmetric.JSONMarshaler{}).MarshalMetrics(md)
	if err != nil {
		t.Fatal(err)
	}
	checkGolden(t, "goroutine.profiles.json", profilesJSON)
	checkGolden(t, "goroutine.metrics.json", metricsJSON)
}

func checkGolden(t *testing.T, name string, compact []byte) {
	t.Helper()
	var got bytes.Buffer
	if err := json.Indent(&got, compact, "", "  "); err != nil {
		t.Fatal(err)
	}
	got.WriteByte('\n')
	path := filepath.Join("testdata", "golden", name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update)", err)
	}
	if !bytes.Equal(got.Bytes(), want) {
		t.Errorf("%s differs from the golden file; rerun with -update and review the diff:\n%s", name, got.Bytes())
	}
}
