//! Dataset profile: per input column distribution on the training rows, the drift baseline.

use serde::{Deserialize, Serialize};

use crate::error::DataError;
use crate::pipeline::FittedPipeline;
use crate::table::{Column, MISSING_BOOL, MISSING_CODE, MISSING_DAY, Table};

/// Version of the serialized [`DatasetProfile`] layout.
pub const PROFILE_FORMAT_VERSION: u32 = 1;

/// Number of quantile bins for numeric and date columns.
pub const PROFILE_BINS: usize = 10;

/// Categories listed by name in a categorical profile; the rest are pooled as "other".
pub const PROFILE_TOP_CATEGORIES: usize = 20;

/// Distribution of one input column.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ColumnProfile {
    /// Numbers (or dates as days since 1970-01-01): quantile bins of the present values.
    Numeric {
        /// Column name.
        name: String,
        /// Bin edges (ascending, deduplicated); a value `v` falls in bin `i` when
        /// `edges[i] <= v < edges[i+1]` (the last bin is closed).
        edges: Vec<f64>,
        /// Fraction of present values per bin (sums to 1).
        fractions: Vec<f64>,
        /// Fraction of rows with a missing value.
        missing_rate: f64,
        /// True for dates (values are days since 1970-01-01).
        is_date: bool,
    },
    /// Labels: the most frequent categories and the pooled rest.
    Categorical {
        /// Column name.
        name: String,
        /// `(label, fraction of present values)`, most frequent first.
        top: Vec<(String, f64)>,
        /// Fraction of present values outside `top`.
        other: f64,
        /// Fraction of rows with a missing value.
        missing_rate: f64,
    },
    /// Booleans.
    Boolean {
        /// Column name.
        name: String,
        /// Fraction of present values that are true.
        true_rate: f64,
        /// Fraction of rows with a missing value.
        missing_rate: f64,
    },
}

/// The training distribution of every pipeline input column.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DatasetProfile {
    /// Layout version ([`PROFILE_FORMAT_VERSION`]).
    pub format_version: u32,
    /// Rows profiled.
    pub n_rows: usize,
    /// One entry per pipeline input column, in input order.
    pub columns: Vec<ColumnProfile>,
}

fn quantile_bins(mut values: Vec<f64>) -> (Vec<f64>, Vec<f64>) {
    if values.is_empty() {
        return (Vec::new(), Vec::new());
    }
    values.sort_unstable_by(f64::total_cmp);
    let n = values.len();
    let mut edges: Vec<f64> = (0..=PROFILE_BINS)
        .map(|i| {
            values
                .get((i * (n - 1)) / PROFILE_BINS)
                .copied()
                .unwrap_or(0.0)
        })
        .collect();
    edges.dedup();
    let bins = edges.len().saturating_sub(1).max(1);
    let mut counts = vec![0usize; bins];
    for v in &values {
        // Index of the last edge <= v, clamped into the bins.
        let i = edges
            .partition_point(|e| e <= v)
            .saturating_sub(1)
            .min(bins - 1);
        if let Some(c) = counts.get_mut(i) {
            *c += 1;
        }
    }
    (
        edges,
        counts.into_iter().map(|c| c as f64 / n as f64).collect(),
    )
}

impl DatasetProfile {
    /// Profile the pipeline's input columns over `rows` of `table` (use the training rows).
    pub fn compute(
        table: &Table,
        pipeline: &FittedPipeline,
        rows: &[usize],
    ) -> Result<Self, DataError> {
        if rows.is_empty() {
            return Err(DataError::NoRows { what: "profile" });
        }
        if let Some(&r) = rows.iter().find(|&&r| r >= table.n_rows()) {
            return Err(DataError::RowOutOfRange {
                row: r,
                n_rows: table.n_rows(),
            });
        }
        let n = rows.len() as f64;
        let mut columns = Vec::new();
        for input in pipeline.input_columns() {
            let name = input.name.clone();
            let column = table
                .column_by_name(&name)
                .ok_or_else(|| DataError::TableMismatch {
                    problem: format!("column `{name}` is missing"),
                })?;
            let profile = match column {
                Column::Numeric(v) => {
                    let present: Vec<f64> = rows
                        .iter()
                        .filter_map(|&r| v.get(r).copied())
                        .filter(|x| !x.is_nan())
                        .collect();
                    let missing_rate = 1.0 - present.len() as f64 / n;
                    let (edges, fractions) = quantile_bins(present);
                    ColumnProfile::Numeric {
                        name,
                        edges,
                        fractions,
                        missing_rate,
                        is_date: false,
                    }
                }
                Column::Date(v) => {
                    let present: Vec<f64> = rows
                        .iter()
                        .filter_map(|&r| v.get(r).copied())
                        .filter(|&d| d != MISSING_DAY)
                        .map(f64::from)
                        .collect();
                    let missing_rate = 1.0 - present.len() as f64 / n;
                    let (edges, fractions) = quantile_bins(present);
                    ColumnProfile::Numeric {
                        name,
                        edges,
                        fractions,
                        missing_rate,
                        is_date: true,
                    }
                }
                Column::Categorical { codes, labels } => {
                    let mut counts = vec![0usize; labels.len()];
                    let mut present = 0usize;
                    for &r in rows {
                        let code = codes.get(r).copied().unwrap_or(MISSING_CODE);
                        if let Some(c) = counts.get_mut(code as usize) {
                            *c += 1;
                            present += 1;
                        }
                    }
                    let mut ranked: Vec<(usize, &String)> = counts
                        .into_iter()
                        .zip(labels)
                        .filter(|(c, _)| *c > 0)
                        .collect();
                    ranked.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(b.1)));
                    let denom = present.max(1) as f64;
                    let top: Vec<(String, f64)> = ranked
                        .iter()
                        .take(PROFILE_TOP_CATEGORIES)
                        .map(|(c, l)| ((*l).clone(), *c as f64 / denom))
                        .collect();
                    let listed: f64 = top.iter().map(|t| t.1).sum();
                    let other = if present == 0 {
                        0.0
                    } else {
                        (1.0 - listed).max(0.0)
                    };
                    ColumnProfile::Categorical {
                        name,
                        top,
                        other,
                        missing_rate: 1.0 - present as f64 / n,
                    }
                }
                Column::Boolean(v) => {
                    let (mut t, mut present) = (0usize, 0usize);
                    for &r in rows {
                        match v.get(r).copied().unwrap_or(MISSING_BOOL) {
                            MISSING_BOOL => {}
                            b => {
                                present += 1;
                                t += usize::from(b == 1);
                            }
                        }
                    }
                    ColumnProfile::Boolean {
                        name,
                        true_rate: t as f64 / present.max(1) as f64,
                        missing_rate: 1.0 - present as f64 / n,
                    }
                }
                _ => {
                    return Err(DataError::TableMismatch {
                        problem: format!("column `{name}` is not stored"),
                    });
                }
            };
            columns.push(profile);
        }
        Ok(DatasetProfile {
            format_version: PROFILE_FORMAT_VERSION,
            n_rows: rows.len(),
            columns,
        })
    }
}
