package metadata

import (
	"bytes"
	"os"
	"testing"

	"github.com/gostitch/gostitch/internal/metagen"
)

// TestGeneratedFilesAreCurrent fails when metadata.yaml changed without `go generate`.
func TestGeneratedFilesAreCurrent(t *testing.T) {
	src, err := os.ReadFile("../../metadata.yaml")
	if err != nil {
		t.Fatal(err)
	}
	wantGo, wantDoc, err := metagen.Generate(src)
	if err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string][]byte{"generated_metadata.go": wantGo, "../../documentation.md": wantDoc} {
		got, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s is stale: run `go generate ./processor/gostitchjoinprocessor/internal/metadata`", path)
		}
	}
}
