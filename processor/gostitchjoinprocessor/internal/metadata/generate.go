package metadata

//go:generate go run ../../../../cmd/metagen -metadata ../../metadata.yaml -go generated_metadata.go -doc ../../documentation.md
