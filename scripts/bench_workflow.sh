#!/usr/bin/env bash
# The default workflow's wall time on this machine (the issue's budget: 60 s of a release build
# on 2 cores): `workflow_runner` with the built-in defaults, run RUNS times in a row in a fresh
# directory, so run 1 starts the local endpoint (blue) and each later run rolls out over the
# running endpoint (green, then blue, ...). Prints each run's wall time, its stages' seconds
# (from the --json line) and the load average, then stops the endpoint.
# Usage: scripts/bench_workflow.sh [RUNS=2]   (OUT=/tmp/finbeh-workflow-bench; PORT_BASE=5100;
#        FINBEH_EXAMPLES=DIR: the example binaries in DIR instead of building target/release)
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
RUNS=${1:-2}
OUT=${OUT:-/tmp/finbeh-workflow-bench}
PORT_BASE=${PORT_BASE:-5100}
cd "$ROOT"
if [ -n "${FINBEH_EXAMPLES:-}" ]; then
  BIN=$FINBEH_EXAMPLES
else
  cargo build --release --example workflow_runner --example deploy -q
  BIN="$ROOT/target/release/examples"
fi
rm -rf "$OUT" && mkdir -p "$OUT" && cd "$OUT"
# Defaults, except the endpoint's ports (so a busy 5100 on a shared machine does not interfere).
export FINBEH__DEPLOY__LOCAL__PORT=$PORT_BASE
export FINBEH__DEPLOY__LOCAL__BLUE_PORT=$((PORT_BASE + 1))
export FINBEH__DEPLOY__LOCAL__GREEN_PORT=$((PORT_BASE + 2))
trap '"$BIN/deploy" delete-endpoint > /dev/null 2>&1 || true' EXIT
echo "## $(date -u +%FT%TZ) $(uname -srm) cores=$(nproc)"
for run in $(seq 1 "$RUNS"); do
  echo "load average before run $run: $(cut -d' ' -f1-3 /proc/loadavg)"
  start=$(date +%s.%N)
  "$BIN/workflow_runner" --json > "run$run.log" 2>&1 || echo "run $run: exit $? (see $OUT/run$run.log)"
  end=$(date +%s.%N)
  printf 'run %d: %.1f s wall\n' "$run" "$(echo "$end - $start" | bc)"
  tail -n 1 "run$run.log" | python3 -c '
import json, sys
line = json.loads(sys.stdin.read())
print("  ok=%s " % line["ok"] + ", ".join("%s %.1fs" % (s["name"], s["seconds"]) for s in line["stages"]))'
done
