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
# shellcheck source=lib/wait_ready.sh
. "$HERE/lib/wait_ready.sh"
wait_ready "$SRV" "$OUT/$NAME.log"
# shellcheck source=lib/callgrind_count.sh
. "$HERE/lib/callgrind_count.sh"
count_per_request "$BENCH_DIR/body$ROWS.json" "$KEY" "${DURATION:-10}" "bin=$BIN rows=$ROWS"
