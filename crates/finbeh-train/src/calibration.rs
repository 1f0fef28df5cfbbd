//! Isotonic calibration of a binary forest's positive-class probability (pool-adjacent-violators,
//! as scikit-learn's `IsotonicRegression(out_of_bounds="clip")`), and the artifact's calibration
//! section: the map plus a capped sample of the held-out (probability, label) pairs it was fitted
//! on, from which a monitor derives its label-free performance estimate's reference band.

use serde::{Deserialize, Serialize};

use crate::error::{Result, TrainError};

/// Version of the calibration section's layout.
pub const CALIBRATION_FORMAT_VERSION: u32 = 1;

/// A monotone map from a probability to the observed positive rate: the steps of an isotonic
/// fit, interpolated linearly between step ends and clamped outside them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "CalibrationPoints", into = "CalibrationPoints")]
pub struct IsotonicCalibration {
    /// Strictly increasing probabilities (each fitted block's first and last distinct input).
    x: Vec<f64>,
    /// The fitted positive rate at each `x`, non-decreasing, in [0, 1].
    y: Vec<f64>,
}

/// The serialized form of [`IsotonicCalibration`], checked on the way in.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct CalibrationPoints {
    x: Vec<f64>,
    y: Vec<f64>,
}

impl TryFrom<CalibrationPoints> for IsotonicCalibration {
    type Error = String;
    fn try_from(points: CalibrationPoints) -> std::result::Result<Self, String> {
        Self::from_points(points.x, points.y).map_err(|e| e.to_string())
    }
}

impl From<IsotonicCalibration> for CalibrationPoints {
    fn from(map: IsotonicCalibration) -> Self {
        Self { x: map.x, y: map.y }
    }
}

fn bad(reason: String) -> TrainError {
    TrainError::InvalidCalibration { reason }
}

impl IsotonicCalibration {
    /// Fits the map on probabilities and whether each row was positive: ties are pooled, then
    /// adjacent blocks that violate monotonicity are merged (weighted means), so the fitted
    /// values are the non-decreasing least-squares fit and their mean over the fit set equals
    /// the positive rate.
    ///
    /// # Errors
    /// Empty input, different lengths, or a probability that is not a finite value in [0, 1]
    /// (named by index).
    pub fn fit(probabilities: &[f64], positives: &[bool]) -> Result<Self> {
        if probabilities.len() != positives.len() {
            return Err(TrainError::LengthMismatch {
                what: "calibration probabilities vs labels",
                expected: probabilities.len(),
                got: positives.len(),
            });
        }
        if probabilities.is_empty() {
            return Err(TrainError::EmptyInput {
                what: "calibration rows",
            });
        }
        if let Some((index, &value)) = probabilities
            .iter()
            .enumerate()
            .find(|(_, p)| !(p.is_finite() && (0.0..=1.0).contains(*p)))
        {
            return Err(TrainError::InvalidProbability {
                what: "calibration probability",
                index,
                value,
            });
        }
        let mut pairs: Vec<(f64, bool)> = probabilities
            .iter()
            .copied()
            .zip(positives.iter().copied())
            .collect();
        pairs.sort_by(|a, b| a.0.total_cmp(&b.0));
        // Blocks of (first x, last x, positives, rows), ties pooled first.
        let mut blocks: Vec<Block> = Vec::new();
        for (p, positive) in pairs {
            match blocks.last_mut() {
                Some(b) if b.last == p => b.add(positive),
                _ => blocks.push(Block::new(p, positive)),
            }
        }
        // Pool adjacent violators: merge while the previous block's mean exceeds the last one's.
        let mut pooled: Vec<Block> = Vec::with_capacity(blocks.len());
        for block in blocks {
            pooled.push(block);
            while pooled.len() >= 2 {
                let (prev, last) = (&pooled[pooled.len() - 2], &pooled[pooled.len() - 1]);
                // prev.mean > last.mean, compared exactly on integer counts.
                if prev.positives * last.rows <= last.positives * prev.rows {
                    break;
                }
                if let Some(last) = pooled.pop()
                    && let Some(prev) = pooled.last_mut()
                {
                    prev.merge(&last);
                }
            }
        }
        let mut x = Vec::with_capacity(2 * pooled.len());
        let mut y = Vec::with_capacity(2 * pooled.len());
        for b in &pooled {
            let mean = b.positives as f64 / b.rows as f64;
            x.push(b.first);
            y.push(mean);
            if b.last > b.first {
                x.push(b.last);
                y.push(mean);
            }
        }
        Ok(Self { x, y })
    }

    /// A map from its points, as stored: `x` strictly increasing in [0, 1], `y` non-decreasing
    /// in [0, 1], the same non-zero length.
    ///
    /// # Errors
    /// The first point that breaks a rule, by index.
    pub fn from_points(x: Vec<f64>, y: Vec<f64>) -> Result<Self> {
        if x.len() != y.len() || x.is_empty() {
            return Err(bad(format!(
                "{} x and {} y points: need the same number, at least one",
                x.len(),
                y.len()
            )));
        }
        let unit = |v: f64| v.is_finite() && (0.0..=1.0).contains(&v);
        for i in 0..x.len() {
            if !unit(x[i]) || !unit(y[i]) {
                return Err(bad(format!(
                    "point {i} ({}, {}) is not in [0, 1] x [0, 1]",
                    x[i], y[i]
                )));
            }
            if i > 0 && (x[i] <= x[i - 1] || y[i] < y[i - 1]) {
                return Err(bad(format!(
                    "point {i} ({}, {}) does not follow ({}, {}): x must increase, y must not decrease",
                    x[i],
                    y[i],
                    x[i - 1],
                    y[i - 1]
                )));
            }
        }
        Ok(Self { x, y })
    }

    /// The calibrated probability of `p`: linear between the fitted points, the first or last
    /// fitted value outside them. Monotone in `p`, in [0, 1]; NaN stays NaN.
    pub fn apply(&self, p: f64) -> f64 {
        let (x, y) = (&self.x, &self.y);
        let last = x.len() - 1;
        if p.is_nan() {
            return f64::NAN;
        }
        if p <= x[0] {
            return y[0];
        }
        if p >= x[last] {
            return y[last];
        }
        // x[i - 1] < p < x[i] or p == x[i - 1].
        let i = x.partition_point(|&xi| xi <= p);
        let (x0, x1, y0, y1) = (x[i - 1], x[i], y[i - 1], y[i]);
        (y0 + (y1 - y0) * (p - x0) / (x1 - x0)).clamp(y0, y1)
    }

    /// The fitted points' probabilities (strictly increasing).
    pub fn x(&self) -> &[f64] {
        &self.x
    }
    /// The fitted positive rate at each point (non-decreasing).
    pub fn y(&self) -> &[f64] {
        &self.y
    }
    /// Number of points.
    pub fn n_points(&self) -> usize {
        self.x.len()
    }
}

struct Block {
    first: f64,
    last: f64,
    positives: u64,
    rows: u64,
}

impl Block {
    fn new(p: f64, positive: bool) -> Self {
        Self {
            first: p,
            last: p,
            positives: u64::from(positive),
            rows: 1,
        }
    }
    fn add(&mut self, positive: bool) {
        self.positives += u64::from(positive);
        self.rows += 1;
    }
    fn merge(&mut self, next: &Self) {
        self.last = next.last;
        self.positives += next.positives;
        self.rows += next.rows;
    }
}

/// The artifact's calibration section (binary models): the isotonic map fitted on every held-out
/// row, and a seeded sample of those rows' (uncalibrated probability, label) pairs, at most
/// `model.reference_sample_rows`, in held-out order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Calibration {
    format_version: u32,
    map: IsotonicCalibration,
    /// Held-out rows the map was fitted on.
    fitted_on: usize,
    probabilities: Vec<f64>,
    positives: Vec<bool>,
    seed: u64,
}

impl Calibration {
    /// Fits the map on every held-out pair and keeps at most `max_pairs` of them (a seeded
    /// sample, order kept).
    ///
    /// # Errors
    /// See [`IsotonicCalibration::fit`].
    pub fn fit(
        probabilities: &[f64],
        positives: &[bool],
        max_pairs: usize,
        seed: u64,
    ) -> Result<Self> {
        let map = IsotonicCalibration::fit(probabilities, positives)?;
        let kept = crate::reference::sample_indices(probabilities.len(), max_pairs, seed);
        Ok(Self {
            format_version: CALIBRATION_FORMAT_VERSION,
            map,
            fitted_on: probabilities.len(),
            probabilities: kept.iter().map(|&i| probabilities[i]).collect(),
            positives: kept.iter().map(|&i| positives[i]).collect(),
            seed,
        })
    }

    /// Checks a decoded section: its version, the pairs (same length, at most `max_pairs`,
    /// probabilities in [0, 1]) and the fit count.
    pub(crate) fn check(&self, max_pairs: usize) -> Result<()> {
        let bad = |reason: String| TrainError::MalformedArtifact {
            reason: format!("calibration section: {reason}"),
        };
        if self.format_version != CALIBRATION_FORMAT_VERSION {
            return Err(bad(format!(
                "format_version {} is not supported (this build reads {CALIBRATION_FORMAT_VERSION})",
                self.format_version
            )));
        }
        if self.probabilities.len() != self.positives.len() {
            return Err(bad(format!(
                "{} probabilities for {} labels",
                self.probabilities.len(),
                self.positives.len()
            )));
        }
        if self.probabilities.len() > max_pairs || self.probabilities.len() > self.fitted_on {
            return Err(bad(format!(
                "{} held-out pairs: more than the cap {max_pairs} or the {} rows fitted on",
                self.probabilities.len(),
                self.fitted_on
            )));
        }
        if let Some((i, p)) = self
            .probabilities
            .iter()
            .enumerate()
            .find(|(_, p)| !(p.is_finite() && (0.0..=1.0).contains(*p)))
        {
            return Err(bad(format!("probability {i} is {p}, not in [0, 1]")));
        }
        Ok(())
    }

    /// The isotonic map.
    pub fn map(&self) -> &IsotonicCalibration {
        &self.map
    }
    /// Held-out rows the map was fitted on.
    pub fn fitted_on(&self) -> usize {
        self.fitted_on
    }
    /// The kept held-out rows' positive-class probabilities, as the forest gave them
    /// (uncalibrated).
    pub fn probabilities(&self) -> &[f64] {
        &self.probabilities
    }
    /// Whether each kept held-out row is of the positive class.
    pub fn positives(&self) -> &[bool] {
        &self.positives
    }
    /// Seed of the sample of kept pairs.
    pub fn seed(&self) -> u64 {
        self.seed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn points_that_break_the_rules_are_refused() {
        assert!(IsotonicCalibration::from_points(vec![], vec![]).is_err());
        assert!(IsotonicCalibration::from_points(vec![0.2, 0.1], vec![0.0, 1.0]).is_err());
        assert!(IsotonicCalibration::from_points(vec![0.1, 0.2], vec![0.5, 0.4]).is_err());
        assert!(IsotonicCalibration::from_points(vec![0.1], vec![1.5]).is_err());
        assert!(IsotonicCalibration::from_points(vec![f64::NAN], vec![0.5]).is_err());
        assert!(IsotonicCalibration::from_points(vec![0.1, 0.2], vec![0.4, 0.4]).is_ok());
    }
}
