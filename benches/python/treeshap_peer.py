#!/usr/bin/env python3
"""shap.TreeExplainer on scikit-learn's forest: the peer of finbeh's explanations.

Fits scikit-learn's RandomForestClassifier with the original project's settings (100 trees,
max_depth 10, min_samples_split 5, min_samples_leaf 2, seed 42, 2 threads) on TRAIN, then
explains the first N rows of TEST (default 10,000) with shap's exact path-dependent TreeSHAP
(`feature_perturbation="tree_path_dependent"`, the algorithm finbeh implements) and prints one
JSON line: rows, seconds, rows_per_second, and the largest local-accuracy error
|base + sum(phi) - predict_proba| over the explained rows.

    /tmp/peers-venv/bin/python benches/python/treeshap_peer.py \
        /tmp/peers-data/train.csv /tmp/peers-data/test.csv label 10000

shap's C++ TreeSHAP runs on one thread; finbeh's figure (examples/explain_bench.rs) uses two.
scripts/bench_explain.sh runs both side by side.
"""

import json
import sys
import time

import numpy as np
import pandas as pd
import shap
import sklearn
from sklearn.ensemble import RandomForestClassifier


def load(path, target):
    df = pd.read_csv(path)
    return df.drop(columns=[target]).to_numpy(dtype=np.float64), df[target].to_numpy()


def main():
    train = sys.argv[1] if len(sys.argv) > 1 else "/tmp/peers-data/train.csv"
    test = sys.argv[2] if len(sys.argv) > 2 else "/tmp/peers-data/test.csv"
    target = sys.argv[3] if len(sys.argv) > 3 else "label"
    n_rows = int(sys.argv[4]) if len(sys.argv) > 4 else 10_000
    x_train, y_train = load(train, target)
    x_test, _ = load(test, target)
    x_test = x_test[:n_rows]
    model = RandomForestClassifier(
        n_estimators=100, max_depth=10, min_samples_split=5, min_samples_leaf=2,
        random_state=42, n_jobs=2)
    t0 = time.perf_counter()
    model.fit(x_train, y_train)
    fit_s = time.perf_counter() - t0
    explainer = shap.TreeExplainer(model, feature_perturbation="tree_path_dependent")
    t0 = time.perf_counter()
    phi = explainer.shap_values(x_test, check_additivity=False)
    seconds = time.perf_counter() - t0
    # shap >= 0.45 returns rows x features x classes; older versions a list per class.
    phi1 = phi[:, :, 1] if isinstance(phi, np.ndarray) and phi.ndim == 3 else np.asarray(phi[1])
    base = np.atleast_1d(explainer.expected_value)[-1]
    proba = model.predict_proba(x_test)[:, 1]
    error = float(np.max(np.abs(base + phi1.sum(axis=1) - proba)))
    print(json.dumps({
        "peer": "shap.TreeExplainer(sklearn RandomForestClassifier)",
        "shap": shap.__version__, "sklearn": sklearn.__version__,
        "trees": 100, "max_depth": 10, "fit_seconds": round(fit_s, 3),
        "rows": len(x_test), "seconds": round(seconds, 3),
        "rows_per_second": round(len(x_test) / seconds, 1),
        "max_local_accuracy_error": error,
    }))


if __name__ == "__main__":
    main()
