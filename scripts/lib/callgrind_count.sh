# Sourced by scripts/callgrind_*.sh: counts the user-space instructions per answered `/score`
# request of a `serve` already running under callgrind.
# count_per_request BODY_FILE KEY SECONDS LABEL, with SRV (the valgrind pid), PORT, PEERS, OUT
# and NAME (the profile is $OUT/$NAME.out.1) set by the caller. A 2 s warm-up is not counted;
# the server is stopped at the end. Prints wrk's RESULT line and "LABEL requests= instructions=
# instructions_per_request=".
count_per_request() {
  local body=$1 key=$2 seconds=$3 label=$4 n0 n1 total
  load() { (cd "$PEERS" && BODY_FILE="$body" AUTH_KEY=$key taskset -c 0 wrk -t1 -c8 -d"$1" -s post.lua "http://127.0.0.1:$PORT/score"); }
  answered() { curl -sf "http://127.0.0.1:$PORT/metrics" | awk '/^finbeh_http_requests_total\{route="\/score",status="200"\}/ {print $2}'; }
  load 2s >/dev/null # warm up, then count from zero
  callgrind_control -z "$SRV" >/dev/null
  n0=$(answered)
  load "${seconds}s" | grep RESULT
  n1=$(answered)
  callgrind_control -d "$SRV" >/dev/null
  kill -TERM "$SRV"; wait "$SRV" || true
  trap - EXIT
  total=$(callgrind_annotate "$OUT/$NAME.out.1" 2>/dev/null | awk '/PROGRAM TOTALS/ {gsub(",", "", $1); print $1}')
  echo "$label requests=$((n1 - n0)) instructions=$total instructions_per_request=$((total / (n1 - n0)))"
  echo "profile: callgrind_annotate --inclusive=yes $OUT/$NAME.out.1"
}
