//! One aggregate of scoring traffic: a minute of one (endpoint, deployment, model version), or
//! any merge of such minutes (a window, several replicas).

use std::collections::BTreeMap;

use finbeh_serve::PredictionRecord;
use hdrhistogram::Histogram;
use hdrhistogram::serialization::{Deserializer, Serializer as _, V2Serializer};

/// Latencies are recorded in microseconds, from 1 µs up to this (one hour); longer ones are
/// recorded as one hour.
pub const LATENCY_HIGHEST_US: u64 = 3_600_000_000;
/// Significant decimal digits the latency histograms keep (a quantile is within 0.1 %).
pub const LATENCY_SIGNIFICANT_DIGITS: u8 = 3;

/// Counts, sums and the latency histogram of some scoring traffic. Merging two aggregates
/// ([`merge`](Self::merge)) gives exactly the aggregate of all their traffic.
#[derive(Debug, Clone)]
pub struct Aggregate {
    /// Scoring requests logged.
    pub requests: u64,
    /// Requests by HTTP status answered.
    pub statuses: BTreeMap<u16, u64>,
    /// Rows scored (answered with a prediction).
    pub rows: u64,
    /// Rows scored by a binary model (those that have a positive class).
    pub binary_rows: u64,
    /// Binary rows predicted as the positive class (class index 1).
    pub positives: u64,
    /// Sum of the positive-class probability over binary rows.
    pub probability_sum: f64,
    /// Sum of request latencies, in milliseconds (for an exact average).
    pub latency_sum_ms: f64,
    /// Largest request latency, in milliseconds (exact).
    pub latency_max_ms: f64,
    /// Request latencies in microseconds.
    pub latency_us: Histogram<u64>,
}

impl Default for Aggregate {
    fn default() -> Self {
        Self::new()
    }
}

impl PartialEq for Aggregate {
    fn eq(&self, other: &Self) -> bool {
        self.requests == other.requests
            && self.statuses == other.statuses
            && self.rows == other.rows
            && self.binary_rows == other.binary_rows
            && self.positives == other.positives
            && self.probability_sum == other.probability_sum
            && self.latency_sum_ms == other.latency_sum_ms
            && self.latency_max_ms == other.latency_max_ms
            && self.latency_us == other.latency_us
    }
}

/// A stored histogram that cannot be read back.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub(crate) struct HistogramError(pub(crate) String);

impl Aggregate {
    /// An empty aggregate.
    pub fn new() -> Self {
        Self {
            requests: 0,
            statuses: BTreeMap::new(),
            rows: 0,
            binary_rows: 0,
            positives: 0,
            probability_sum: 0.0,
            latency_sum_ms: 0.0,
            latency_max_ms: 0.0,
            latency_us: empty_histogram(),
        }
    }

    /// Adds one request: its status and latency.
    pub fn record_request(&mut self, status: u16, latency_ms: f64) {
        self.requests += 1;
        *self.statuses.entry(status).or_insert(0) += 1;
        let latency_ms = if latency_ms.is_finite() {
            latency_ms.max(0.0)
        } else {
            0.0
        };
        self.latency_sum_ms += latency_ms;
        self.latency_max_ms = self.latency_max_ms.max(latency_ms);
        // Saturating float-to-int cast; at least 1 µs (the histogram's lowest value).
        let micros = ((latency_ms * 1_000.0).round() as u64).clamp(1, LATENCY_HIGHEST_US);
        self.latency_us.saturating_record(micros);
    }

    /// Adds one scored row: its predicted class index and class probabilities.
    pub fn record_row(&mut self, predicted_index: usize, probabilities: &[f64]) {
        self.rows += 1;
        // A non-finite probability would make the stored sum NULL (SQLite's NaN), which the
        // NOT NULL column refuses, failing the whole batch; such a row counts as scored only.
        if let [_, positive] = probabilities
            && positive.is_finite()
        {
            self.binary_rows += 1;
            self.positives += u64::from(predicted_index == 1);
            self.probability_sum += positive;
        }
    }

    /// Adds one logged request and its rows.
    pub fn record(&mut self, record: &PredictionRecord) {
        self.record_request(record.status, record.latency_ms);
        for (row, &predicted) in record.predicted.iter().enumerate() {
            self.record_row(predicted, record.row_probabilities(row));
        }
    }

    /// Adds every count of `other` into `self`.
    pub fn merge(&mut self, other: &Self) {
        self.requests += other.requests;
        for (status, count) in &other.statuses {
            *self.statuses.entry(*status).or_insert(0) += count;
        }
        self.rows += other.rows;
        self.binary_rows += other.binary_rows;
        self.positives += other.positives;
        self.probability_sum += other.probability_sum;
        self.latency_sum_ms += other.latency_sum_ms;
        self.latency_max_ms = self.latency_max_ms.max(other.latency_max_ms);
        // Both histograms have the same bounds, so every value of `other` fits.
        if self.latency_us.add(&other.latency_us).is_err() {
            for value in other.latency_us.iter_recorded() {
                self.latency_us
                    .saturating_record_n(value.value_iterated_to(), value.count_at_value());
            }
        }
    }

    /// The latency histogram in HdrHistogram's V2 format (uncompressed).
    pub(crate) fn histogram_bytes(&self) -> Vec<u8> {
        let mut bytes = Vec::new();
        // Writing to a Vec fails only on a histogram too large to encode, which ours cannot be.
        if V2Serializer::new()
            .serialize(&self.latency_us, &mut bytes)
            .is_err()
        {
            bytes.clear();
        }
        bytes
    }

    /// Reads a histogram written by [`histogram_bytes`](Self::histogram_bytes).
    pub(crate) fn histogram_from_bytes(bytes: &[u8]) -> Result<Histogram<u64>, HistogramError> {
        let stored: Histogram<u64> = Deserializer::new()
            .deserialize(&mut std::io::Cursor::new(bytes))
            .map_err(|e| HistogramError(format!("{e:?}")))?;
        // Stored with other bounds (a future build): re-record into ours.
        if stored.high() == LATENCY_HIGHEST_US && stored.sigfig() == LATENCY_SIGNIFICANT_DIGITS {
            return Ok(stored);
        }
        let mut ours = empty_histogram();
        for value in stored.iter_recorded() {
            ours.saturating_record_n(value.value_iterated_to(), value.count_at_value());
        }
        Ok(ours)
    }
}

fn empty_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, LATENCY_HIGHEST_US, LATENCY_SIGNIFICANT_DIGITS)
        .expect("constant bounds that HdrHistogram accepts: low 1, high >= 2, 3 digits")
}

#[cfg(test)]
mod tests {
    use super::Aggregate;

    #[test]
    fn a_non_finite_probability_leaves_the_sums_finite() {
        let mut aggregate = Aggregate::new();
        aggregate.record_row(1, &[0.25, 0.75]);
        aggregate.record_row(1, &[f64::NAN, f64::NAN]);
        aggregate.record_row(0, &[0.5, f64::INFINITY]);
        assert_eq!(aggregate.rows, 3);
        assert_eq!(aggregate.binary_rows, 1);
        assert_eq!(aggregate.positives, 1);
        assert_eq!(aggregate.probability_sum, 0.75);
    }
}
