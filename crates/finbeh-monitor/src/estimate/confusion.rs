//! The metrics of one chunk: expected from calibrated probabilities (CBPE), or realized from
//! labels. Both start from a confusion matrix at the model's decision threshold.

use serde::{Deserialize, Serialize};

/// A binary confusion matrix; expected counts are fractional.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct Confusion {
    /// Predicted positive, positive.
    pub tp: f64,
    /// Predicted positive, negative.
    pub fp: f64,
    /// Predicted negative, negative.
    pub tn: f64,
    /// Predicted negative, positive (`fn` in JSON).
    #[serde(rename = "fn")]
    pub fn_: f64,
}

/// A ratio, `None` when its denominator is 0 (the metric is undefined on the chunk).
fn ratio(numerator: f64, denominator: f64) -> Option<f64> {
    (denominator > 0.0).then(|| numerator / denominator)
}

impl Confusion {
    /// The expected confusion matrix: a row predicted positive (served probability `p >=
    /// threshold`) is a true positive with its calibrated probability `c` and a false positive
    /// with `1 - c`; a row predicted negative is a false negative with `c` and a true negative
    /// with `1 - c`. Pairs are (served probability, calibrated probability).
    pub fn expected(pairs: impl IntoIterator<Item = (f64, f64)>, threshold: f64) -> Self {
        let mut m = Self::default();
        for (served, calibrated) in pairs {
            if served >= threshold {
                m.tp += calibrated;
                m.fp += 1.0 - calibrated;
            } else {
                m.fn_ += calibrated;
                m.tn += 1.0 - calibrated;
            }
        }
        m
    }

    /// The realized confusion matrix of labelled rows: (served probability, is positive).
    pub fn realized(pairs: impl IntoIterator<Item = (f64, bool)>, threshold: f64) -> Self {
        Self::expected(
            pairs
                .into_iter()
                .map(|(served, positive)| (served, if positive { 1.0 } else { 0.0 })),
            threshold,
        )
    }

    /// Rows (the sum of the four cells).
    pub fn rows(&self) -> f64 {
        self.tp + self.fp + self.tn + self.fn_
    }
    /// (TP + TN) / rows.
    pub fn accuracy(&self) -> Option<f64> {
        ratio(self.tp + self.tn, self.rows())
    }
    /// TP / (TP + FP).
    pub fn precision(&self) -> Option<f64> {
        ratio(self.tp, self.tp + self.fp)
    }
    /// TP / (TP + FN).
    pub fn recall(&self) -> Option<f64> {
        ratio(self.tp, self.tp + self.fn_)
    }
    /// TP / (TP + (FP + FN) / 2).
    pub fn f1(&self) -> Option<f64> {
        ratio(self.tp, self.tp + 0.5 * (self.fp + self.fn_))
    }
}

/// NannyML's estimated ROC AUC: rows ranked by served probability (highest first), each row
/// counts as `c` of a positive and `1 - c` of a negative (its calibrated probability), and the
/// area under the resulting expected ROC curve is taken with the trapezoid rule. Rows with the
/// same served probability form one step (they have the same calibrated probability, so their
/// points are collinear anyway). `None` when the expected positives or negatives are 0.
pub fn expected_roc_auc(pairs: &[(f64, f64)]) -> Option<f64> {
    let weighted: Vec<(f64, f64, f64)> = pairs.iter().map(|&(s, c)| (s, c, 1.0 - c)).collect();
    roc_area(weighted)
}

/// The realized ROC AUC of labelled rows (served probability, is positive), ties counted half
/// (the Mann-Whitney statistic). `None` without both classes.
pub fn realized_roc_auc(pairs: &[(f64, bool)]) -> Option<f64> {
    let weighted: Vec<(f64, f64, f64)> = pairs
        .iter()
        .map(|&(s, y)| (s, f64::from(u8::from(y)), f64::from(u8::from(!y))))
        .collect();
    roc_area(weighted)
}

/// Area under the ROC curve of (score, positive weight, negative weight) rows, equal scores
/// forming one segment.
fn roc_area(mut rows: Vec<(f64, f64, f64)>) -> Option<f64> {
    rows.sort_by(|a, b| b.0.total_cmp(&a.0));
    let positives: f64 = rows.iter().map(|r| r.1).sum();
    let negatives: f64 = rows.iter().map(|r| r.2).sum();
    if positives <= 0.0 || negatives <= 0.0 {
        return None;
    }
    let (mut tp, mut fp, mut area) = (0.0, 0.0, 0.0);
    let mut i = 0;
    while i < rows.len() {
        let (prev_tp, prev_fp) = (tp, fp);
        let score = rows[i].0;
        while i < rows.len() && rows[i].0 == score {
            tp += rows[i].1;
            fp += rows[i].2;
            i += 1;
        }
        // Trapezoid between the two points, in (FPR, TPR).
        area += (fp - prev_fp) * (tp + prev_tp) / 2.0;
    }
    Some((area / (positives * negatives)).clamp(0.0, 1.0))
}
