#!/usr/bin/env bash
# The demo: Jaeger, syncnode syncing blocks with a slow peer and GC pressure (its own OTel spans
# sent to the collector), and the collector with gostitch; runs DEMO_SECONDS (default 60), then
# prints what was emitted and the slowest block import as Jaeger holds it. Ctrl-C stops it.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${DEMO_SECONDS:-60}
work=$(mktemp -d /tmp/gostitch-demo.XXXXXX)
pids=()
stop() {
  for p in "${pids[@]}"; do kill -INT "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
}
trap 'stop; echo; echo "stopped; logs in $work"; exit 130' INT TERM
trap stop EXIT

jaeger=${JAEGER:?JAEGER names the Jaeger binary (make demo sets it)}
echo "== jaeger: UI and API on http://127.0.0.1:16686 (log: $work/jaeger.log)"
JAEGER_QUERY_PORT=16686 JAEGER_QUERY_GRPC_PORT=16685 JAEGER_OTLP_PORT=14317 \
  "$jaeger" --config examples/jaeger.yaml >"$work/jaeger.log" 2>&1 &
pids+=($!)
for _ in $(seq 300); do
  curl -fs http://127.0.0.1:16686/api/services >/dev/null 2>&1 && break
  kill -0 "${pids[0]}" 2>/dev/null || { echo "jaeger exited:"; tail -5 "$work/jaeger.log"; exit 1; }
  sleep 0.1
done

echo "== syncnode: 4 peers, peer 2 replies 20ms late, GC pressure, OTel spans to the collector"
bin/syncnode -pprof-addr 127.0.0.1:0 -peers 4 -slow-peer 2 -gc-pressure -otlp-endpoint 127.0.0.1:4317 \
  -truth "$work/truth.jsonl" >"$work/syncnode.log" 2>&1 &
pids+=($!)
addr=""
for _ in $(seq 100); do
  addr=$(sed -n 's/^pprof listening on //p' "$work/syncnode.log" | head -1)
  [ -n "$addr" ] && break
  sleep 0.1
done
[ -n "$addr" ] || { echo "syncnode did not start:"; cat "$work/syncnode.log"; exit 1; }
echo "   pprof at $addr, ground truth in $work/truth.jsonl"

echo "== collector: dist/otelcol-gostitch on examples/demo.yaml for ${seconds}s (log: $work/collector.log)"
SYNCNODE_PPROF="$addr" DEMO_VERBOSITY=detailed \
  dist/otelcol-gostitch --config examples/demo.yaml --feature-gates=service.profilesSupport >"$work/collector.log" 2>&1 &
pids+=($!)

for ((t = 10; t <= seconds; t += 10)); do
  sleep 10
  kill -0 "${pids[2]}" 2>/dev/null || { echo "collector exited:"; tail -20 "$work/collector.log"; exit 1; }
  printf '   %3ds: %s spans, %s metric data points, %s profile samples so far\n' "$t" \
    "$(grep -c '^Span #' "$work/collector.log" || true)" \
    "$(grep -c '^NumberDataPoints #\|^HistogramDataPoints #' "$work/collector.log" || true)" \
    "$(grep -c '^    Sample #' "$work/collector.log" || true)"
done
echo "== the slowest block import in Jaeger"
go run ./examples/demoreport -jaeger http://127.0.0.1:16686 || true
stop
trap - EXIT

echo "== summary"
echo "   syncnode $(grep '^summary:' "$work/syncnode.log" || tail -1 "$work/syncnode.log")"
for src in go.trace ebpf pprof; do
  printf '   spans and scopes tagged gostitch.source=%-9s %s\n' "$src:" "$(grep -c "gostitch.source: Str($src)" "$work/collector.log" || true)"
done
echo "   most frequent span names:"
sed -n 's/^ *Name *: \(.*\)$/\1/p' "$work/collector.log" | sort | uniq -c | sort -rn | head -10 | sed 's/^/   /'
grep -P '\t(warn|error)\t' "$work/collector.log" | head -5 | cut -c1-240 | sed 's/^/   log: /' || true
echo "logs in $work"
