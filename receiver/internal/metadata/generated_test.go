package metadata

import (
	"testing"

	"github.com/gostitch/gostitch/internal/metagen"
)

// TestGeneratedFilesAreCurrent fails when metadata.yaml changed without `go generate`.
func TestGeneratedFilesAreCurrent(t *testing.T) {
	stale, err := metagen.Stale("../../../metadata.yaml", "generated_metadata.go", "../../../documentation.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range stale {
		t.Errorf("%s is stale: run `make generate`", path)
	}
}
