"""The same work as finbeh's load + fit + transform, done with pandas and scikit-learn.

pandas.read_csv, then a ColumnTransformer with: numeric -> median impute + missing indicator;
categorical -> most-frequent impute + one-hot (unknown categories ignored); dates (M/D/YYYY) ->
days before the latest date, weekday, month. Identifier and personal-data columns are dropped,
as finbeh's default schema does. Prints timings and the matrix shape.

    /tmp/peers-venv/bin/python benches/python/ingest_pandas.py /tmp/bank_1m.csv
"""

import sys
import time

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder

DROP = ["Customer_ID", "First_Name", "Last_Name", "Address", "Contact_Number", "Email",
        "Transaction_ID", "Branch_ID", "Loan_ID", "Card_ID", "Feedback_ID"]
TARGET = "Anomaly"


def date_features(frame: pd.DataFrame) -> np.ndarray:
    parsed = {c: pd.to_datetime(frame[c], format="%m/%d/%Y") for c in frame.columns}
    reference = max(p.max() for p in parsed.values())
    out = []
    for p in parsed.values():
        out.append((reference - p).dt.days.to_numpy(dtype=np.float32))
        out.append(p.dt.day_of_week.to_numpy(dtype=np.float32))
        out.append(p.dt.month.to_numpy(dtype=np.float32))
    return np.column_stack(out)


def main(path: str) -> None:
    t0 = time.perf_counter()
    frame = pd.read_csv(path)
    t1 = time.perf_counter()
    y = frame[TARGET].to_numpy()
    frame = frame.drop(columns=DROP + [TARGET])
    dates = [c for c in frame.columns if "Date" in c]
    categorical = [c for c in frame.columns if not pd.api.types.is_numeric_dtype(frame[c]) and c not in dates]
    numeric = [c for c in frame.columns if c not in dates and c not in categorical]
    transformer = ColumnTransformer([
        ("num", SimpleImputer(strategy="median", add_indicator=True), numeric),
        ("cat", make_pipeline(SimpleImputer(strategy="most_frequent"),
                              OneHotEncoder(handle_unknown="ignore", sparse_output=False)), categorical),
        ("date", FunctionTransformer(date_features), dates),
    ])
    matrix = transformer.fit_transform(frame).astype(np.float32)
    t2 = time.perf_counter()
    print(f"pandas read_csv {t1 - t0:.2f} s, fit+transform {t2 - t1:.2f} s, total {t2 - t0:.2f} s; "
          f"matrix {matrix.shape[0]} x {matrix.shape[1]} float32 = {matrix.nbytes / 1e6:.1f} MB; y {y.shape}")


if __name__ == "__main__":
    main(sys.argv[1])
