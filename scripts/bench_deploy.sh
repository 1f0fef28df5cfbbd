#!/usr/bin/env bash
# The local deployment target's figures, in one run on this machine:
#   1. router overhead: the peers' wrk load (wrk_any.sh, 1-row body) against `serve` directly,
#      then against the local endpoint's router in front of a deployment of the same model;
#   2. rollout time: a second local rollout with zero soak (deploy.rollout.soak_seconds = 0),
#      as the report's `seconds` and the command's wall time.
# Usage: scripts/bench_deploy.sh [MODEL] (default: trains one on the peers' data)
# Needs the peers set up (../shared/peers/setup.sh, make_data.py run once: /tmp/peers-data).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PEERS=$(cd "${PEERS:-$ROOT/../shared/peers}" && pwd)
VENV=${VENV:-/tmp/peers-venv}
OUT=${OUT:-/tmp/finbeh-deploy-bench}
DURATION=${DURATION:-15}
DIRECT_PORT=${DIRECT_PORT:-5301}
ROUTER_PORT=${ROUTER_PORT:-5310}
BLUE_PORT=${BLUE_PORT:-5311}
GREEN_PORT=${GREEN_PORT:-5312}
mkdir -p "$OUT"
exec > >(tee "$OUT/bench_deploy.log") 2>&1
echo "## $(date -u +%FT%TZ) $(uname -srm) cores=$(nproc)"

cd "$ROOT"
cargo build --release --example deploy --example serve --example train -q
BIN="$ROOT/target/release/examples"
MODEL=${1:-}
if [ -z "$MODEL" ]; then
  "$BIN/train" --data /tmp/peers-data/train.csv --test /tmp/peers-data/test.csv --target label \
    --out "$OUT/model" > "$OUT/train.log" 2>&1
  MODEL="$OUT/model/model.finbeh"
fi
wait_ready() { for _ in $(seq 200); do curl -sf "$1" > /dev/null && return 0; sleep 0.05; done; return 1; }

echo "## direct serve"
KEY=bench-key-$RANDOM$RANDOM
FINBEH__SERVE__PRIMARY_KEY=$KEY FINBEH__LOGGING__LEVEL=warn "$BIN/serve" --model "$MODEL" --port "$DIRECT_PORT" &
SERVE=$!
trap 'kill $SERVE 2>/dev/null || true' EXIT
wait_ready "http://127.0.0.1:$DIRECT_PORT/health/ready"
DURATION=$DURATION BODIES=1 "$PEERS/wrk_any.sh" "http://127.0.0.1:$DIRECT_PORT/score" "$KEY"
kill "$SERVE"; wait "$SERVE" || true

echo "## local endpoint (router in front of one deployment of the same model)"
rm -rf "$OUT/endpoint" "$OUT/registry"
cat > "$OUT/finbeh.toml" <<TOML
[deploy.local]
registry_dir = "$OUT/registry"
state_dir = "$OUT/endpoint"
port = $ROUTER_PORT
blue_port = $BLUE_PORT
green_port = $GREEN_PORT

[deploy.rollout]
soak_seconds = 0.0

[logging]
level = "warn"
TOML
DEPLOY=("$BIN/deploy" --config "$OUT/finbeh.toml")
trap '"${DEPLOY[@]}" delete-endpoint > /dev/null 2>&1 || true' EXIT
"${DEPLOY[@]}" rollout --model "$MODEL" --json | tail -1
ROUTER_KEY=$("${DEPLOY[@]}" keys --json | "$VENV/bin/python" -c 'import json,sys; print(json.load(sys.stdin)["primary_key"])')
DURATION=$DURATION BODIES=1 "$PEERS/wrk_any.sh" "http://127.0.0.1:$ROUTER_PORT/score" "$ROUTER_KEY"

echo "## rollout with zero soak (steps 10, 50, 100)"
START=$(date +%s.%N)
"${DEPLOY[@]}" rollout --model "$MODEL" --json | tail -1
END=$(date +%s.%N)
echo "RESULT rollout_wall_seconds=$(echo "$END - $START" | bc)"
"${DEPLOY[@]}" delete-endpoint
