// Command syncfsync regenerates syncfsync.trace: it runs the demo workload examples/syncnode
// with no slow peer and -fsync-every 1, so an import's store region fsyncs the block store (in
// the system's temporary directory, on disk) every block and the slowest imports are the ones
// whose fsync took long, and fetches one second of its execution trace from net/http/pprof.
//
// Regenerate with: go run syncfsync.go (in this directory).
//
//go:build ignore

package main

import (
	"bufio"
	"io"
	"log"
	"net/http"
	"os"
	"os/exec"
	"strings"
)

func main() {
	cmd := exec.Command("go", "run", "../../../../examples/syncnode",
		"-peers", "3", "-queue", "0", "-fsync-every", "1", "-pprof-addr", "127.0.0.1:0", "-duration", "20s", "-log-every", "0")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		log.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		log.Fatal(err)
	}
	defer cmd.Process.Kill()
	var base string
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		if url, ok := strings.CutPrefix(sc.Text(), "pprof listening on "); ok {
			base = url
			break
		}
	}
	if base == "" {
		log.Fatal("syncnode did not print its pprof address")
	}
	go io.Copy(io.Discard, stdout)
	resp, err := http.Get(base + "/debug/pprof/trace?seconds=1")
	if err != nil {
		log.Fatal(err)
	}
	defer resp.Body.Close()
	out, err := os.Create("syncfsync.trace")
	if err != nil {
		log.Fatal(err)
	}
	if _, err := io.Copy(out, resp.Body); err != nil {
		log.Fatal(err)
	}
	if err := out.Close(); err != nil {
		log.Fatal(err)
	}
}
