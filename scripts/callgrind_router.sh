#!/usr/bin/env bash
# Instructions per request spent by the local endpoint's router daemon (user space, every thread,
# callgrind): repeatable even on a loaded machine, for comparing router variants.
#   1. a normal `deploy rollout` sets up an endpoint (one deployment, 100 % live traffic);
#   2. its daemon is stopped (the state stays) and started again under callgrind (the deployment
#      processes it starts are not traced);
#   3. counters are zeroed, wrk sends 1-row requests for DURATION seconds (-t1 -c4), counters are
#      dumped; the script prints Ir / requests answered.
# Usage: scripts/callgrind_router.sh [MODEL]  (DEPLOY=path/to/deploy to measure another build;
# MODEL defaults to the one scripts/bench_deploy.sh trains)
# Needs valgrind, wrk and the peers' bodies (../shared/peers, /tmp/peers-data).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PEERS=$(cd "${PEERS:-$ROOT/../shared/peers}" && pwd)
VENV=${VENV:-/tmp/peers-venv}
OUT=${OUT:-/tmp/finbeh-router-callgrind}
DURATION=${DURATION:-10}
PORT=${PORT:-5330} # router; blue and green on PORT+1, PORT+2
if [ -z "${DEPLOY:-}" ]; then
  (cd "$ROOT" && cargo build --release --example deploy -q)
  DEPLOY="$ROOT/target/release/examples/deploy"
fi
# The model scripts/bench_deploy.sh trains on the peers' data, and the peers' 1-row body.
MODEL=${1:-/tmp/finbeh-deploy-bench/model/model.finbeh}
BODY=${BODY:-/tmp/peers-bench/body1.json}
rm -rf "$OUT" && mkdir -p "$OUT"
cat > "$OUT/finbeh.toml" <<TOML
[deploy.local]
registry_dir = "$OUT/registry"
state_dir = "$OUT/state"
port = $PORT
blue_port = $((PORT + 1))
green_port = $((PORT + 2))
health_timeout_ms = 120000

[logging]
level = "warn"
TOML
D=("$DEPLOY" --config "$OUT/finbeh.toml")
"${D[@]}" rollout --model "$MODEL" --json | tail -1
KEY=$("${D[@]}" keys --json | "$VENV/bin/python" -c 'import json,sys; print(json.load(sys.stdin)["primary_key"])')
daemon_pid() { "$VENV/bin/python" -c 'import json,sys; print(json.load(open(sys.argv[1]))["pid"])' "$OUT/state/daemon.json"; }
PID=$(daemon_pid)
kill -TERM "$PID"
while kill -0 "$PID" 2> /dev/null; do sleep 0.1; done

valgrind --tool=callgrind --callgrind-out-file="$OUT/callgrind.out" "${D[@]}" daemon > "$OUT/valgrind.log" 2>&1 &
VG=$!
trap 'kill -TERM $VG 2> /dev/null || true; wait $VG 2> /dev/null || true; "${D[@]}" delete-endpoint > /dev/null 2>&1 || true' EXIT
for _ in $(seq 1200); do
  code=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $KEY" -H 'Content-Type: application/json' \
    --data-binary @"$BODY" "http://127.0.0.1:$PORT/score" || true)
  [ "$code" = 200 ] && break
  sleep 0.1
done
[ "$code" = 200 ] || { echo "the router under callgrind never answered 200 (last: $code)"; exit 1; }
# Warm up (connections, first-use allocations), then measure from zero.
BODY_FILE="$BODY" AUTH_KEY="$KEY" wrk -t1 -c4 -d2s -s "$PEERS/post.lua" "http://127.0.0.1:$PORT/score" > /dev/null
callgrind_control -z "$VG" > /dev/null
RESULT=$(BODY_FILE="$BODY" AUTH_KEY="$KEY" wrk -t1 -c4 -d"${DURATION}s" -s "$PEERS/post.lua" "http://127.0.0.1:$PORT/score" | grep RESULT)
callgrind_control -d "$VG" > /dev/null
echo "$RESULT"
REQUESTS=$(sed -E 's/.*requests=([0-9]+).*/\1/' <<< "$RESULT")
NON2XX=$(sed -E 's/.*non2xx=([0-9]+).*/\1/' <<< "$RESULT")
DUMP=$(ls -t "$OUT"/callgrind.out* | head -1)
IR=$(callgrind_annotate "$DUMP" 2> /dev/null | grep -m1 'PROGRAM TOTALS' | awk '{gsub(",", "", $1); print $1}')
echo "RESULT router_ir_per_request=$((IR / REQUESTS)) ir=$IR requests=$REQUESTS non2xx=$NON2XX dump=$DUMP"
