#!/usr/bin/env bash
# User-space instructions per 1-row request of `serve` (callgrind, every thread: request thread
# and the prediction log's writer), with the log on or off. Deterministic where wall-clock
# throughput is not (a loaded machine steals the pinned core); start-up is not counted.
# Usage: scripts/callgrind_prediction_log.sh BIN MODEL.finbeh true|false [OUT_DIR=/tmp/mlog-bench]
# BATCH_MS (default 5000): the log's batch interval; long, so that a batch holds thousands of
# rows as it does at full speed (callgrind runs the server about 50x slower).
# Needs: valgrind, wrk, taskset, curl; the peers' 1-row body in OUT_DIR/body1.json
# (../shared/peers/make_bodies.py).
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
PEERS=${PEERS:-$ROOT/../shared/peers}
[ -d "$PEERS" ] || PEERS=$ROOT/../../shared/peers
BIN=${1:?usage: callgrind_prediction_log.sh BIN MODEL true|false [OUT_DIR]}
MODEL=${2:?model}
LOG=${3:?true or false}
OUT=${4:-/tmp/mlog-bench}
PORT=${PORT:-5751}
NAME=cg-log-$LOG
rm -f "$OUT"/cg.sqlite* "$OUT/$NAME".out*
FINBEH__MONITOR__ENABLED=$LOG FINBEH__MONITOR__BATCH_INTERVAL_MS=${BATCH_MS:-5000} \
  FINBEH__MONITOR__DATABASE_PATH="$OUT/cg.sqlite" FINBEH__SERVE__WORKER_THREADS=1 \
  FINBEH__LOGGING__LEVEL=warn taskset -c 1 valgrind --tool=callgrind \
  --callgrind-out-file="$OUT/$NAME.out" "$BIN" --model "$MODEL" --port "$PORT" >"$OUT/$NAME.log" 2>&1 &
SRV=$!
trap 'kill -TERM "$SRV" 2>/dev/null || true' EXIT
# shellcheck source=lib/wait_ready.sh
. "$HERE/lib/wait_ready.sh"
wait_ready "$SRV" "$OUT/$NAME.log"
# shellcheck source=lib/callgrind_count.sh
. "$HERE/lib/callgrind_count.sh"
count_per_request "$OUT/body1.json" "" "${DURATION:-15}" "log=$LOG"
