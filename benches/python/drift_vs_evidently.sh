#!/bin/sh
# finbeh's drift against Evidently's data-drift preset on the same 1,000,000 rows x 20 features
# (10,000 reference rows), in one run, one after the other on the same machine:
#   1. `cargo bench --bench monitor_log`: drift, data quality and the report over the prediction
#      log (from its input blocks, and from the rows' JSON as layout 3 read it), medians;
#   2. the `monitor` example's `drift` on the same rows as CSV files (`--reference`, `--current`);
#   3. Evidently's `Report([DataDriftPreset()]).run` on the same CSVs (read with pandas first).
# Prints each, the load average before and after, and the ratios. Needs the peers venv with
# evidently (/tmp/peers-venv; see ../shared/peers/README.md). Run from the repository root:
#
#     benches/python/drift_vs_evidently.sh
#
# The data (about 1.1 GB in target/monitor-bench/) is generated once by the bench; remove the
# directory when done.
set -eu
PYTHON=${PYTHON:-/tmp/peers-venv/bin/python}
DIR=target/monitor-bench
cargo build --release --example monitor 2>/dev/null
finbeh=$(cargo bench --bench monitor_log 2>/dev/null)
echo "$finbeh"
echo "load average before the CSV runs: $(cut -d' ' -f1-3 /proc/loadavg)"
csv_drift=$(FINBEH__DATA__TARGET=label /usr/bin/time -f "%e %M" \
    target/release/examples/monitor drift --model "$DIR/model.finbeh" \
    --reference "$DIR/reference.csv" --current "$DIR/current.csv" --json 2>&1 >"$DIR/csv-drift.json" | tail -n 1)
csv_seconds=${csv_drift% *}
echo "finbeh monitor drift, CSV files: $csv_seconds s wall, $(( ${csv_drift#* } / 1024 )) MB peak RSS"
evidently=$("$PYTHON" benches/python/evidently_drift.py "$DIR/reference.csv" "$DIR/current.csv")
echo "$evidently"
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
ours=$(echo "$finbeh" | awk '$1 == "median" && $2 == "drift" {print $3}')
theirs=$(echo "$evidently" | sed -n 's/^EVIDENTLY_PRESET_SECONDS=//p')
read_csv=$(echo "$evidently" | awk '$1 == "read" && $2 == "CSVs" {print $3}')
awk -v a="$ours" -v b="$theirs" 'BEGIN {printf "finbeh drift over the log is %.1fx faster than Evidently'"'"'s preset alone on the same rows\n", b / a}'
awk -v a="$csv_seconds" -v b="$theirs" -v r="$read_csv" 'BEGIN {printf "finbeh monitor drift from the CSVs is %.1fx faster than Evidently reading them and running the preset\n", (b + r) / a}'
