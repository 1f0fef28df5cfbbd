#!/usr/bin/env bash
# Explanations, side by side in one run; one SUMMARY block at the end.
#  1. offline: finbeh's TreeSHAP (examples/explain_bench.rs, 2 threads) and shap.TreeExplainer on
#     scikit-learn's forest (benches/python/treeshap_peer.py), same data, same forest settings
#     (100 trees, depth 10), the same first ROWS test rows, alternated: finbeh, shap, finbeh, ...
#     (OFFLINE_ROUNDS shap runs, one more finbeh run than that); medians and their ratio.
#  2. serve: `serve` on a model trained on the same data, wrk -t2 -c32 (../shared/peers/wrk_any.sh)
#     with the peers' 1-row body without `explain` ("plain"), then the same row with
#     `"explain": true`. With BASE_SERVE (a `serve` binary built from another commit, e.g. main),
#     the two binaries alternate for SERVE_ROUNDS rounds and the medians of each are printed, so
#     "requests without explain keep their speed" is a same-run comparison.
# Usage: scripts/bench_explain.sh [OUT_DIR=/tmp/explain-bench]
#   env: STAGES="offline serve" ROWS=10000 OFFLINE_ROUNDS=1 SERVE_ROUNDS=3 DURATION=10 PORT=5741
#        BASE_SERVE=/path/to/old/serve (optional) DATA=/tmp/peers-data VENV=/tmp/peers-venv
# Needs: the peers' venv (../shared/peers/setup.sh), wrk, curl;
#        cargo build --release --example explain_bench --example train --example serve
#        (or FINBEH_EXAMPLES=DIR: the example binaries in DIR)
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
PEERS=${PEERS:-$ROOT/../shared/peers}
[ -d "$PEERS" ] || PEERS=$ROOT/../../shared/peers
VENV=${VENV:-/tmp/peers-venv}
OUT=${1:-${OUT:-/tmp/explain-bench}}
DATA=${DATA:-/tmp/peers-data}
ROWS=${ROWS:-10000}
OFFLINE_ROUNDS=${OFFLINE_ROUNDS:-1}
SERVE_ROUNDS=${SERVE_ROUNDS:-3}
export DURATION=${DURATION:-10}
PORT=${PORT:-5741}
STAGES=${STAGES:-offline serve}
EXAMPLES=${FINBEH_EXAMPLES:-$ROOT/target/release/examples}
NEW_SERVE=$EXAMPLES/serve
mkdir -p "$OUT"
: >"$OUT/results.jsonl"
[ -f "$DATA/train.csv" ] || "$VENV/bin/python" "$PEERS/make_data.py" "${DATA_ROWS:-100000}" "$DATA/data.csv"
echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)" | tee "$OUT/load.txt"

# Appends one JSON result line, tagged, to results.jsonl.
record() { python3 -c 'import json,sys; d=json.loads(sys.argv[2]); d["tag"]=sys.argv[1]; print(json.dumps(d))' "$1" "$2" >>"$OUT/results.jsonl"; }

if [[ " $STAGES " == *" offline "* ]]; then
  finbeh() {
    local line
    line=$("$EXAMPLES/explain_bench" --train "$DATA/train.csv" --test "$DATA/test.csv" --rows "$ROWS" --threads 2)
    echo "$line"; record finbeh "$line"
  }
  echo "== explain $ROWS test rows: finbeh (2 threads) and shap.TreeExplainer (sklearn forest), alternating =="
  finbeh
  for _ in $(seq "$OFFLINE_ROUNDS"); do
    line=$("$VENV/bin/python" "$ROOT/benches/python/treeshap_peer.py" "$DATA/train.csv" "$DATA/test.csv" label "$ROWS")
    echo "$line"; record shap "$line"
    finbeh
  done
fi

if [[ " $STAGES " == *" serve "* ]]; then
  "$EXAMPLES/train" --data "$DATA/train.csv" --test "$DATA/test.csv" --target label --out "$OUT/model" >"$OUT/train.log" 2>&1
  mkdir -p "$OUT/plain" "$OUT/explain"
  "$VENV/bin/python" "$PEERS/make_bodies.py" "$DATA/data.csv" "$OUT/plain" >/dev/null
  # Both bodies, so wrk_any.sh does not write plain ones over them.
  python3 - "$OUT/plain" "$OUT/explain" <<'PY'
import json, sys
for n in (1, 100):
    body = json.load(open(f"{sys.argv[1]}/body{n}.json"))
    body["explain"] = True
    json.dump(body, open(f"{sys.argv[2]}/body{n}.json", "w"), separators=(",", ":"))
PY
  SRV=""
  trap '[ -n "$SRV" ] && kill -TERM "$SRV" 2>/dev/null || true' EXIT
  # serve_with NAME BINARY: start it, wrk plain then explain, stop it.
  serve_with() {
    local name=$1 binary=$2 kind line
    FINBEH__LOGGING__LEVEL=warn "$binary" --model "$OUT/model/model.finbeh" --port "$PORT" >"$OUT/serve-$name.log" 2>&1 &
    SRV=$!
    until curl -sf -o /dev/null "http://127.0.0.1:$PORT/health/ready"; do
      kill -0 "$SRV" 2>/dev/null || { echo "serve ($name) died"; cat "$OUT/serve-$name.log"; exit 1; }
      sleep 0.05
    done
    curl -sf -H 'content-type: application/json' --data @"$OUT/explain/body1.json" "http://127.0.0.1:$PORT/score" >"$OUT/explain/answer-$name.json"
    for kind in plain explain; do
      echo "== serve ($name), 1-row body, $kind =="
      line=$(BENCH_DIR="$OUT/$kind" BODIES=1 "$PEERS/wrk_any.sh" "http://127.0.0.1:$PORT/score" | tee /dev/stderr | grep RESULT)
      record "serve-$name-$kind" "$(python3 -c 'import json,sys; print(json.dumps({k: float(v) for k, v in (kv.split("=") for kv in sys.argv[1].split()[1:])}))' "$line")"
    done
    kill -TERM "$SRV"; wait "$SRV" || true
    SRV=""
  }
  for _ in $(seq "$SERVE_ROUNDS"); do
    [ -n "${BASE_SERVE:-}" ] && serve_with base "$BASE_SERVE"
    serve_with new "$NEW_SERVE"
  done
  trap - EXIT
fi

echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$OUT/load.txt"
python3 - "$OUT/results.jsonl" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
def med(tag, key):
    values = [r[key] for r in rows if r["tag"] == tag and key in r]
    return (statistics.median(values), len(values)) if values else (None, 0)
print("== SUMMARY (medians) ==")
ours, n_ours = med("finbeh", "rows_per_second")
theirs, n_theirs = med("shap", "rows_per_second")
single, _ = med("finbeh", "single_row_us")
if ours:
    print(f"finbeh TreeSHAP, 2 threads: {ours:,.0f} rows/s ({n_ours} runs)"
          + (f"; one row alone: {single:,.0f} us" if single else ""))
if theirs:
    print(f"shap.TreeExplainer (sklearn forest): {theirs:,.1f} rows/s ({n_theirs} runs)")
if ours and theirs:
    print(f"RATIO finbeh/shap rows_per_second: {ours / theirs:.1f}x")
for name in ("base", "new"):
    for kind in ("plain", "explain"):
        rps, n = med(f"serve-{name}-{kind}", "rps")
        if rps is None:
            continue
        p50, _ = med(f"serve-{name}-{kind}", "p50_ms")
        p99, _ = med(f"serve-{name}-{kind}", "p99_ms")
        errors = sum(r.get("non2xx", 0) + r.get("err_timeout", 0) for r in rows
                     if r["tag"] == f"serve-{name}-{kind}")
        print(f"serve {name:4} {kind:7}: {rps:10,.0f} requests/s  p50 {p50:7.2f} ms  p99 {p99:7.2f} ms"
              f"  ({n} runs, {errors:.0f} non-2xx/timeouts)")
for kind in ("plain", "explain"):
    base, _ = med(f"serve-base-{kind}", "rps")
    new, _ = med(f"serve-new-{kind}", "rps")
    if base and new:
        print(f"RATIO serve new/base {kind}: {new / base:.2f}x")
PY
