// Command metagen generates receiver/internal/metadata and documentation.md from metadata.yaml.
//
//	go run ./cmd/metagen -metadata metadata.yaml -go receiver/internal/metadata/generated_metadata.go -doc documentation.md
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/gostitch/gostitch/internal/metagen"
)

func main() {
	mdPath := flag.String("metadata", "metadata.yaml", "component metadata in mdatagen's schema")
	goPath := flag.String("go", "", "Go file to write")
	docPath := flag.String("doc", "", "documentation file to write")
	flag.Parse()
	if err := run(*mdPath, *goPath, *docPath); err != nil {
		fmt.Fprintln(os.Stderr, "metagen:", err)
		os.Exit(1)
	}
}

func run(mdPath, goPath, docPath string) error {
	src, err := os.ReadFile(mdPath)
	if err != nil {
		return err
	}
	goSrc, doc, err := metagen.Generate(src)
	if err != nil {
		return err
	}
	if err := os.WriteFile(goPath, goSrc, 0o644); err != nil {
		return err
	}
	return os.WriteFile(docPath, doc, 0o644)
}
