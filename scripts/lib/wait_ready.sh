# Sourced by the bench scripts: wait_ready PID LOG waits until the server on 127.0.0.1:$PORT is
# ready; if PID dies first, prints LOG and exits 1.
wait_ready() {
  until curl -sf -o /dev/null "http://127.0.0.1:$PORT/health/ready"; do
    kill -0 "$1" 2>/dev/null || { echo "server died ($2):"; cat "$2"; exit 1; }
    sleep 0.01
  done
}
