// Command testprogs regenerates the fixtures taken from the Go team's own execution-trace test
// programs ($GOROOT/src/internal/trace/testdata/testprog), which write a real trace to stdout:
// annotations.trace, annotations-stress.trace, gc-stress.trace and wait-on-pipe.trace.
//
// Regenerate with: go run testprogs.go (in this directory).
//
//go:build ignore

package main

import (
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
)

func main() {
	goroot, err := exec.Command("go", "env", "GOROOT").Output()
	if err != nil {
		log.Fatal(err)
	}
	dir := filepath.Join(strings.TrimSpace(string(goroot)), "src", "internal", "trace", "testdata", "testprog")
	for _, prog := range []string{"annotations", "annotations-stress", "gc-stress", "wait-on-pipe"} {
		out, err := os.Create(prog + ".trace")
		if err != nil {
			log.Fatal(err)
		}
		cmd := exec.Command("go", "run", filepath.Join(dir, prog+".go"))
		cmd.Stdout, cmd.Stderr = out, os.Stderr
		if err := cmd.Run(); err != nil {
			log.Fatalf("%s: %v", prog, err)
		}
		if err := out.Close(); err != nil {
			log.Fatal(err)
		}
		log.Printf("%s.trace written (%s)", prog, runtime.Version())
	}
}
