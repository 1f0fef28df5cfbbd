#!/usr/bin/env bash
# Prediction-log overhead: the same pinned wrk load (../shared/peers/wrk_any.sh, PIN=1, 1-row
# body) against `serve` with the log off, then on, in one run; then rows in the database against
# the 200 answers counted by /metrics.
# Usage: [REPEATS=3] [DURATION=15] scripts/bench_prediction_log.sh MODEL.finbeh [OUT_DIR=$OUT, else /tmp/mlog-bench]
# Needs: cargo build --release --example serve (or FINBEH_EXAMPLES=DIR holding serve); wrk, taskset, curl, sqlite3; the peers' bodies
# (BENCH_DIR, made by wrk_any.sh from /tmp/peers-data/data.csv when missing).
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
# ../shared/peers from the main checkout; a worktree under wt/ looks one level further up.
PEERS=${PEERS:-$ROOT/../shared/peers}
[ -d "$PEERS" ] || PEERS=$ROOT/../../shared/peers
MODEL=${1:?usage: bench_prediction_log.sh MODEL.finbeh [OUT_DIR]}
OUT=${2:-${OUT:-/tmp/mlog-bench}}
BIN=${BIN:-${FINBEH_EXAMPLES:-$ROOT/target/release/examples}/serve}
PORT=${PORT:-5731}
# PIN=1 (default): wrk on core 0, the server (one worker thread, and the log's writer) on core 1;
# PIN=0: wrk_any.sh's unpinned load (-t2 -c32), the server on every core with its default threads.
export DURATION=${DURATION:-15} BODIES=1 PIN=${PIN:-1}
mkdir -p "$OUT"
SRV=""
trap '[ -n "$SRV" ] && kill -TERM "$SRV" 2>/dev/null || true' EXIT

# shellcheck source=lib/wait_ready.sh
. "$HERE/lib/wait_ready.sh"
start() { # $1 = log on (true/false)
  rm -f "$OUT/log.sqlite" "$OUT/log.sqlite-wal" "$OUT/log.sqlite-shm"
  local pinned=(env FINBEH__SERVE__WORKER_THREADS=1 taskset -c 1)
  [ "$PIN" = 1 ] || pinned=()
  FINBEH__MONITOR__ENABLED=$1 FINBEH__MONITOR__DATABASE_PATH="$OUT/log.sqlite" FINBEH__LOGGING__LEVEL=warn \
    "${pinned[@]}" "$BIN" --model "$MODEL" --port "$PORT" >"$OUT/serve-$1.log" 2>&1 &
  SRV=$!
  wait_ready "$SRV" "$OUT/serve-$1.log"
}
stop() { kill -TERM "$SRV"; wait "$SRV" || true; SRV=""; }
# CPU time of the server's threads in ns (all threads, or those whose name starts with $1): on a
# loaded machine other processes steal the pinned core and throughput swings, but the CPU the
# server spends per answered request does not.
cpu_ns() {
  local total=0 task
  for task in /proc/"$SRV"/task/*; do
    if [ -z "${1:-}" ] || grep -q "^$1" "$task/comm" 2>/dev/null; then
      total=$((total + $(cut -d' ' -f1 "$task/schedstat" 2>/dev/null || echo 0)))
    fi
  done
  echo "$total"
}
answered_200() {
  curl -sf "http://127.0.0.1:$PORT/metrics" |
    awk '/^finbeh_http_requests_total\{route="\/score",status="200"\}/ {print $2}'
}

# REPEATS pairs (off, then on) back to back; a ratio per pair, and the median of the pairs.
REPEATS=${REPEATS:-1}
ratios=""
cpu_ratios=""
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
for r in $(seq 1 "$REPEATS"); do
  for on in false true; do
    echo "## repeat $r: prediction log enabled=$on"
    start "$on"
    before=$(answered_200); cpu0=$(cpu_ns); writer0=$(cpu_ns finbeh-predict)
    "$PEERS/wrk_any.sh" "http://127.0.0.1:$PORT/score" | tee "$OUT/wrk-log-$on.txt"
    ok=$(answered_200); cpu1=$(cpu_ns); writer1=$(cpu_ns finbeh-predict)
    cpu_per_request=$(awk -v c=$((cpu1 - cpu0)) -v n=$((ok - before)) 'BEGIN {printf "%.2f", c / n / 1000}')
    echo "cpu_us_per_request=$cpu_per_request writer_thread_us_per_request=$(awk -v c=$((writer1 - writer0)) -v n=$((ok - before)) 'BEGIN {printf "%.2f", c / n / 1000}')"
    eval "cpu_$on=$cpu_per_request"
    dropped=$(curl -sf "http://127.0.0.1:$PORT/metrics" | awk '/^finbeh_monitor_dropped_rows_total/ {print $2}')
    stop # SIGTERM: the example closes the log, committing what is pending
    echo "answered_200=$ok dropped_rows=${dropped:-n/a}"
    if [ "$on" = true ]; then
      echo "rows_in_db=$(sqlite3 "$OUT/log.sqlite" 'SELECT count(*) FROM predictions')"
    fi
  done
  off=$(awk '/RESULT/ {sub("rps=", "", $2); print $2}' "$OUT/wrk-log-false.txt")
  on=$(awk '/RESULT/ {sub("rps=", "", $2); print $2}' "$OUT/wrk-log-true.txt")
  ratio=$(awk -v a="$on" -v b="$off" 'BEGIN {printf "%.3f", a / b}')
  echo "throughput_ratio_on_over_off=$ratio (repeat $r)"
  ratios="$ratios $ratio"
  cpu_ratio=$(awk -v off="$cpu_false" -v on="$cpu_true" 'BEGIN {printf "%.3f", off / on}')
  echo "cpu_per_request_ratio_off_over_on=$cpu_ratio (repeat $r)"
  cpu_ratios="$cpu_ratios $cpu_ratio"
done
echo "throughput ratios:$ratios; median $(median $ratios)"
echo "cpu-per-request ratios (off/on, the throughput ratio of a saturated core):$cpu_ratios; median $(median $cpu_ratios)"
rm -f "$OUT/log.sqlite" "$OUT/log.sqlite-wal" "$OUT/log.sqlite-shm"
