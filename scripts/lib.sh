# Pieces of the demo setup shared by scripts/demo.sh and scripts/screenshot.sh; source it from the
# repository root after `set -euo pipefail`. Each process started goes into pids; stop ends them
# one by one, the last started first (so the collector flushes to a Jaeger still running), and the
# traps set by demo_init call it on exit and on Ctrl-C.

# demo_init NAME: a fresh work directory /tmp/gostitch-NAME.XXXXXX in $work for the logs.
demo_init() {
  work=$(mktemp -d "/tmp/gostitch-$1.XXXXXX")
  pids=()
  trap 'stop; echo; echo "stopped; logs in $work"; exit 130' INT TERM
  trap stop EXIT
}

# stop [KEEP]: ends every process started but the first KEEP (default 0).
stop() {
  local i keep=${1:-0}
  for ((i = ${#pids[@]} - 1; i >= keep; i--)); do
    kill -INT "${pids[i]}" 2>/dev/null || true
    wait "${pids[i]}" 2>/dev/null || true
    unset 'pids[i]'
  done
}

# start_jaeger BINARY: Jaeger on examples/jaeger.yaml, query API (and UI) on 127.0.0.1:16686, OTLP
# on 127.0.0.1:14317; JAEGER_UI_ASSETS, when set, names the UI assets directory it serves.
# Returns once the query API answers.
start_jaeger() {
  local bin=$1
  JAEGER_QUERY_PORT=16686 JAEGER_QUERY_GRPC_PORT=16685 JAEGER_OTLP_PORT=14317 \
    "$bin" --config examples/jaeger.yaml >"$work/jaeger.log" 2>&1 &
  jaeger_pid=$!
  pids+=("$jaeger_pid")
  for _ in $(seq 300); do
    curl -fs http://127.0.0.1:16686/api/services >/dev/null 2>&1 && return 0
    kill -0 "$jaeger_pid" 2>/dev/null || { echo "jaeger exited:"; tail -5 "$work/jaeger.log"; exit 1; }
    sleep 0.1
  done
  echo "jaeger did not answer on 127.0.0.1:16686 in 30s:"; tail -5 "$work/jaeger.log"; exit 1
}

# start_syncnode: bin/syncnode with 4 peers, peer 2 replying 20ms late, GC pressure, its OTel spans
# to the collector; sets syncnode_addr to its pprof address once it listens.
start_syncnode() {
  bin/syncnode -pprof-addr 127.0.0.1:0 -peers 4 -slow-peer 2 -gc-pressure -otlp-endpoint 127.0.0.1:4317 \
    -truth "$work/truth.jsonl" >"$work/syncnode.log" 2>&1 &
  pids+=($!)
  syncnode_addr=""
  for _ in $(seq 100); do
    syncnode_addr=$(sed -n 's/^pprof listening on //p;T;q' "$work/syncnode.log")
    [ -n "$syncnode_addr" ] && return 0
    sleep 0.1
  done
  echo "syncnode did not start:"; cat "$work/syncnode.log"; exit 1
}

# start_collector VERBOSITY: dist/otelcol-gostitch on examples/demo.yaml watching syncnode_addr.
start_collector() {
  SYNCNODE_PPROF="$syncnode_addr" DEMO_VERBOSITY=$1 \
    dist/otelcol-gostitch --config examples/demo.yaml --feature-gates=service.profilesSupport >"$work/collector.log" 2>&1 &
  collector_pid=$!
  pids+=("$collector_pid")
}

# run_collector SECONDS: waits that long, printing every 10s what the collector emitted so far
# (counted in its debug exporter's detailed output); fails when the collector exits.
run_collector() {
  local t
  for ((t = 10; t <= $1; t += 10)); do
    sleep 10
    kill -0 "$collector_pid" 2>/dev/null || { echo "collector exited:"; tail -20 "$work/collector.log"; exit 1; }
    printf '   %3ds: %s spans, %s metric data points, %s profile samples so far\n' "$t" \
      "$(grep -c '^Span #' "$work/collector.log" || true)" \
      "$(grep -c '^NumberDataPoints #\|^HistogramDataPoints #' "$work/collector.log" || true)" \
      "$(grep -c '^    Sample #' "$work/collector.log" || true)"
  done
}

# kernel_view: says in words whether the collector's eBPF socket source came up, from its log:
# on with every program, on with some missing (which, and what is lost), or off and why.
kernel_view() {
  local line
  if line=$(grep -m1 'eBPF socket source on' "$work/collector.log"); then
    if grep -q '"missing": \[[^]]' <<<"$line"; then
      echo "   kernel view: ON, partly: $(grep -o '"missing": \[[^]]*\]' <<<"$line" | cut -c1-400)"
    else
      echo "   kernel view: ON, every eBPF program attached"
    fi
  elif line=$(grep -m1 'eBPF socket source off' "$work/collector.log"); then
    echo "   kernel view: OFF, no socket events: $(grep -o '"error": "[^"]*"' <<<"$line" | cut -c1-400)"
  else
    echo "   kernel view: OFF (ebpf.mode is off, or the collector said nothing about eBPF)"
  fi
}
