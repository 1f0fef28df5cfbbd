//! The readable form of a [`CsvDrift`]: one line per column and a summary line.

use std::fmt::Write as _;

use crate::csv_drift::CsvDrift;

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
