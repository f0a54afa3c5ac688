#!/usr/bin/env bash
# The Jaeger UI pages in docs/, taken by headless Chromium from a real run:
#   docs/jaeger-trace.png    the demo's slowest block import whose trace holds a kernel tcp read
#                            wait: syncnode's importBlock span, gostitch's go.trace task with its
#                            regions and block spans under it, and the ebpf tcp read wait inside;
#   docs/jaeger-otelapp.png  the same for a GET /work request of examples/otelapp (an OTel service
#                            with no gostitch code) on examples/otel-app.yaml: the app's spans, the
#                            SDK's task of each under it, and the runtime's and kernel's spans inside.
# SCREENSHOTS (default "demo otelapp") picks which; each scenario runs SCREENSHOT_SECONDS (default
# 40). Jaeger serves the built UI in JAEGER_UI_ASSETS (default $CACHE/jaeger-ui): docs/screenshots.md
# says how to build it. The page opens with the details of the trace's longest ebpf span (uiFind) and
# every branch expanded (scripts/screenshot-ui-config.js).
set -euo pipefail
cd "$(dirname "$0")/.."

. scripts/lib.sh

jaeger=${JAEGER:?JAEGER names the Jaeger binary (make screenshot sets it)}
cache=${CACHE:-$HOME/.cache/gostitch}
seconds=${SCREENSHOT_SECONDS:-40}
shots=${SCREENSHOTS:-demo otelapp}
export JAEGER_UI_ASSETS=${JAEGER_UI_ASSETS:-$cache/jaeger-ui}
export JAEGER_UI_CONFIG=$PWD/scripts/screenshot-ui-config.js

if [ ! -f "$JAEGER_UI_ASSETS/index.html" ]; then
  cat >&2 <<EOF
screenshot: no built Jaeger UI in $JAEGER_UI_ASSETS (index.html and static/ expected).
  The Jaeger binary built from the Go module serves only a placeholder page. Build the UI once
  (about 5 minutes, Node >= 20 and npm) as docs/screenshots.md says: jaegertracing/jaeger-ui at
  commit 4606e0e7aba353224c0a7d1d2588366da3993f24 (v1.74.0, the one Jaeger v1.75.0 names),
  npm install, npm run build, then copy packages/jaeger-ui/build to $JAEGER_UI_ASSETS
  (or set JAEGER_UI_ASSETS to that directory).
EOF
  exit 1
fi

missing=()
command -v chromium >/dev/null || missing+=(chromium)
command -v jq >/dev/null || missing+=(jq)
if [ ${#missing[@]} -gt 0 ]; then
  echo "== installing ${missing[*]} (apt-get)"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# pick_trace SERVICE [OPERATION]: "TRACE_ID SPAN_ID SPANS" of the trace in Jaeger with the longest
# app span (one without gostitch.source) of SERVICE among those where a go.trace span is the child of
# an app span and that hold an ebpf span, those with a tcp read wait first; SPAN_ID is its longest
# tcp read wait (else its longest ebpf span), SPANS its span count. Prints nothing when none does.
pick_trace() {
  local q=(--data-urlencode "service=$1" -d limit=5000 -d lookback=1h)
  [ -z "${2:-}" ] || q+=(--data-urlencode "operation=$2")
  curl -fsS -G "${q[@]}" http://127.0.0.1:16686/api/traces | jq -r '
    def src: first(.tags[]? | select(.key == "gostitch.source") | .value) // "app";
    [.data[]
      | ([.spans[] | select(src == "app") | .spanID]) as $app
      | select(any(.spans[]; src == "go.trace" and
          any(.references[]?; .refType == "CHILD_OF" and (.spanID | IN($app[])))))
      | select(any(.spans[]; src == "ebpf"))
      | ([.spans[] | select(src == "ebpf")] | max_by([.operationName == "tcp read wait", .duration])) as $kernel
      | {traceID,
         rank: [$kernel.operationName == "tcp read wait", ([.spans[] | select(src == "app") | .duration] | max)],
         focus: $kernel.spanID,
         spans: (.spans | length)}]
    | max_by(.rank) // empty
    | "\(.traceID) \(.focus) \(.spans)"'
}

# screenshot SERVICE OPERATION OUT: waits until Jaeger holds a trace pick_trace accepts, then saves
# its Jaeger UI page, with the picked ebpf span's details open, to OUT; the window is as tall as the
# trace's rows (28 px each) and the details (820 px with the header) need, up to 2400 px.
screenshot() {
  local picked="" trace span spans url height size
  for _ in $(seq 30); do
    picked=$(pick_trace "$1" "$2") && [ -n "$picked" ] && break
    sleep 2
  done
  [ -n "$picked" ] || {
    echo "no $1 trace in Jaeger with go.trace spans under the app's and ebpf spans (a longer SCREENSHOT_SECONDS finds more)"
    exit 1
  }
  read -r trace span spans <<<"$picked"
  url="http://127.0.0.1:16686/trace/$trace?uiFind=$span"
  height=$((spans * 28 + 820 < 2400 ? spans * 28 + 820 : 2400))
  echo "== chromium: $url -> $3"
  mkdir -p "$(dirname "$3")"
  chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
    --disable-background-networking --disable-component-update --disable-sync --hide-scrollbars \
    --user-data-dir="$(mktemp -d "$work/chromium.XXXXXX")" --window-size=1600,"$height" \
    --virtual-time-budget=20000 --screenshot="$3" "$url" >"$work/chromium.log" 2>&1 ||
    { echo "chromium failed:"; tail -5 "$work/chromium.log"; exit 1; }
  size=$(stat -c %s "$3")
  echo "   $3: $size bytes"
  [ "$size" -lt 1048576 ] || echo "   warning: over 1 MiB" >&2
}

# wait_collector LOG: lets the collector run for $seconds, failing (with the end of LOG) when it exits.
wait_collector() {
  local t
  for ((t = 10; t <= seconds; t += 10)); do
    sleep 10
    kill -0 "$collector_pid" 2>/dev/null || { echo "collector exited:"; tail -20 "$1"; exit 1; }
  done
}

demo_init screenshot
echo "== jaeger: UI from $JAEGER_UI_ASSETS on http://127.0.0.1:16686 (log: $work/jaeger.log)"
start_jaeger "$jaeger"

if [[ " $shots " == *" demo "* ]]; then
  echo "== syncnode: 4 peers, peer 2 replies 20ms late, GC pressure, OTel spans to the collector"
  start_syncnode
  echo "== collector: dist/otelcol-gostitch on examples/demo.yaml for ${seconds}s (log: $work/collector.log)"
  start_collector basic
  wait_collector "$work/collector.log"
  stop 1 # the collector flushes to Jaeger and stops, so that what Jaeger holds no longer changes
  go run ./examples/demoreport -jaeger http://127.0.0.1:16686 | sed 's/^/   /'
  screenshot syncnode importBlock docs/jaeger-trace.png
fi

if [[ " $shots " == *" otelapp "* ]]; then
  go build -o "$work/otelapp" ./examples/otelapp
  echo "== otelapp: HTTP and gRPC load, 100 requests/s, backend 2ms late, a contended lock (log: $work/otelapp.log)"
  "$work/otelapp" -http 127.0.0.1:0 -grpc 127.0.0.1:0 -pprof 127.0.0.1:0 -otlp 127.0.0.1:4317 \
    -load-rate 100 -load-duration 1h -slow-backend 2ms -lock >"$work/otelapp.log" 2>&1 &
  otelapp_pid=$!
  pids+=("$otelapp_pid")
  otelapp_pprof=""
  for _ in $(seq 100); do
    otelapp_pprof=$(sed -n 's/^.*pprof listening on //p;T;q' "$work/otelapp.log")
    [ -n "$otelapp_pprof" ] && break
    sleep 0.1
  done
  [ -n "$otelapp_pprof" ] || { echo "otelapp did not start:"; cat "$work/otelapp.log"; exit 1; }
  echo "== collector: dist/otelcol-gostitch on examples/otel-app.yaml for ${seconds}s (log: $work/collector-otelapp.log)"
  GOSTITCH_TARGET=$otelapp_pprof GOSTITCH_EXPORT_OTLP=127.0.0.1:14317 GOSTITCH_HEALTH=127.0.0.1:0 \
    GOSTITCH_TELEMETRY_PORT=0 dist/otelcol-gostitch --config examples/otel-app.yaml \
    --feature-gates=service.profilesSupport >"$work/collector-otelapp.log" 2>&1 &
  collector_pid=$!
  pids+=("$collector_pid")
  wait_collector "$work/collector-otelapp.log"
  # otelapp stops first, flushing its last spans to the collector, which then flushes to Jaeger.
  # (Jaeger takes traces only: the collector logs the metrics and profiles it refuses, and drops them.)
  kill -INT "$otelapp_pid"
  wait "$otelapp_pid" || true
  stop 1
  screenshot otelapp "GET /work" docs/jaeger-otelapp.png
fi

stop
trap - EXIT
echo "logs in $work"
