#!/usr/bin/env bash
# Pinned side by side (issue 14): one or more `serve` binaries and nginx, one core each
# (../shared/peers' PIN=1: wrk on core 0 with 1 thread and 16 connections, the server on core 1
# with one worker thread), alternated ROUNDS times in one run so that a loaded machine hits
# every binary alike. Bearer key on, the peers' 1-row and 100-row `{"data": [[12 floats]]}`.
#
# Usage: scripts/bench_serve_pinned.sh MODEL.finbeh NAME=BIN [NAME=BIN ...]
#   e.g. scripts/bench_serve_pinned.sh /tmp/serve-model/model.finbeh \
#          base=/tmp/serve-base/serve new=target/release/examples/serve
# Env: ROUNDS (3), DURATION (10 s per body), SIZES ("1 100": the bodies), WITH_NGINX (1: also
#      nginx_bench.sh each round), PORT,
#      BENCH_DIR (/tmp/peers-bench: the bodies; made by make_bodies.py when missing).
# Prints one line per measurement (`round= name= body= rps= p50_ms= p99_ms= errors= cpu_us=
# load=`; cpu_us is the server's own CPU time per answer, all threads, from schedstat: what the
# core would sustain alone, steadier than rps when other work shares it), then the medians per
# name and body and each name's 1-row median over nginx's.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PEERS=${PEERS:-$ROOT/../shared/peers}
[ -d "$PEERS" ] || PEERS=$ROOT/../../shared/peers
MODEL=${1:?usage: bench_serve_pinned.sh MODEL NAME=BIN [NAME=BIN ...]}
shift
[ "$#" -ge 1 ] || { echo "give at least one NAME=BIN" >&2; exit 2; }
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-10}
PORT=${PORT:-5031}
KEY=${KEY:-pinned-bench-key}
OUT=${OUT:-/tmp/serve-pinned}
mkdir -p "$OUT"
RESULTS="$OUT/results.txt"
: >"$RESULTS"

SRV=""
stop_server() {
  if [ -n "$SRV" ] && kill -0 "$SRV" 2>/dev/null; then
    kill -TERM "$SRV"
    wait "$SRV" 2>/dev/null || true
  fi
  SRV=""
}
trap stop_server EXIT

# One RESULT line of wrk → `rps= p50_ms= p99_ms= errors=`.
fields() {
  awk '/RESULT/ {
    for (i = 1; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
    errors = v["non2xx"] + v["err_connect"] + v["err_read"] + v["err_write"] + v["err_timeout"]
    printf "rps=%s p50_ms=%s p99_ms=%s errors=%d", v["rps"], v["p50_ms"], v["p99_ms"], errors
    if (errors > 0) printf " (non2xx=%s connect=%s read=%s write=%s timeout=%s)", v["non2xx"], v["err_connect"], v["err_read"], v["err_write"], v["err_timeout"]
    printf "\n"
  }'
}

# Nanoseconds on a CPU so far, all threads of process $1 (/proc/PID/task/*/schedstat).
cpu_ns() {
  cat /proc/"$1"/task/*/schedstat 2>/dev/null | awk '{ s += $1 } END { printf "%.0f\n", s }'
}

# shellcheck source=lib/wait_ready.sh
. "$ROOT/scripts/lib/wait_ready.sh"
measure_serve() {
  local round=$1 name=$2 bin=$3
  FINBEH__SERVE__WORKER_THREADS=1 FINBEH__SERVE__PRIMARY_KEY="$KEY" FINBEH__LOGGING__LEVEL=warn \
    taskset -c 1 "$bin" --model "$MODEL" --port "$PORT" >"$OUT/serve-$name.log" 2>&1 &
  SRV=$!
  wait_ready "$SRV" "$OUT/serve-$name.log"
  for n in ${SIZES:-1 100}; do
    local line before after requests
    before=$(cpu_ns "$SRV")
    line=$(PIN=1 BODIES=$n DURATION=$DURATION "$PEERS/wrk_any.sh" "http://127.0.0.1:$PORT/score" "$KEY" | tee "$OUT/wrk-$name-$n-round$round.txt" | fields)
    after=$(cpu_ns "$SRV")
    requests=$(awk '/RESULT/ { for (i = 1; i <= NF; i++) if ($i ~ /^requests=/) { sub("requests=", "", $i); print $i } }' "$OUT/wrk-$name-$n-round$round.txt")
    # The server's own CPU time per answer: what a core it had to itself would sustain.
    echo "round=$round name=$name body=$n $line cpu_us=$(( (after - before) / 1000 / (requests > 0 ? requests : 1) )).$(( (after - before) / (requests > 0 ? requests : 1) % 1000 / 100 )) load=$(cut -d' ' -f1 /proc/loadavg)" | tee -a "$RESULTS"
  done
  stop_server
}

measure_nginx() {
  local round=$1
  PIN=1 DURATION=$DURATION "$PEERS/nginx_bench.sh" >"$OUT/nginx-$round.txt" 2>&1
  for n in ${SIZES:-1 100}; do
    local line
    line=$(fields <"${BENCH_DIR:-/tmp/peers-bench}/wrk-nginx-keepalive-body$n.txt")
    echo "round=$round name=nginx body=$n $line load=$(cut -d' ' -f1 /proc/loadavg)" | tee -a "$RESULTS"
  done
}

echo "## $(date -u +%FT%TZ) pinned: wrk core 0 (-t1 -c16), server core 1 (1 worker); ${DURATION}s per body; load $(cat /proc/loadavg)"
for round in $(seq "$ROUNDS"); do
  for pair in "$@"; do
    measure_serve "$round" "${pair%%=*}" "${pair#*=}"
  done
  [ "${WITH_NGINX:-1}" = 1 ] && measure_nginx "$round"
done

echo "## medians over $ROUNDS rounds"
awk '
  { for (i = 1; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
    key = v["name"] " body=" v["body"]; n[key]++; rps[key, n[key]] = v["rps"]; p99[key, n[key]] = v["p99_ms"]
    cpu[key, n[key]] = v["cpu_us"]
    err[key] += v["errors"]; if (!(key in seen)) { seen[key] = 1; order[++k] = key } }
  function median(a, key, count,   i, j, t, x) {
    for (i = 1; i <= count; i++) x[i] = a[key, i] + 0
    for (i = 1; i <= count; i++) for (j = i + 1; j <= count; j++) if (x[j] < x[i]) { t = x[i]; x[i] = x[j]; x[j] = t }
    return (count % 2) ? x[(count + 1) / 2] : (x[count / 2] + x[count / 2 + 1]) / 2
  }
  END {
    for (i = 1; i <= k; i++) {
      key = order[i]; m[key] = median(rps, key, n[key])
      printf "%-24s median rps=%.0f (%.2f us/request) median p99_ms=%.3f errors=%d runs=%d", key, m[key], 1e6 / m[key], median(p99, key, n[key]), err[key], n[key]
      if (key !~ /^nginx/) printf " median server cpu_us/request=%.1f", median(cpu, key, n[key])
      printf "\n"
    }
    for (i = 1; i <= k; i++) {
      key = order[i]
      if (key ~ / body=1$/ && key !~ /^nginx/ && ("nginx body=1" in m))
        printf "%-24s / nginx 1-row = %.3f\n", key, m[key] / m["nginx body=1"]
    }
  }' "$RESULTS"
echo "load average at the end: $(cat /proc/loadavg)"
