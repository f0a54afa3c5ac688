// Command demoreport prints the slowest block import that Jaeger holds: its trace URL, its
// time breakdown, what the kernel and the runtime contributed, and gostitch's diagnosis.
//
//	go run ./examples/demoreport -jaeger http://127.0.0.1:16686
//
// With -url it prints only that trace's Jaeger UI URL (scripts/screenshot.sh opens it).
package main

import (
	"cmp"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"
)

// jaegerTrace is the part of Jaeger's query API answer the report reads.
type jaegerTrace struct {
	TraceID string `json:"traceID"`
	Spans   []struct {
		SpanID        string `json:"spanID"`
		OperationName string `json:"operationName"`
		Duration      int64  `json:"duration"` // µs
		Tags          []tag  `json:"tags"`
		Logs          []struct {
			Fields []tag `json:"fields"`
		} `json:"logs"`
	} `json:"spans"`
}

type tag struct {
	Key   string `json:"key"`
	Value any    `json:"value"`
}

func main() {
	base := flag.String("jaeger", "http://127.0.0.1:16686", "Jaeger query base URL")
	service := flag.String("service", "syncnode", "service whose importBlock tasks to rank")
	onlyURL := flag.Bool("url", false, "print only the Jaeger UI URL of the slowest import's trace")
	flag.Parse()
	run := report
	if *onlyURL {
		run = printURL
	}
	if err := run(os.Stdout, *base, *service); err != nil {
		fmt.Fprintln(os.Stderr, "demoreport:", err)
		os.Exit(1)
	}
}

// report writes the slowest importBlock task of service to w.
func report(w io.Writer, base, service string) error {
	traces, err := fetch(base, service)
	if err != nil {
		return err
	}
	slowest, task, err := findSlowest(traces, base, service)
	if err != nil {
		return err
	}
	imports, withKernel, readWaits := kernelJoined(traces)
	fmt.Fprintf(w, "kernel view in block traces: %d of %d block imports hold eBPF socket spans (%d tcp read wait spans)\n",
		withKernel, imports, readWaits)
	sp := slowest.Spans[task]
	fmt.Fprintf(w, "slowest block import: %v, trace %s of %d spans\n", time.Duration(sp.Duration)*time.Microsecond, slowest.TraceID, len(slowest.Spans))
	fmt.Fprintf(w, "  %s/trace/%s\n  %s/api/traces/%s\n", base, slowest.TraceID, base, slowest.TraceID)

	fmt.Fprintln(w, "  where its time went:")
	var parts []tag
	for _, t := range sp.Tags {
		if strings.HasPrefix(t.Key, "gostitch.time.") {
			parts = append(parts, t)
		}
	}
	slices.SortFunc(parts, func(a, b tag) int { return cmp.Compare(number(b.Value), number(a.Value)) })
	for _, t := range parts {
		if ns := number(t.Value); ns > 0 {
			fmt.Fprintf(w, "    %-36s %10v\n", strings.TrimPrefix(t.Key, "gostitch.time."), time.Duration(ns).Round(time.Microsecond))
		}
	}
	bySource := map[string]int{}
	for _, s := range slowest.Spans {
		bySource[cmp.Or(tagValue(s.Tags, "gostitch.source"), "app")]++
	}
	fmt.Fprintf(w, "  spans by source: %v\n", bySource)
	for _, l := range sp.Logs {
		if tagValue(l.Fields, "event") == "gostitch.diagnosis" {
			p95 := time.Duration(number(fieldValue(l.Fields, "gostitch.diagnosis.threshold")))
			fmt.Fprintf(w, "  diagnosis (slower than the p95 of its type, %v): %s\n",
				p95.Round(time.Microsecond), tagValue(l.Fields, "gostitch.diagnosis.summary"))
		}
	}
	return nil
}

// printURL writes the Jaeger UI URL of the slowest importBlock task's trace to w.
func printURL(w io.Writer, base, service string) error {
	traces, err := fetch(base, service)
	if err != nil {
		return err
	}
	slowest, _, err := findSlowest(traces, base, service)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%s/trace/%s\n", base, slowest.TraceID)
	return err
}

// isImport says whether a span is an importBlock task span gostitch derived from the execution trace.
func isImport(name string, tags []tag) bool {
	return name == "importBlock" && tagValue(tags, "gostitch.source") == "go.trace"
}

// kernelJoined counts the traces holding a block import, those of them that also hold spans of
// the eBPF source (joined into the import by the kernel's view), and their tcp read wait spans.
func kernelJoined(traces []jaegerTrace) (imports, withKernel, readWaits int) {
	for _, tr := range traces {
		hasImport, kernel, waits := false, 0, 0
		for _, sp := range tr.Spans {
			hasImport = hasImport || isImport(sp.OperationName, sp.Tags)
			if tagValue(sp.Tags, "gostitch.source") == "ebpf" {
				kernel++
				if sp.OperationName == "tcp read wait" {
					waits++
				}
			}
		}
		if !hasImport {
			continue
		}
		imports++
		readWaits += waits
		if kernel > 0 {
			withKernel++
		}
	}
	return imports, withKernel, readWaits
}

// findSlowest returns the trace among traces holding the longest importBlock task span of
// service and that span's index in it.
func findSlowest(traces []jaegerTrace, base, service string) (*jaegerTrace, int, error) {
	var slowest *jaegerTrace
	task, longest := -1, int64(-1)
	for ti := range traces {
		tr := &traces[ti]
		for i, sp := range tr.Spans {
			if isImport(sp.OperationName, sp.Tags) && sp.Duration > longest {
				slowest, task, longest = tr, i, sp.Duration
			}
		}
	}
	if slowest == nil {
		return nil, -1, fmt.Errorf("no importBlock task spans of %q in Jaeger at %s yet", service, base)
	}
	return slowest, task, nil
}

func fetch(base, service string) ([]jaegerTrace, error) {
	q := url.Values{"service": {service}, "operation": {"importBlock"}, "limit": {"10000"}, "lookback": {"1h"}}
	resp, err := http.Get(base + "/api/traces?" + q.Encode())
	if err != nil {
		return nil, fmt.Errorf("query Jaeger: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("query Jaeger: %s", resp.Status)
	}
	var body struct {
		Data []jaegerTrace `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return nil, fmt.Errorf("decode Jaeger's answer: %w", err)
	}
	return body.Data, nil
}

func tagValue(tags []tag, key string) string {
	if v := fieldValue(tags, key); v != nil {
		return fmt.Sprint(v)
	}
	return ""
}

func fieldValue(tags []tag, key string) any {
	for _, t := range tags {
		if t.Key == key {
			return t.Value
		}
	}
	return nil
}

// number reads a numeric tag (Jaeger's JSON gives int64 tags as numbers).
func number(v any) int64 {
	f, _ := v.(float64)
	return int64(f)
}
