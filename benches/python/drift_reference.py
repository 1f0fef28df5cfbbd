#!/usr/bin/env python3
"""Writes SciPy's and Evidently's drift statistics on seeded samples to a JSON fixture.

finbeh-monitor's test `scipy_reference` reads only the JSON (tests stay offline and need no
Python). Rerun after changing a case:

    /tmp/peers-venv/bin/python benches/python/drift_reference.py \
        crates/finbeh-monitor/tests/fixtures/drift_scipy_reference.json

Values are rounded to 6 decimals before any statistic sees them, so the JSON holds exactly the
samples SciPy was given.
"""

import json
import sys

import numpy as np
import pandas as pd
import scipy
from scipy import stats
from scipy.spatial import distance

import evidently
from evidently.legacy.calculations.stattests.chisquare_stattest import _chi_stat_test
from evidently.legacy.calculations.stattests.psi import _psi
from evidently.legacy.calculations.stattests.utils import get_binned_data
from evidently.legacy.core import ColumnType


def numeric_case(name, reference, current):
    reference = np.round(reference, 6)
    current = np.round(current, 6)
    ks = stats.ks_2samp(reference, current)
    ref_s, cur_s = pd.Series(reference), pd.Series(current)
    ref_bins, cur_bins = get_binned_data(ref_s, cur_s, ColumnType.Numerical, 30, False)
    return {
        "name": name,
        "reference": reference.tolist(),
        "current": current.tolist(),
        "ks_statistic": float(ks.statistic),
        "ks_p_value": float(ks.pvalue),
        "wasserstein": float(stats.wasserstein_distance(reference, current)),
        "wasserstein_norm": float(
            stats.wasserstein_distance(reference, current) / max(float(np.std(reference)), 0.001)
        ),
        "psi": float(_psi(ref_s, cur_s, ColumnType.Numerical, 0.1)[0]),
        "jensen_shannon": float(distance.jensenshannon(ref_bins, cur_bins)),
    }


def categorical_case(name, reference, current):
    ref_s, cur_s = pd.Series(reference), pd.Series(current)
    categories = sorted(set(reference) | set(current))
    ref_bins, cur_bins = get_binned_data(ref_s, cur_s, ColumnType.Categorical, 30, False)
    return {
        "name": name,
        "categories": categories,
        "reference_counts": [int((ref_s == c).sum()) for c in categories],
        "current_counts": [int((cur_s == c).sum()) for c in categories],
        "psi": float(_psi(ref_s, cur_s, ColumnType.Categorical, 0.1)[0]),
        "jensen_shannon": float(distance.jensenshannon(ref_bins, cur_bins)),
        "chi2_p_value": float(_chi_stat_test(ref_s, cur_s, ColumnType.Categorical, 0.05)[0]),
    }


def main(out_path):
    rng = np.random.default_rng(20261202)
    numeric = [
        # The acceptance size: 10,000 rows each, exact KS (n1 = n2), one shifted.
        numeric_case("normal_10000_same", rng.normal(0, 1, 10_000), rng.normal(0, 1, 10_000)),
        numeric_case("normal_10000_shift", rng.normal(0, 1, 10_000), rng.normal(0.05, 1, 10_000)),
        # Exact KS with n1 != n2 (lattice path count).
        numeric_case("lognormal_500_450", rng.lognormal(0, 1, 500), rng.lognormal(0.1, 1, 450)),
        numeric_case("normal_300_300", rng.normal(5, 2, 300), rng.normal(5.3, 2, 300)),
        # Few distinct values: one bin per value, ties in KS.
        numeric_case("integers_800_700", rng.integers(0, 12, 800) * 1.0, rng.integers(1, 12, 700) * 1.0),
        # max(n1, n2) > 10,000: SciPy's asymptotic p-value (finbeh uses the limit, see ks.rs).
        numeric_case("normal_12000_400", rng.normal(0, 1, 12_000), rng.normal(0.1, 1, 400)),
    ]
    categorical = [
        categorical_case(
            "letters_shifted",
            list(rng.choice(["a", "b", "c", "d"], 2_000, p=[0.4, 0.3, 0.2, 0.1])),
            list(rng.choice(["a", "b", "c", "d", "e"], 1_500, p=[0.3, 0.3, 0.2, 0.1, 0.1])),
        ),
        categorical_case(
            "letters_mild_shift",
            list(rng.choice(["a", "b", "c"], 600, p=[0.5, 0.3, 0.2])),
            list(rng.choice(["a", "b", "c"], 500, p=[0.45, 0.33, 0.22])),
        ),
        categorical_case(
            "letters_same",
            list(rng.choice(["x", "y", "z"], 900, p=[0.5, 0.3, 0.2])),
            list(rng.choice(["x", "y", "z"], 700, p=[0.5, 0.3, 0.2])),
        ),
    ]
    fixture = {
        "generator": "benches/python/drift_reference.py",
        "scipy": scipy.__version__,
        "evidently": evidently.__version__,
        "numeric": numeric,
        "categorical": categorical,
    }
    with open(out_path, "w") as out:
        json.dump(fixture, out)
        out.write("\n")


if __name__ == "__main__":
    main(sys.argv[1])
