#!/usr/bin/env bash
# docs/jaeger-trace.png: the Jaeger UI page of the slowest block import of the demo (the app's
# importBlock span with gostitch's go.trace and ebpf spans under it), taken by headless Chromium.
# Runs the demo's setup (scripts/lib.sh) for SCREENSHOT_SECONDS (default 40) with Jaeger serving
# the UI assets in JAEGER_UI_ASSETS (default $CACHE/jaeger-ui), then opens the trace's page.
set -euo pipefail
cd "$(dirname "$0")/.."

. scripts/lib.sh

jaeger=${JAEGER:?JAEGER names the Jaeger binary (make screenshot sets it)}
cache=${CACHE:-$HOME/.cache/gostitch}
seconds=${SCREENSHOT_SECONDS:-40}
out=${SCREENSHOT_OUT:-docs/jaeger-trace.png}
export JAEGER_UI_ASSETS=${JAEGER_UI_ASSETS:-$cache/jaeger-ui}

# A Jaeger built from the Go module embeds only a placeholder page: the UI's built assets come
# from jaeger-ui's release archives, which no registry this project uses (Go module proxy, npm,
# Debian) carries. The directory must hold the build's index.html and static/.
if [ ! -f "$JAEGER_UI_ASSETS/index.html" ]; then
  cat >&2 <<EOF
screenshot: no built Jaeger UI in $JAEGER_UI_ASSETS (index.html and static/ expected).
  The Jaeger binary built from the Go module serves only a placeholder page, and the built UI is
  published as jaeger-ui release archives only: not on npm, Debian or the Go module proxy.
  Unpack a jaeger-ui release build there, or set JAEGER_UI_ASSETS to such a directory.
EOF
  exit 1
fi

if ! command -v chromium >/dev/null; then
  echo "== installing chromium (apt-get)"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi

demo_init screenshot
go build -o "$work/demoreport" ./examples/demoreport

echo "== jaeger: UI from $JAEGER_UI_ASSETS on http://127.0.0.1:16686 (log: $work/jaeger.log)"
start_jaeger "$jaeger"
echo "== syncnode: 4 peers, peer 2 replies 20ms late, GC pressure, OTel spans to the collector"
start_syncnode
echo "== collector: dist/otelcol-gostitch on examples/demo.yaml for ${seconds}s (log: $work/collector.log)"
start_collector basic
for ((t = 10; t <= seconds; t += 10)); do
  sleep 10
  kill -0 "$collector_pid" 2>/dev/null || { echo "collector exited:"; tail -20 "$work/collector.log"; exit 1; }
done

# The collector flushes to Jaeger and stops, so that what Jaeger holds no longer changes.
stop 1
url=""
for _ in $(seq 30); do
  url=$("$work/demoreport" -jaeger http://127.0.0.1:16686 -url 2>"$work/demoreport.err") && break
  url=""
  sleep 2
done
[ -n "$url" ] || { echo "no importBlock trace in Jaeger:"; cat "$work/demoreport.err"; exit 1; }
"$work/demoreport" -jaeger http://127.0.0.1:16686 | sed 's/^/   /'

echo "== chromium: $url -> $out"
mkdir -p "$(dirname "$out")"
chromium --headless --no-sandbox --disable-gpu --hide-scrollbars --user-data-dir="$work/chromium" \
  --window-size=1600,1000 --virtual-time-budget=20000 --screenshot="$out" "$url" >"$work/chromium.log" 2>&1 ||
  { echo "chromium failed:"; tail -5 "$work/chromium.log"; exit 1; }
stop
trap - EXIT
size=$(stat -c %s "$out")
echo "   $out: $size bytes"
[ "$size" -lt 1048576 ] || echo "   warning: over 1 MiB" >&2
echo "logs in $work"
