#!/usr/bin/env bash
# Side-by-side benchmark of finbeh against the Python peers, in one run on this machine.
#
# Usage: scripts/bench_peers.sh [PEERS_DIR=$PEERS, else ../shared/peers]
# Needs: the peers set up (`$PEERS_DIR/setup.sh`: venv at /tmp/peers-venv, wrk, nginx).
# Writes everything to $OUT (default /tmp/finbeh-bench) and prints a summary at the end.
#
# Stages (each prints its own figures):
#   1. data:    the peers' 100k-row data set (make_data.py), train.csv / test.csv split
#   2. forest:  forest_peers.py (scikit-learn, XGBoost RF, LightGBM RF) vs `train` + `predict`
#   3. serve:   finbeh `serve` (auth on) under wrk_any.sh; the Python server (serve_bench.sh);
#               the nginx ceiling (nginx_bench.sh); RSS and time-to-ready of finbeh's server.
#               Pinned by default (PIN=1, the peers' stable mode: wrk on core 0 with 1 thread and
#               16 connections, finbeh's server and nginx on core 1 with one worker each); PIN=0
#               runs the old unpinned load (wrk -t2 -c32 on both cores), which swings by 2x.
#               The Python server has no pinned mode and runs unpinned either way.
#   4. memory:  finbeh `train` on the peers' data at 1 000 000 rows (800 000 training rows),
#               peak RSS and wall time (`/usr/bin/time`), and the artifact's size
# Run some stages only with STAGES, e.g. STAGES="data forest" scripts/bench_peers.sh.
# Smaller runs: ROWS (data stage, default 100000), ROWS_1M (memory stage, default 1000000),
# DURATION (wrk seconds, default 20); PEER_MODEL (the Python peer's model dir, /tmp/peers-model).
# FINBEH_EXAMPLES=DIR uses the example binaries in DIR instead of building target/release.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PEERS=$(cd "${1:-${PEERS:-$ROOT/../shared/peers}}" && pwd)
VENV=${VENV:-/tmp/peers-venv}
OUT=${OUT:-/tmp/finbeh-bench}
DATA=${DATA:-/tmp/peers-data}
PORT=${PORT:-5003}
KEY=${KEY:-bench-key-$(date +%s)}
STAGES=${STAGES:-data forest serve memory}
PIN=${PIN:-1}
DATA_1M=${DATA_1M:-/tmp/peers-1m}
ROWS=${ROWS:-100000}
ROWS_1M=${ROWS_1M:-1000000}
PEER_MODEL=${PEER_MODEL:-/tmp/peers-model}
mkdir -p "$OUT"
exec > >(tee "$OUT/bench_peers.log") 2>&1
echo "## $(date -u +%FT%TZ) $(uname -srm) cores=$(nproc) $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2)"

cd "$ROOT"
if [ -n "${FINBEH_EXAMPLES:-}" ]; then
  BIN=$FINBEH_EXAMPLES
else
  cargo build --release --example train --example predict --example serve -q
  BIN="$ROOT/target/release/examples"
fi

has() { [[ " $STAGES " == *" $1 "* ]]; }

if has data; then
  echo "## data"
  "$VENV/bin/python" "$PEERS/make_data.py" "$ROWS" "$DATA/data.csv"
fi

if has forest; then
  echo "## forest: Python peers (2 threads)"
  "$VENV/bin/python" "$PEERS/forest_peers.py" "$DATA/train.csv" "$DATA/test.csv" label | tee "$OUT/forest_peers.jsonl"
  echo "## forest: finbeh train (original settings: 100 trees, max_depth 10, min_samples_split 5, min_samples_leaf 2, max_features sqrt)"
  /usr/bin/time -f "train_peak_rss_kb=%M wall_s=%e" "$BIN/train" --data "$DATA/train.csv" --test "$DATA/test.csv" \
    --target label --out "$OUT/model" 2>"$OUT/train.time" | tail -n 1 | tee "$OUT/train.json"
  cat "$OUT/train.time" | tail -n 1
  echo "## forest: finbeh predict on the test rows repeated 10x"
  { head -n 1 "$DATA/test.csv"; for _ in $(seq 10); do tail -n +2 "$DATA/test.csv"; done; } >"$OUT/test10.csv"
  "$BIN/predict" --model "$OUT/model/model.finbeh" --data "$OUT/test10.csv" --out "$OUT/pred10.csv" 2>&1 | tail -n 1 | tee "$OUT/predict.json"
fi

if has serve; then
  PINNED=()
  if [ "$PIN" = 1 ]; then PINNED=(env FINBEH__SERVE__WORKER_THREADS=1 taskset -c 1); fi
  echo "## serve: finbeh (auth on) under wrk_any.sh (PIN=$PIN)"
  t0=$(date +%s%N)
  FINBEH__SERVE__PRIMARY_KEY="$KEY" FINBEH__LOGGING__LEVEL=warn "${PINNED[@]}" "$BIN/serve" --model "$OUT/model/model.finbeh" --port "$PORT" >"$OUT/serve.log" 2>&1 &
  SRV=$!
  trap 'kill -TERM $SRV 2>/dev/null || true' EXIT
  until curl -sf -o /dev/null "http://127.0.0.1:$PORT/health/ready"; do
    kill -0 $SRV 2>/dev/null || { echo "serve died"; cat "$OUT/serve.log"; exit 1; }
    sleep 0.005
  done
  echo "ready_ms=$(( ($(date +%s%N) - t0) / 1000000 )) (process start to /health/ready = 200)"
  "$VENV/bin/python" "$PEERS/rss_watch.py" "$SRV" "$OUT/rss-finbeh.json" 0.2 &
  WATCH=$!
  PIN=$PIN DURATION=${DURATION:-20} "$PEERS/wrk_any.sh" "http://127.0.0.1:$PORT/score" "$KEY" | tee "$OUT/wrk-finbeh.txt"
  kill -TERM $WATCH; wait $WATCH || true
  echo "finbeh memory: $(cat "$OUT/rss-finbeh.json")"
  kill -TERM $SRV; wait $SRV || true; trap - EXIT
  echo "## serve: Python peer (azmlinfsrv, 2 workers)"
  "$VENV/bin/python" "$PEERS/sklearn_train.py" "$DATA/data.csv" "$PEER_MODEL"
  MODEL_DIR="$PEER_MODEL" "$PEERS/serve_bench.sh" | tee "$OUT/serve_bench.txt"
  echo "## serve: nginx ceiling (PIN=$PIN)"
  PIN=$PIN "$PEERS/nginx_bench.sh" | tee "$OUT/nginx_bench.txt"
fi
if has memory; then
  echo "## memory: finbeh train on $ROWS_1M rows (80/20 held-out split inside train)"
  "$VENV/bin/python" "$PEERS/make_data.py" "$ROWS_1M" "$DATA_1M/data.csv"
  /usr/bin/time -f "train_1m_peak_rss_kb=%M wall_s=%e" "$BIN/train" --data "$DATA_1M/data.csv" \
    --target label --out "$OUT/model-1m" 2>"$OUT/train-1m.time" | tail -n 1 | tee "$OUT/train-1m.json"
  tail -n 1 "$OUT/train-1m.time"
  echo "artifact_bytes=$(stat -c %s "$OUT/model-1m/model.finbeh")"
fi
echo "## done; log at $OUT/bench_peers.log"
