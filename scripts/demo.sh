#!/usr/bin/env bash
# The demo: Jaeger, syncnode syncing blocks with a slow peer and GC pressure (its own OTel spans
# sent to the collector), and the collector with gostitch; runs DEMO_SECONDS (default 60), then
# prints what was emitted and the slowest block import as Jaeger holds it. Ctrl-C stops it.
set -euo pipefail
cd "$(dirname "$0")/.."

. scripts/lib.sh

seconds=${DEMO_SECONDS:-60}
demo_init demo

jaeger=${JAEGER:?JAEGER names the Jaeger binary (make demo sets it)}
echo "== jaeger: UI and API on http://127.0.0.1:16686 (log: $work/jaeger.log)"
start_jaeger "$jaeger"

echo "== syncnode: 4 peers, peer 2 replies 20ms late, GC pressure, OTel spans to the collector"
start_syncnode
echo "   pprof at $syncnode_addr, ground truth in $work/truth.jsonl"

echo "== collector: dist/otelcol-gostitch on examples/demo.yaml for ${seconds}s (log: $work/collector.log)"
start_collector detailed
run_collector "$seconds"
echo "== the slowest block import in Jaeger"
go run ./examples/demoreport -jaeger http://127.0.0.1:16686 || true
stop
trap - EXIT

echo "== summary"
kernel_view
echo "   syncnode $(grep '^summary:' "$work/syncnode.log" || tail -1 "$work/syncnode.log")"
for src in go.trace ebpf pprof; do
  printf '   spans and scopes tagged gostitch.source=%-9s %s\n' "$src:" "$(grep -c "gostitch.source: Str($src)" "$work/collector.log" || true)"
done
echo "   most frequent span names:"
# awk, not head, reads to the end: a reader that stops early fails the pipeline (SIGPIPE, pipefail)
sed -n 's/^ *Name *: \(.*\)$/\1/p' "$work/collector.log" | sort | uniq -c | sort -rn | awk 'NR <= 10 { print "   " $0 }'
grep -P '\t(warn|error)\t' "$work/collector.log" | awk 'NR <= 5 { print "   log: " substr($0, 1, 240) }' || true
echo "logs in $work"
