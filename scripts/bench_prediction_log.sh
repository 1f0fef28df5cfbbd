#!/usr/bin/env bash
# Prediction-log overhead: the same pinned wrk load (../shared/peers/wrk_any.sh, PIN=1, 1-row
# body) against `serve` with the log off, then on, in one run; then rows in the database against
# the 200 answers counted by /metrics.
# Usage: scripts/bench_prediction_log.sh MODEL.finbeh [OUT_DIR=/tmp/mlog-bench]
# Needs: cargo build --release --example serve; wrk, taskset, curl, sqlite3; the peers' bodies
# (BENCH_DIR, made by wrk_any.sh from /tmp/peers-data/data.csv when missing).
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
# ../shared/peers from the main checkout; a worktree under wt/ looks one level further up.
PEERS=${PEERS:-$ROOT/../shared/peers}
[ -d "$PEERS" ] || PEERS=$ROOT/../../shared/peers
MODEL=${1:?usage: bench_prediction_log.sh MODEL.finbeh [OUT_DIR]}
OUT=${2:-/tmp/mlog-bench}
BIN=${BIN:-$ROOT/target/release/examples/serve}
PORT=${PORT:-5731}
export DURATION=${DURATION:-15} BODIES=1 PIN=1
mkdir -p "$OUT"
SRV=""
trap '[ -n "$SRV" ] && kill -TERM "$SRV" 2>/dev/null || true' EXIT

start() { # $1 = log on (true/false)
  rm -f "$OUT/log.sqlite" "$OUT/log.sqlite-wal" "$OUT/log.sqlite-shm"
  FINBEH__MONITOR__ENABLED=$1 FINBEH__MONITOR__DATABASE_PATH="$OUT/log.sqlite" \
    FINBEH__SERVE__WORKER_THREADS=1 FINBEH__LOGGING__LEVEL=warn \
    taskset -c 1 "$BIN" --model "$MODEL" --port "$PORT" >"$OUT/serve-$1.log" 2>&1 &
  SRV=$!
  until curl -sf -o /dev/null "http://127.0.0.1:$PORT/health/ready"; do
    kill -0 "$SRV" 2>/dev/null || { echo "serve died"; cat "$OUT/serve-$1.log"; exit 1; }
    sleep 0.01
  done
}
stop() { kill -TERM "$SRV"; wait "$SRV" || true; SRV=""; }
answered_200() {
  curl -sf "http://127.0.0.1:$PORT/metrics" |
    awk '/^finbeh_http_requests_total\{route="\/score",status="200"\}/ {print $2}'
}

for on in false true; do
  echo "## prediction log enabled=$on"
  start "$on"
  "$PEERS/wrk_any.sh" "http://127.0.0.1:$PORT/score" | tee "$OUT/wrk-log-$on.txt"
  ok=$(answered_200)
  dropped=$(curl -sf "http://127.0.0.1:$PORT/metrics" | awk '/^finbeh_monitor_dropped_rows_total/ {print $2}')
  stop # SIGTERM: the example closes the log, committing what is pending
  echo "answered_200=$ok dropped_rows=${dropped:-n/a}"
  if [ "$on" = true ]; then
    echo "rows_in_db=$(sqlite3 "$OUT/log.sqlite" 'SELECT count(*) FROM predictions')"
  fi
done
off=$(awk '/RESULT/ {sub("rps=", "", $2); print $2}' "$OUT/wrk-log-false.txt")
on=$(awk '/RESULT/ {sub("rps=", "", $2); print $2}' "$OUT/wrk-log-true.txt")
echo "throughput_ratio_on_over_off=$(awk -v a="$on" -v b="$off" 'BEGIN {printf "%.3f", a / b}')"
rm -f "$OUT/log.sqlite" "$OUT/log.sqlite-wal" "$OUT/log.sqlite-shm"
