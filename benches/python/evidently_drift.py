#!/usr/bin/env python3
"""Times Evidently's data-drift preset on a reference and a current CSV (the data finbeh's
`cargo bench --bench monitor_log` logs), and prints seconds and peak RSS.

    /tmp/peers-venv/bin/python benches/python/evidently_drift.py \
        target/monitor-bench/reference.csv target/monitor-bench/current.csv

Prints one line per step: reading both CSVs with pandas, running the preset (`Report.run`), and
writing its HTML page (whose size is printed too). The target column (`label`) is dropped, as
finbeh compares the model's input columns only.
"""

import resource
import sys
import tempfile
import time
import os

import pandas as pd

import evidently
from evidently import Report
from evidently.presets import DataDriftPreset


def peak_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def main():
    reference_path, current_path = sys.argv[1], sys.argv[2]
    started = time.perf_counter()
    reference = pd.read_csv(reference_path).drop(columns=["label"])
    current = pd.read_csv(current_path).drop(columns=["label"])
    read = time.perf_counter() - started
    print(f"evidently {evidently.__version__}: {len(current)} current rows x "
          f"{current.shape[1]} features, {len(reference)} reference rows")
    print(f"read CSVs       {read:7.2f} s  {peak_mb():6.0f} MB peak RSS")
    started = time.perf_counter()
    snapshot = Report([DataDriftPreset()]).run(current, reference)
    run = time.perf_counter() - started
    print(f"drift preset    {run:7.2f} s  {peak_mb():6.0f} MB peak RSS")
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as directory:
        page = os.path.join(directory, "evidently.html")
        snapshot.save_html(page)
        size = os.path.getsize(page)
    html = time.perf_counter() - started
    print(f"HTML report     {html:7.2f} s  {peak_mb():6.0f} MB peak RSS  {size} bytes")
    print(f"EVIDENTLY_PRESET_SECONDS={run:.3f}")


if __name__ == "__main__":
    main()
