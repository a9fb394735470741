#!/usr/bin/env bash
# Measures the generator's own CPU cost against `loadgen sink` (a fast local OTLP sink) and
# prints one Markdown table row per run. Usage:
#   bench/loadgen/measure-cpu.sh DEVELOPERS INTERVAL DURATION [extra loadgen flags...]
#   e.g. bench/loadgen/measure-cpu.sh 10000 10s 90s
# The binary comes from tools/build-loadgen.sh. Ports 24317/24318 must be free.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
devs="$1" interval="$2" duration="$3"
shift 3
bin="$(bash "$repo/tools/build-loadgen.sh")/loadgen"
work="$(mktemp -d)"
trap 'kill "$sink_pid" 2>/dev/null || true; rm -rf "$work"' EXIT

"$bin" sink -grpc 127.0.0.1:24317 -http 127.0.0.1:24318 >"$work/sink.json" 2>"$work/sink.err" &
sink_pid=$!
sleep 0.5
"$bin" -developers "$devs" -interval "$interval" -duration "$duration" \
  -grpc-endpoint 127.0.0.1:24317 -http-endpoint http://127.0.0.1:24318 \
  -summary "$work/summary.json" "$@" 2>"$work/loadgen.err"
kill -TERM "$sink_pid"
wait "$sink_pid" || true

python3 - "$work/summary.json" "$work/sink.json" "$(nproc)" "$(cut -d' ' -f1 /proc/loadavg)" <<'PY'
import json, sys
s, sink = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
cfg, cpu, run = s["config"], s["cpu"], s["run"]
req = sum(s["requests"][sig]["all"]["requests"] for sig in ("metrics", "logs"))
acc = sum(s["requests"][sig]["all"]["accepted"] for sig in ("metrics", "logs"))
cpu_s = cpu["user_seconds"] + cpu["system_seconds"]
dev_minutes = cfg["developers"] * run["wall_seconds"] / cfg["interval_seconds"]
print(
    f"| {cfg['developers']} | {cfg['interval_seconds']:g}s | {run['wall_seconds']:.0f}s"
    f" | {req / run['wall_seconds']:.0f} ({acc}/{req} accepted)"
    f" | {cpu_s:.2f}s | {cpu['cores']:.3f} | {cpu['cores_per_1000_developers']:.4f}"
    f" | {cpu_s / req * 1e6:.0f} µs | {cpu_s / dev_minutes * 1e3:.2f} ms"
    f" | {s['schedule_lag_ms']['p99']:g} ms | {cpu['max_rss_mib']:.0f} MiB"
    f" | {sink['cpu_seconds'] / sink['wall_seconds']:.3f} | {sys.argv[4]} on {sys.argv[3]} cores |"
)
PY
