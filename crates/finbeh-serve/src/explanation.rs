//! What a [`crate::Scorer`] fills when a request asks for explanations.

use crate::error::RowError;

/// Per-row explanations: for each row, one base value per output and one contribution per
/// input column and output (binary models: one output, the positive class; multi-class: one
/// per class). `base + Σ contributions` is the row's probability of that output.
#[derive(Debug, Default, Clone)]
pub struct ExplainBuffer {
    n_outputs: usize,
    n_columns: usize,
    base: Vec<f64>,
    contributions: Vec<f64>,
    malformed: bool,
}

impl ExplainBuffer {
    /// An empty buffer.
    pub fn new() -> Self {
        Self::default()
    }

    /// Empties the buffer for rows of `n_columns` input columns and `n_outputs` outputs.
    pub fn reset(&mut self, n_outputs: usize, n_columns: usize) {
        self.n_outputs = n_outputs;
        self.n_columns = n_columns;
        self.base.clear();
        self.contributions.clear();
        self.malformed = false;
    }

    /// Appends one row: `base` (`n_outputs`) and `contributions` (`n_columns × n_outputs`,
    /// column-major: column `c`, output `o` at `c * n_outputs + o`).
    pub fn push(&mut self, base: &[f64], contributions: &[f64]) {
        if base.len() != self.n_outputs
            || contributions.len() != self.n_columns.saturating_mul(self.n_outputs)
        {
            self.malformed = true;
        }
        self.base.extend_from_slice(base);
        self.contributions.extend_from_slice(contributions);
    }

    /// Outputs per row.
    pub fn n_outputs(&self) -> usize {
        self.n_outputs
    }

    /// Input columns per row.
    pub fn n_columns(&self) -> usize {
        self.n_columns
    }

    /// Base values, `rows × n_outputs`.
    pub fn base(&self) -> &[f64] {
        &self.base
    }

    /// Contributions, `rows × n_columns × n_outputs`.
    pub fn contributions(&self) -> &[f64] {
        &self.contributions
    }

    /// Whether exactly `n_rows` well-formed rows were pushed.
    pub fn is_consistent(&self, n_rows: usize) -> bool {
        !self.malformed
            && self.n_outputs > 0
            && self.base.len() == n_rows.saturating_mul(self.n_outputs)
            && self.contributions.len()
                == n_rows
                    .saturating_mul(self.n_columns)
                    .saturating_mul(self.n_outputs)
    }
}

/// Why a scorer did not explain a request; both are the client's 400.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum ExplainRefusal {
    /// The model cannot explain at all (e.g. an artifact without node cover), and why.
    Unavailable(String),
    /// One row could not be explained.
    Row(RowError),
}
