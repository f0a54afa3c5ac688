#!/usr/bin/env bash
# default.pgo, the profile `make build` compiles the distribution with (-pgo), from the
# distribution doing its job: dist/otelcol-gostitch with the receiver's defaults (all six
# profiles, a 10 s CPU profile and execution trace, task_spans notable, eBPF when it can), but a
# window every 10 s, observing two real apps and exporting over OTLP gRPC to a second collector:
# examples/otelapp under 400 requests/s (its OTel spans joined by gostitchjoin) and
# bin/syncnode syncing with a slow peer. After a 20 s warm-up, the collector's CPU profile for
# PGO_SECONDS (default 150) from its pprof extension, compacted by `go tool pprof -proto`.
# Needs `make build` first; as root for the eBPF part. Ports 2431x and 1606x on loopback.
set -euo pipefail
cd "$(dirname "$0")/.."

. scripts/lib.sh

seconds=${PGO_SECONDS:-150}
out=${PGO_OUT:-default.pgo}
demo_init pgo

go build -o "$work/otelapp" ./examples/otelapp

cat >"$work/sink.yaml" <<'EOF'
receivers:
  otlp:
    protocols:
      grpc: {endpoint: 127.0.0.1:24317}
exporters:
  debug: {verbosity: basic}
service:
  pipelines:
    traces: {receivers: [otlp], exporters: [debug]}
    metrics: {receivers: [otlp], exporters: [debug]}
    profiles: {receivers: [otlp], exporters: [debug]}
  telemetry:
    metrics: {level: none}
EOF
cat >"$work/collector.yaml" <<'EOF'
receivers:
  otlp:
    protocols:
      grpc: {endpoint: 127.0.0.1:24318}
  gostitch:
    collection_interval: 10s
    targets:
      - {name: otelapp, endpoint: http://127.0.0.1:16061}
      - {name: syncnode, endpoint: http://127.0.0.1:16062}
processors:
  gostitchjoin:
  batch: {send_batch_size: 1024, send_batch_max_size: 1024}
exporters:
  otlp_grpc:
    endpoint: 127.0.0.1:24317
    tls: {insecure: true}
extensions:
  pprof: {endpoint: 127.0.0.1:24319}
service:
  extensions: [pprof]
  pipelines:
    traces/app: {receivers: [otlp], processors: [gostitchjoin, batch], exporters: [otlp_grpc]}
    traces/gostitch: {receivers: [gostitch], processors: [batch], exporters: [otlp_grpc]}
    metrics: {receivers: [gostitch], processors: [batch], exporters: [otlp_grpc]}
    profiles: {receivers: [gostitch], exporters: [otlp_grpc]}
  telemetry:
    metrics: {level: none}
EOF

dist/otelcol-gostitch --config "$work/sink.yaml" --feature-gates=service.profilesSupport >"$work/sink.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do (: </dev/tcp/127.0.0.1/24317) 2>/dev/null && break; sleep 0.1; done
dist/otelcol-gostitch --config "$work/collector.yaml" --feature-gates=service.profilesSupport >"$work/collector.log" 2>&1 &
collector_pid=$!
pids+=("$collector_pid")
"$work/otelapp" -http 127.0.0.1:0 -grpc 127.0.0.1:0 -pprof 127.0.0.1:16061 -otlp 127.0.0.1:24318 \
  -load-rate 400 -load-duration "$((seconds + 60))s" >"$work/otelapp.log" 2>&1 &
pids+=($!)
bin/syncnode -pprof-addr 127.0.0.1:16062 -peers 4 -slow-peer 2 -gc-pressure -fsync-every 0 -log-every 0 \
  -otlp-endpoint 127.0.0.1:24318 >"$work/syncnode.log" 2>&1 &
pids+=($!)

sleep 20
kill -0 "$collector_pid" 2>/dev/null || { echo "collector exited:"; tail -20 "$work/collector.log"; exit 1; }
echo "== the collector's CPU profile for ${seconds}s (logs in $work)"
curl -fsS -o "$work/cpu.pb.gz" "http://127.0.0.1:24319/debug/pprof/profile?seconds=$seconds"
go tool pprof -proto "$work/cpu.pb.gz" >"$out" 2>/dev/null
go tool pprof -top -nodecount 15 "$out" 2>/dev/null | sed -n '1,22p'
grep -P '\t(warn|error)\t' "$work/collector.log" | awk 'NR <= 5 { print "   log: " substr($0, 1, 240) }' || true
echo "wrote $out ($(stat -c %s "$out") bytes)"
