//! The artifact's reference sample: a capped, seeded sample of the raw records a training job
//! loaded (training and held-out rows), each cell as the text a monitor compares production
//! inputs with, so drift is measured against real rows rather than a binned profile.

use finbeh_data::{FittedPipeline, RawValue, Rng, Table};
use serde::{Deserialize, Serialize};

use crate::error::{Result, TrainError};

/// Version of the reference-sample section's layout.
pub const REFERENCE_SAMPLE_FORMAT_VERSION: u32 = 1;

/// A seeded sample of raw training-data records (see the module docs). Cells are stored per
/// column; `None` is a missing value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReferenceSample {
    format_version: u32,
    columns: Vec<String>,
    /// `cells[column][row]`.
    cells: Vec<Vec<Option<String>>>,
    labels: Vec<usize>,
    held_out: Vec<bool>,
    seed: u64,
    drawn_from: usize,
}

/// Rows a sample is drawn from: a table, its rows, each row's class index, and whether they are
/// evaluation (held-out) rows.
#[derive(Debug, Clone, Copy)]
pub struct SampleSource<'a> {
    /// The loaded table.
    pub table: &'a Table,
    /// Rows of `table` in the pool.
    pub rows: &'a [usize],
    /// Class index of each of `rows`.
    pub labels: &'a [usize],
    /// Whether these rows were held out from training (evaluation rows).
    pub held_out: bool,
}

/// `k` distinct indices of `0..n`, ascending, drawn uniformly with a seed (Knuth's selection
/// sampling: one pass, no memory beyond the result); all of them when `k >= n`.
pub(crate) fn sample_indices(n: usize, k: usize, seed: u64) -> Vec<usize> {
    if k >= n {
        return (0..n).collect();
    }
    let mut rng = Rng::seed_from_u64(seed);
    let mut chosen = Vec::with_capacity(k);
    for i in 0..n {
        let left = (k - chosen.len()) as f64;
        if rng.gen_f64() * ((n - i) as f64) < left {
            chosen.push(i);
            if chosen.len() == k {
                break;
            }
        }
    }
    chosen
}

/// The text of a raw cell: numbers in Rust's shortest round-trip form, `true`/`false`, text
/// (dates as `YYYY-MM-DD`) as is; `None` when missing.
fn cell_text(value: RawValue<'_>) -> Option<String> {
    match value {
        RawValue::Missing => None,
        RawValue::Number(x) => Some(x.to_string()),
        RawValue::Bool(b) => Some(b.to_string()),
        RawValue::Text(t) => Some(t.into_owned()),
    }
}

impl ReferenceSample {
    /// Draws at most `max_rows` rows, uniformly and seeded, from the pooled rows of `sources`
    /// (in order), keeping the pipeline's raw input columns. `None` when `max_rows` is 0 or
    /// there are no rows.
    ///
    /// # Errors
    /// A row out of range of its table, or a label count that differs from the row count.
    pub fn draw(
        pipeline: &FittedPipeline,
        sources: &[SampleSource<'_>],
        max_rows: usize,
        seed: u64,
    ) -> Result<Option<Self>> {
        for s in sources {
            if s.rows.len() != s.labels.len() {
                return Err(TrainError::LengthMismatch {
                    what: "reference sample rows vs labels",
                    expected: s.rows.len(),
                    got: s.labels.len(),
                });
            }
        }
        let pool: usize = sources.iter().map(|s| s.rows.len()).sum();
        if max_rows == 0 || pool == 0 {
            return Ok(None);
        }
        let chosen = sample_indices(pool, max_rows, seed);
        let columns: Vec<String> = pipeline
            .input_columns()
            .iter()
            .map(|c| c.name.clone())
            .collect();
        let mut cells = vec![Vec::with_capacity(chosen.len()); columns.len()];
        let mut labels = Vec::with_capacity(chosen.len());
        let mut held_out = Vec::with_capacity(chosen.len());
        let (mut source, mut start) = (0, 0);
        for &index in &chosen {
            // `chosen` ascends, so the source only moves forward.
            while let Some(s) = sources.get(source)
                && index >= start + s.rows.len()
            {
                start += s.rows.len();
                source += 1;
            }
            let Some(s) = sources.get(source) else { break };
            let local = index - start;
            let record = pipeline.raw_record(s.table, s.rows[local])?;
            for (column, value) in cells.iter_mut().zip(record) {
                column.push(cell_text(value));
            }
            labels.push(s.labels[local]);
            held_out.push(s.held_out);
        }
        Ok(Some(Self {
            format_version: REFERENCE_SAMPLE_FORMAT_VERSION,
            columns,
            cells,
            labels,
            held_out,
            seed,
            drawn_from: pool,
        }))
    }

    /// Checks a decoded sample against its model: version, the raw input columns in order,
    /// equal lengths, at most `max_rows` rows, class indices below `n_classes`.
    pub(crate) fn check(
        &self,
        input_columns: &[String],
        n_classes: usize,
        max_rows: usize,
    ) -> Result<()> {
        let bad = |reason: String| TrainError::InvalidReferenceSample { reason };
        if self.format_version != REFERENCE_SAMPLE_FORMAT_VERSION {
            return Err(bad(format!(
                "format_version {} is not supported (this build reads {REFERENCE_SAMPLE_FORMAT_VERSION})",
                self.format_version
            )));
        }
        if self.columns != input_columns {
            return Err(bad(format!(
                "columns {:?} differ from the model's input columns {input_columns:?}",
                self.columns
            )));
        }
        let n = self.labels.len();
        if n > max_rows || n > self.drawn_from {
            return Err(bad(format!(
                "{n} rows: more than the cap {max_rows} or the {} rows drawn from",
                self.drawn_from
            )));
        }
        if self.held_out.len() != n || self.cells.len() != self.columns.len() {
            return Err(bad(format!(
                "{} held-out flags and {} cell columns for {n} labels and {} columns",
                self.held_out.len(),
                self.cells.len(),
                self.columns.len()
            )));
        }
        if let Some((c, cells)) = self.cells.iter().enumerate().find(|(_, c)| c.len() != n) {
            return Err(bad(format!(
                "column `{}` has {} cells for {n} rows",
                self.columns[c],
                cells.len()
            )));
        }
        if let Some((row, label)) = self
            .labels
            .iter()
            .enumerate()
            .find(|(_, l)| **l >= n_classes)
        {
            return Err(bad(format!(
                "row {row} has class index {label}, the model has {n_classes} classes"
            )));
        }
        Ok(())
    }

    /// The raw input columns, in the model's input order.
    pub fn columns(&self) -> &[String] {
        &self.columns
    }
    /// Number of sampled rows.
    pub fn n_rows(&self) -> usize {
        self.labels.len()
    }
    /// The cells of input column `index` (`None` = missing), one per row.
    pub fn column(&self, index: usize) -> Option<&[Option<String>]> {
        self.cells.get(index).map(Vec::as_slice)
    }
    /// The cells of the input column named `name`.
    pub fn column_named(&self, name: &str) -> Option<&[Option<String>]> {
        let index = self.columns.iter().position(|c| c == name)?;
        self.column(index)
    }
    /// Row `row`'s cells, in column order (`None` past the end).
    pub fn row(&self, row: usize) -> Option<Vec<Option<&str>>> {
        (row < self.n_rows()).then(|| {
            self.cells
                .iter()
                .map(|c| c.get(row).and_then(Option::as_deref))
                .collect()
        })
    }
    /// Each row's class index (into the artifact's classes).
    pub fn labels(&self) -> &[usize] {
        &self.labels
    }
    /// Whether each row was an evaluation (held-out) row rather than a training row.
    pub fn held_out(&self) -> &[bool] {
        &self.held_out
    }
    /// Seed of the draw.
    pub fn seed(&self) -> u64 {
        self.seed
    }
    /// Rows the sample was drawn from (training and held-out rows the job loaded).
    pub fn drawn_from(&self) -> usize {
        self.drawn_from
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selection_sampling_draws_k_distinct_ascending_indices() {
        for (n, k) in [(10, 3), (1000, 999), (5, 5), (5, 9), (1, 0)] {
            let chosen = sample_indices(n, k, 7);
            assert_eq!(chosen.len(), k.min(n));
            assert!(chosen.windows(2).all(|w| w[0] < w[1]));
            assert!(chosen.iter().all(|&i| i < n));
        }
        assert_eq!(sample_indices(100, 10, 1), sample_indices(100, 10, 1));
        assert_ne!(sample_indices(100, 10, 1), sample_indices(100, 10, 2));
    }
}
