//! The readable form of a [`CsvDrift`]: one line per column and a summary line.

use std::fmt::Write as _;

use crate::csv_drift::CsvDrift;
use crate::log_drift::LogDriftReport;

impl CsvDrift {
    /// A table (column, kind, deciding statistic, its value and threshold, drifted) and a
    /// summary line, for `monitor drift` without `--json`.
    pub fn table(&self) -> String {
        let width = self
            .report
            .features
            .iter()
            .map(|feature| feature.column.len())
            .chain(std::iter::once("column".len()))
            .max()
            .unwrap_or(0);
        let mut out = format!(
            "{:<width$}  {:<11}  {:<16}  {:>10}  {:>9}  drifted\n",
            "column", "kind", "deciding", "value", "threshold"
        );
        for (feature, deciding) in self.report.features.iter().zip(&self.deciding) {
            let value = deciding
                .value
                .map_or_else(|| "-".to_owned(), |v| format!("{v:.4}"));
            let kind = format!("{:?}", feature.kind).to_lowercase();
            // Writing to a String cannot fail.
            let _ = writeln!(
                out,
                "{:<width$}  {:<11}  {:<16}  {:>10}  {:>9}  {}",
                feature.column,
                kind,
                deciding.method.field(),
                value,
                deciding.threshold,
                if feature.drifted { "yes" } else { "no" }
            );
        }
        let drifted = self.report.features.iter().filter(|f| f.drifted).count();
        let _ = writeln!(
            out,
            "{drifted} of {} columns drifted (share {:.3}); dataset drift: {}",
            self.report.features.len(),
            self.report.drifted_share,
            if self.report.dataset_drift {
                "yes"
            } else {
                "no"
            }
        );
        out
    }
}

impl LogDriftReport {
    /// What was compared (model, reference, period), one line per column (kind, PSI,
    /// Jensen–Shannon, null, out-of-range and drifted), the prediction-drift line and a
    /// summary, for `monitor drift --since` without `--json`.
    pub fn table(&self) -> String {
        let mut out = format!(
            "model: {} ({} {}), chosen by {}\nreference: {}\nrows: {}, type-error rate {:.4}\n",
            self.model.path.display(),
            self.model.name,
            self.model.version,
            self.model.chosen_by,
            self.reference.note,
            self.rows,
            self.type_error_rate
        );
        let width = self
            .drift
            .features
            .iter()
            .map(|feature| feature.column.len())
            .chain([crate::PREDICTION_COLUMN.len(), "column".len()])
            .max()
            .unwrap_or(0);
        let _ = writeln!(
            out,
            "{:<width$}  {:<11}  {:>8}  {:>8}  {:>8}  {:>8}  drifted",
            "column", "kind", "psi", "js", "null", "range"
        );
        let number =
            |value: Option<f64>| value.map_or_else(|| "-".to_owned(), |v| format!("{v:.4}"));
        for feature in self.drift.features.iter().chain(&self.prediction_drift) {
            let _ = writeln!(
                out,
                "{:<width$}  {:<11}  {:>8}  {:>8}  {:>8.4}  {:>8.4}  {}",
                feature.column,
                format!("{:?}", feature.kind).to_lowercase(),
                number(feature.psi),
                number(feature.jensen_shannon),
                feature.null_rate,
                feature.out_of_range_rate,
                if feature.drifted { "yes" } else { "no" }
            );
        }
        if self.prediction_drift.is_none() {
            let _ = writeln!(out, "prediction drift: {}", self.prediction_drift_note);
        }
        let drifted = self.drift.features.iter().filter(|f| f.drifted).count();
        let _ = writeln!(
            out,
            "{drifted} of {} columns drifted (share {:.3}); dataset drift: {}",
            self.drift.features.len(),
            self.drift.drifted_share,
            if self.drift.dataset_drift {
                "yes"
            } else {
                "no"
            }
        );
        out
    }
}
