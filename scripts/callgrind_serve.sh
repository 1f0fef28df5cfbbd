#!/usr/bin/env bash
# User-space instructions per `/score` request of `serve` (callgrind, every thread), bearer key
# on, one worker thread, prediction log off: deterministic where wall-clock throughput is not
# (a loaded machine steals the pinned core). Start-up and a 2 s warm-up are not counted.
# Usage: scripts/callgrind_serve.sh BIN MODEL.finbeh [ROWS=1|100] [OUT_DIR=/tmp/serve-cg]
# Needs: valgrind, wrk, taskset, curl; the peers' bodies in $BENCH_DIR (/tmp/peers-bench,
# ../shared/peers/make_bodies.py). The profile: callgrind_annotate OUT_DIR/NAME.out.1
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
PEERS=${PEERS:-$ROOT/../shared/peers}
[ -d "$PEERS" ] || PEERS=$ROOT/../../shared/peers
BIN=${1:?usage: callgrind_serve.sh BIN MODEL [ROWS] [OUT_DIR]}
MODEL=${2:?model}
ROWS=${3:-1}
OUT=${4:-/tmp/serve-cg}
BENCH_DIR=${BENCH_DIR:-/tmp/peers-bench}
PORT=${PORT:-5752}
KEY=cg-key
NAME=${NAME:-cg-$ROWS} # set NAME to keep the profiles of several binaries
mkdir -p "$OUT"
rm -f "$OUT/$NAME".out*
FINBEH__SERVE__PRIMARY_KEY=$KEY FINBEH__SERVE__WORKER_THREADS=1 FINBEH__LOGGING__LEVEL=warn \
  taskset -c 1 valgrind --tool=callgrind --callgrind-out-file="$OUT/$NAME.out" \
  "$BIN" --model "$MODEL" --port "$PORT" >"$OUT/$NAME.log" 2>&1 &
SRV=$!
trap 'kill -TERM "$SRV" 2>/dev/null || true' EXIT
until curl -sf -o /dev/null "http://127.0.0.1:$PORT/health/ready"; do
  kill -0 "$SRV" 2>/dev/null || { cat "$OUT/$NAME.log"; exit 1; }
  sleep 0.2
done
load() { (cd "$PEERS" && BODY_FILE="$BENCH_DIR/body$ROWS.json" AUTH_KEY=$KEY taskset -c 0 wrk -t1 -c8 -d"$1" -s post.lua "http://127.0.0.1:$PORT/score"); }
answered() { curl -sf "http://127.0.0.1:$PORT/metrics" | awk '/^finbeh_http_requests_total\{route="\/score",status="200"\}/ {print $2}'; }
load 2s >/dev/null # warm up, then count from zero
callgrind_control -z "$SRV" >/dev/null
n0=$(answered)
load "${DURATION:-10}s" | grep RESULT
n1=$(answered)
callgrind_control -d "$SRV" >/dev/null
kill -TERM "$SRV"; wait "$SRV" || true
trap - EXIT
total=$(callgrind_annotate "$OUT/$NAME.out.1" 2>/dev/null | awk '/PROGRAM TOTALS/ {gsub(",", "", $1); print $1}')
echo "bin=$BIN rows=$ROWS requests=$((n1 - n0)) instructions=$total instructions_per_request=$((total / (n1 - n0)))"
echo "profile: callgrind_annotate --inclusive=yes $OUT/$NAME.out.1"
