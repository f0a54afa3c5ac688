// Command synctls regenerates synctls13.trace, synctls12.trace and synctls12full.trace: it runs
// the demo workload examples/syncnode with -tls -reconnect-every 2 (TLS 1.3, then -tls-version
// 1.2, then 1.2 with -tls-no-resume), so the syncer redials its peers inside importBlock tasks
// and every redial is a TLS handshake, a resumed one after the first but with -tls-no-resume,
// and fetches one second of its execution trace from net/http/pprof.
//
// Regenerate with: go run synctls.go (in this directory); go run synctls.go full writes only
// synctls12full.trace.
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
	if len(os.Args) > 1 && os.Args[1] == "full" { // the full TLS 1.2 handshakes only
		capture("1.2", "synctls12full.trace", "-tls-no-resume")
		return
	}
	for _, version := range []string{"1.3", "1.2"} {
		capture(version, "synctls"+strings.ReplaceAll(version, ".", "")+".trace")
	}
	capture("1.2", "synctls12full.trace", "-tls-no-resume")
}

// capture runs syncnode speaking TLS up to version, with args, and writes one second of its
// trace to name.
func capture(version, name string, args ...string) {
	cmd := exec.Command("go", append([]string{"run", "../../../../examples/syncnode",
		"-peers", "3", "-slow-peer", "1", "-tls", "-tls-version", version, "-reconnect-every", "2",
		"-pprof-addr", "127.0.0.1:0", "-duration", "20s", "-log-every", "0"}, args...)...)
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
	time.Sleep(time.Second) // past the first connections: the trace holds redials only
	resp, err := http.Get(base + "/debug/pprof/trace?seconds=1")
	if err != nil {
		log.Fatal(err)
	}
	defer resp.Body.Close()
	out, err := os.Create(name)
	if err != nil {
		log.Fatal(err)
	}
	if _, err := io.Copy(out, resp.Body); err != nil {
		log.Fatal(err)
	}
	if err := out.Close(); err != nil {
		log.Fatal(err)
	}
	log.Printf("%s written", name)
}
