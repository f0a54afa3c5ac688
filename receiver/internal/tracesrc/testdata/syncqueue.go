// Command syncqueue regenerates syncqueue.trace: it runs the demo workload examples/syncnode
// queue-bound (four fast peers, each block verified three times, a queue of two blocks, no
// fsync: the importer is the bottleneck, the fetcher waits for room in the full queue and each
// block waits there), with an unreachable OTLP endpoint, so every import logs otel.trace_id and
// otel.span_id into the execution trace, and fetches one second of its execution trace from
// net/http/pprof, two seconds into the run.
//
// Regenerate with: go run syncqueue.go (in this directory).
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
	"time"
)

func main() {
	cmd := exec.Command("go", "run", "../../../../examples/syncnode",
		"-peers", "4", "-verify-cost", "3", "-queue", "2", "-fsync-every", "0", "-pprof-addr", "127.0.0.1:0",
		"-otlp-endpoint", "127.0.0.1:1", "-duration", "20s", "-log-every", "0")
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
	time.Sleep(2 * time.Second) // past the start, into the steady state
	resp, err := http.Get(base + "/debug/pprof/trace?seconds=1")
	if err != nil {
		log.Fatal(err)
	}
	defer resp.Body.Close()
	out, err := os.Create("syncqueue.trace")
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
