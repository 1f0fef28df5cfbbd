#!/bin/sh
# finbeh's drift over 1,000,000 logged rows x 20 features against Evidently's data-drift preset
# on the same rows as CSV, side by side in one run. Needs the peers venv with evidently
# (/tmp/peers-venv; see ../shared/peers/README.md). Run from the repository root:
#
#     benches/python/drift_vs_evidently.sh
#
# The data (about 700 MB in target/monitor-bench/) is generated once by the bench; remove the
# directory when done.
set -eu
PYTHON=${PYTHON:-/tmp/peers-venv/bin/python}
finbeh=$(cargo bench --bench monitor_log 2>/dev/null)
echo "$finbeh"
evidently=$("$PYTHON" benches/python/evidently_drift.py \
    target/monitor-bench/reference.csv target/monitor-bench/current.csv)
echo "$evidently"
ours=$(echo "$finbeh" | awk '$1 == "drift" {print $2}')
theirs=$(echo "$evidently" | sed -n 's/^EVIDENTLY_PRESET_SECONDS=//p')
awk -v a="$ours" -v b="$theirs" 'BEGIN {printf "finbeh drift over the log is %.1fx faster than Evidently'"'"'s preset on the same rows\n", b / a}'
