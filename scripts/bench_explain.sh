#!/usr/bin/env bash
# Explanations, side by side in one run:
#  1. offline: shap.TreeExplainer on scikit-learn's forest (benches/python/treeshap_peer.py) and
#     finbeh's TreeSHAP (examples/explain_bench.rs), same data, same forest settings (100 trees,
#     depth 10), the same first ROWS test rows; one JSON line each, then the ratio.
#  2. serve: `serve` on a model trained on the same data, wrk -t2 -c32 (../shared/peers/wrk_any.sh)
#     with the peers' 1-row body without `explain`, then the same row with `"explain": true`.
# Usage: scripts/bench_explain.sh [OUT_DIR=/tmp/explain-bench]   (STAGES="offline serve")
# Needs: the peers' venv (../shared/peers/setup.sh), wrk, curl;
#        cargo build --release --example explain_bench --example train --example serve
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
PEERS=${PEERS:-$ROOT/../shared/peers}
[ -d "$PEERS" ] || PEERS=$ROOT/../../shared/peers
VENV=${VENV:-/tmp/peers-venv}
OUT=${1:-/tmp/explain-bench}
DATA=${DATA:-/tmp/peers-data}
ROWS=${ROWS:-10000}
PORT=${PORT:-5741}
STAGES=${STAGES:-offline serve}
EXAMPLES=$ROOT/target/release/examples
mkdir -p "$OUT"
[ -f "$DATA/train.csv" ] || "$VENV/bin/python" "$PEERS/make_data.py" 100000 "$DATA/data.csv"

if [[ " $STAGES " == *" offline "* ]]; then
  echo "== explain $ROWS test rows: shap.TreeExplainer (sklearn forest) vs finbeh (2 threads) =="
  "$VENV/bin/python" "$ROOT/benches/python/treeshap_peer.py" "$DATA/train.csv" "$DATA/test.csv" label "$ROWS" | tee "$OUT/shap.json"
  "$EXAMPLES/explain_bench" --train "$DATA/train.csv" --test "$DATA/test.csv" --rows "$ROWS" --threads 2 | tee "$OUT/finbeh.json"
  python3 - "$OUT/shap.json" "$OUT/finbeh.json" <<'PY'
import json, sys
shap, finbeh = (json.load(open(p)) for p in sys.argv[1:3])
print(f"RATIO finbeh/shap rows_per_second: {finbeh['rows_per_second'] / shap['rows_per_second']:.1f}x "
      f"({finbeh['rows_per_second']:.0f} vs {shap['rows_per_second']:.0f} rows/s)")
PY
fi

if [[ " $STAGES " == *" serve "* ]]; then
  "$EXAMPLES/train" --data "$DATA/train.csv" --test "$DATA/test.csv" --target label --out "$OUT/model" >"$OUT/train.log" 2>&1
  mkdir -p "$OUT/plain" "$OUT/explain"
  "$VENV/bin/python" "$PEERS/make_bodies.py" "$DATA/data.csv" "$OUT/plain" >/dev/null
  python3 - "$OUT/plain/body1.json" "$OUT/explain/body1.json" <<'PY'
import json, sys
body = json.load(open(sys.argv[1]))
body["explain"] = True
json.dump(body, open(sys.argv[2], "w"), separators=(",", ":"))
PY
  FINBEH__LOGGING__LEVEL=warn "$EXAMPLES/serve" --model "$OUT/model/model.finbeh" --port "$PORT" >"$OUT/serve.log" 2>&1 &
  SRV=$!
  trap 'kill -TERM "$SRV" 2>/dev/null || true' EXIT
  until curl -sf -o /dev/null "http://127.0.0.1:$PORT/health/ready"; do
    kill -0 "$SRV" 2>/dev/null || { echo "serve died"; cat "$OUT/serve.log"; exit 1; }
    sleep 0.05
  done
  curl -sf -H 'content-type: application/json' --data @"$OUT/explain/body1.json" "http://127.0.0.1:$PORT/score" >"$OUT/explain/answer.json"
  for kind in plain explain; do
    echo "== serve, 1-row body, $kind =="
    BENCH_DIR="$OUT/$kind" BODIES=1 "$PEERS/wrk_any.sh" "http://127.0.0.1:$PORT/score"
  done
  kill -TERM "$SRV"; wait "$SRV" || true
  trap - EXIT
fi
