// Command synctraces regenerates the execution traces of the demo workload examples/syncnode in
// this directory: it runs syncnode with each trace's flags and fetches one second of its
// execution trace from net/http/pprof.
//
//   - syncnode.trace: a slow peer and GC pressure, with an unreachable OTLP endpoint, so every
//     import logs otel.trace_id and otel.span_id into the execution trace.
//   - syncfsync.trace: no slow peer and -fsync-every 1, so an import's store region fsyncs the
//     block store (in the system's temporary directory, on disk) every block and the slowest
//     imports are the ones whose fsync took long.
//   - syncqueue.trace: queue-bound (four fast peers, each block verified three times, a queue of
//     two blocks, no fsync: the importer is the bottleneck, the fetcher waits for room in the full
//     queue and each block waits there), two seconds into the run.
//   - synctls13.trace, synctls12.trace, synctls12full.trace: -tls -reconnect-every 2 (TLS 1.3,
//     then -tls-version 1.2, then 1.2 with -tls-no-resume), so the syncer redials its peers inside
//     importBlock tasks and every redial is a TLS handshake, a resumed one after the first but
//     with -tls-no-resume; a second into the run, so the trace holds redials only.
//
// Regenerate with: go run synctraces.go [NAME.trace ...] (in this directory; all without names).
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
	"slices"
	"strings"
	"time"
)

// capture is how one trace is made: syncnode's flags and how long to let it run first.
type capture struct {
	name  string
	args  []string
	after time.Duration
}

var tlsArgs = []string{"-peers", "3", "-slow-peer", "1", "-tls", "-reconnect-every", "2"}

var captures = []capture{
	{"syncnode.trace", []string{"-peers", "3", "-slow-peer", "1", "-gc-pressure", "-otlp-endpoint", "127.0.0.1:1"}, 0},
	{"syncfsync.trace", []string{"-peers", "3", "-queue", "0", "-fsync-every", "1"}, 0},
	{"syncqueue.trace", []string{"-peers", "4", "-verify-cost", "3", "-queue", "2", "-fsync-every", "0",
		"-otlp-endpoint", "127.0.0.1:1"}, 2 * time.Second},
	{"synctls13.trace", append(slices.Clone(tlsArgs), "-tls-version", "1.3"), time.Second},
	{"synctls12.trace", append(slices.Clone(tlsArgs), "-tls-version", "1.2"), time.Second},
	{"synctls12full.trace", append(slices.Clone(tlsArgs), "-tls-version", "1.2", "-tls-no-resume"), time.Second},
}

func main() {
	for _, c := range captures {
		if len(os.Args) > 1 && !slices.Contains(os.Args[1:], c.name) {
			continue
		}
		c.run()
		log.Printf("%s written", c.name)
	}
}

// run starts syncnode with c's flags, waits c.after, and writes one second of its trace.
func (c capture) run() {
	cmd := exec.Command("go", append([]string{"run", "../../../../examples/syncnode",
		"-pprof-addr", "127.0.0.1:0", "-duration", "20s", "-log-every", "0"}, c.args...)...)
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
	time.Sleep(c.after)
	resp, err := http.Get(base + "/debug/pprof/trace?seconds=1")
	if err != nil {
		log.Fatal(err)
	}
	defer resp.Body.Close()
	out, err := os.Create(c.name)
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
