#!/usr/bin/env bash
# The local deployment target's figures, in one run on this machine:
#   1. router overhead: the peers' wrk load (wrk_any.sh, 1-row body) against `serve` directly and
#      against the local endpoint (router daemon in front of one deployment of the same model),
#      alternating REPEATS times; prints each pair's endpoint/direct requests/s ratio and the
#      median. With BASELINE_DEPLOY=/path/to/an/older/deploy binary, a second endpoint run by that
#      binary joins each round (same model, its own ports), for before/after in one run.
#   2. rollout time: a second local rollout with zero soak (deploy.rollout.soak_seconds = 0),
#      as the report's `seconds` and the command's wall time.
# Cores, identical on both sides:
#   PIN=0 (default): nothing pinned; wrk (-t2 -c32), the server(s) and, for the endpoint, the
#         router all share every core; serve and the router each run one thread per core.
#   PIN=1: wrk on core 0 (-t1 -c16); direct serve, or the endpoint daemon with its deployment,
#         on core 1 (each then runs one thread).
# Usage: scripts/bench_deploy.sh [MODEL] (default: trains one on the peers' data)
# Needs the peers set up (../shared/peers/setup.sh, make_data.py run once: DATA=/tmp/peers-data).
# FINBEH_EXAMPLES=DIR uses the example binaries in DIR instead of building target/release.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PEERS=$(cd "${PEERS:-$ROOT/../shared/peers}" && pwd)
VENV=${VENV:-/tmp/peers-venv}
OUT=${OUT:-/tmp/finbeh-deploy-bench}
DURATION=${DURATION:-10}
REPEATS=${REPEATS:-5}
PIN=${PIN:-0}
DIRECT_PORT=${DIRECT_PORT:-5301}
ROUTER_PORT=${ROUTER_PORT:-5310} # the endpoint: router, blue, green on ROUTER_PORT+0..2
BASE_PORT=${BASE_PORT:-5320}     # the baseline endpoint: router, blue, green on BASE_PORT+0..2
mkdir -p "$OUT"
exec > >(tee "$OUT/bench_deploy.log") 2>&1
echo "## $(date -u +%FT%TZ) $(uname -srm) cores=$(nproc) PIN=$PIN REPEATS=$REPEATS DURATION=$DURATION"
echo "## load average before: $(cut -d' ' -f1-3 /proc/loadavg)"

cd "$ROOT"
DATA=${DATA:-/tmp/peers-data}
if [ -n "${FINBEH_EXAMPLES:-}" ]; then
  BIN=$FINBEH_EXAMPLES
else
  cargo build --release --example deploy --example serve --example train -q
  BIN="$ROOT/target/release/examples"
fi
MODEL=${1:-}
if [ -z "$MODEL" ]; then
  "$BIN/train" --data "$DATA/train.csv" --test "$DATA/test.csv" --target label \
    --out "$OUT/model" > "$OUT/train.log" 2>&1
  MODEL="$OUT/model/model.finbeh"
fi
SERVER_CPUS=""
if [ "$PIN" = 1 ]; then SERVER_CPUS="taskset -c 1"; fi
wait_ready() { for _ in $(seq 200); do curl -sf "$1" > /dev/null && return 0; sleep 0.05; done; return 1; }
json_field() { "$VENV/bin/python" -c "import json,sys; print(json.load(sys.stdin)[\"$1\"])"; }

# One endpoint per deploy binary: name, binary, router port (blue, green on the next two).
ENDPOINTS=("endpoint $BIN/deploy $ROUTER_PORT")
if [ -n "${BASELINE_DEPLOY:-}" ]; then ENDPOINTS+=("baseline $BASELINE_DEPLOY $BASE_PORT"); fi
config_of() { echo "$OUT/$1.toml"; }
write_config() { # name router_port blue_port green_port
  cat > "$(config_of "$1")" <<TOML
[deploy.local]
registry_dir = "$OUT/$1/registry"
state_dir = "$OUT/$1/state"
port = $2
blue_port = $3
green_port = $4

[deploy.rollout]
soak_seconds = 0.0

[logging]
level = "warn"
TOML
}
cleanup() {
  for e in "${ENDPOINTS[@]}"; do
    read -r name binary _ <<< "$e"
    "$binary" --config "$(config_of "$name")" delete-endpoint > /dev/null 2>&1 || true
  done
  [ -n "${SERVE:-}" ] && kill "$SERVE" 2> /dev/null || true
}
trap cleanup EXIT

KEY=bench-key-$RANDOM$RANDOM
FINBEH__SERVE__PRIMARY_KEY=$KEY FINBEH__LOGGING__LEVEL=warn $SERVER_CPUS "$BIN/serve" --model "$MODEL" --port "$DIRECT_PORT" &
SERVE=$!
wait_ready "http://127.0.0.1:$DIRECT_PORT/health/ready"
declare -A URL_OF KEY_OF
URL_OF[direct]="http://127.0.0.1:$DIRECT_PORT/score"; KEY_OF[direct]=$KEY
SIDES=(direct)
for e in "${ENDPOINTS[@]}"; do
  read -r name binary port <<< "$e"
  rm -rf "${OUT:?}/$name"
  write_config "$name" "$port" $((port + 1)) $((port + 2))
  # The daemon (and the deployments it starts) inherit this CPU affinity.
  $SERVER_CPUS "$binary" --config "$(config_of "$name")" rollout --model "$MODEL" --json | tail -1
  KEY_OF[$name]=$("$binary" --config "$(config_of "$name")" keys --json | json_field primary_key)
  URL_OF[$name]="http://127.0.0.1:$port/score"
  SIDES+=("$name")
done

declare -A RATIOS
for round in $(seq "$REPEATS"); do
  declare -A RPS=()
  for side in "${SIDES[@]}"; do
    echo "## round $round: $side"
    line=$(DURATION=$DURATION BODIES=1 PIN=$PIN "$PEERS/wrk_any.sh" "${URL_OF[$side]}" "${KEY_OF[$side]}" | tee /dev/stderr | grep RESULT)
    RPS[$side]=$(sed -E 's/.*rps=([0-9.]+).*/\1/' <<< "$line")
  done
  for side in "${SIDES[@]:1}"; do
    ratio=$(echo "scale=3; ${RPS[$side]} / ${RPS[direct]}" | bc)
    echo "PAIR round=$round side=$side rps=${RPS[$side]} direct_rps=${RPS[direct]} ratio=$ratio"
    RATIOS[$side]="${RATIOS[$side]:-} $ratio"
  done
done
for side in "${SIDES[@]:1}"; do
  median=$(tr ' ' '\n' <<< "${RATIOS[$side]}" | grep -v '^$' | sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}')
  echo "RESULT side=$side ratios=[${RATIOS[$side]# }] median_ratio=$median"
done
echo "## load average after: $(cut -d' ' -f1-3 /proc/loadavg)"

echo "## rollout with zero soak (steps 10, 50, 100)"
START=$(date +%s.%N)
"$BIN/deploy" --config "$(config_of endpoint)" rollout --model "$MODEL" --json | tail -1
END=$(date +%s.%N)
echo "RESULT rollout_wall_seconds=$(echo "$END - $START" | bc)"
