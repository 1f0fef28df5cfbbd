//! Classification metrics, the decision-threshold rule and the evaluation report.
//!
//! Binary problems: class 1 is positive, scores are P(class 1), a row is predicted positive when
//! its score is `>=` the threshold.

use finbeh_config::ThresholdRule;
use ndarray::ArrayView2;
use serde::{Deserialize, Serialize};

use crate::error::{Result, TrainError};

/// Probabilities are clipped to `[LOG_LOSS_EPS, 1 - LOG_LOSS_EPS]` in log loss.
pub const LOG_LOSS_EPS: f64 = 1e-15;
/// Version of [`EvaluationReport`]'s serde form.
pub const EVALUATION_REPORT_VERSION: u32 = 1;
/// Bins of the calibration table.
pub const CALIBRATION_BINS: usize = 10;

fn check_len(what: &'static str, expected: usize, got: usize) -> Result<()> {
    if expected != got {
        return Err(TrainError::LengthMismatch {
            what,
            expected,
            got,
        });
    }
    if expected == 0 {
        return Err(TrainError::EmptyInput { what });
    }
    Ok(())
}

fn check_binary_labels(y_true: &[usize]) -> Result<(usize, usize)> {
    let mut pos = 0;
    for (row, &label) in y_true.iter().enumerate() {
        match label {
            0 => {}
            1 => pos += 1,
            _ => {
                return Err(TrainError::InvalidLabel {
                    row,
                    label,
                    reason: "binary metrics need labels 0 or 1",
                });
            }
        }
    }
    Ok((pos, y_true.len() - pos))
}

fn check_probabilities(what: &'static str, p: &[f64]) -> Result<()> {
    match p
        .iter()
        .enumerate()
        .find(|(_, v)| !(v.is_finite() && (0.0..=1.0).contains(*v)))
    {
        Some((index, &value)) => Err(TrainError::InvalidProbability { what, index, value }),
        None => Ok(()),
    }
}

fn both_classes(pos: usize, neg: usize) -> Result<()> {
    if pos == 0 || neg == 0 {
        return Err(TrainError::SingleClass {
            what: "y_true",
            class: usize::from(pos > 0),
        });
    }
    Ok(())
}

/// Row indices sorted by descending score (stable, so ties keep input order).
fn descending(scores: &[f64]) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..scores.len()).collect();
    idx.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));
    idx
}

/// For each distinct score, highest first: `(score, tp, fp)` counted over the rows scoring at
/// least that score, i.e. the confusion counts of the threshold `score`.
fn counts_at_distinct_thresholds(y_true: &[usize], scores: &[f64]) -> Vec<(f64, usize, usize)> {
    let idx = descending(scores);
    let (mut tp, mut fp) = (0usize, 0usize);
    let mut steps = Vec::new();
    let mut i = 0;
    while i < idx.len() {
        let s = scores[idx[i]];
        while i < idx.len() && scores[idx[i]] == s {
            if y_true[idx[i]] == 1 {
                tp += 1;
            } else {
                fp += 1;
            }
            i += 1;
        }
        steps.push((s, tp, fp));
    }
    steps
}

/// ROC AUC by the Mann–Whitney statistic with average ranks for ties (a tied positive/negative
/// pair counts one half). Errors when `y_true` holds a single class.
pub fn roc_auc(y_true: &[usize], scores: &[f64]) -> Result<f64> {
    check_len("scores vs y_true", y_true.len(), scores.len())?;
    if let Some((index, &value)) = scores.iter().enumerate().find(|(_, v)| !v.is_finite()) {
        return Err(TrainError::InvalidProbability {
            what: "score",
            index,
            value,
        });
    }
    let (pos, neg) = check_binary_labels(y_true)?;
    both_classes(pos, neg)?;
    let mut idx: Vec<usize> = (0..scores.len()).collect();
    idx.sort_by(|&a, &b| scores[a].total_cmp(&scores[b]));
    let mut rank_sum_pos = 0.0;
    let mut i = 0;
    while i < idx.len() {
        let mut j = i;
        while j + 1 < idx.len() && scores[idx[j + 1]] == scores[idx[i]] {
            j += 1;
        }
        // Ranks i+1 ..= j+1 share their average.
        let avg_rank = (i + j + 2) as f64 / 2.0;
        let tied_pos = idx[i..=j].iter().filter(|&&r| y_true[r] == 1).count();
        rank_sum_pos += avg_rank * tied_pos as f64;
        i = j + 1;
    }
    let (p, n) = (pos as f64, neg as f64);
    Ok((rank_sum_pos - p * (p + 1.0) / 2.0) / (p * n))
}

/// Average precision (area under the precision–recall curve, step-wise as scikit-learn):
/// `Σ (R_k − R_{k−1}) · P_k` over distinct thresholds, descending.
pub fn average_precision(y_true: &[usize], scores: &[f64]) -> Result<f64> {
    check_len("scores vs y_true", y_true.len(), scores.len())?;
    let (pos, neg) = check_binary_labels(y_true)?;
    both_classes(pos, neg)?;
    let (mut prev_recall, mut ap) = (0.0, 0.0);
    for (_, tp, fp) in counts_at_distinct_thresholds(y_true, scores) {
        let recall = tp as f64 / pos as f64;
        let precision = tp as f64 / (tp + fp) as f64;
        ap += (recall - prev_recall) * precision;
        prev_recall = recall;
    }
    Ok(ap)
}

/// Binary log loss of P(class 1), clipped to `[1e-15, 1 - 1e-15]`.
pub fn binary_log_loss(y_true: &[usize], p1: &[f64]) -> Result<f64> {
    check_len("probabilities vs y_true", y_true.len(), p1.len())?;
    check_binary_labels(y_true)?;
    check_probabilities("probability", p1)?;
    let sum: f64 = y_true
        .iter()
        .zip(p1)
        .map(|(&y, &p)| {
            let p = p.clamp(LOG_LOSS_EPS, 1.0 - LOG_LOSS_EPS);
            if y == 1 { -p.ln() } else { -(1.0 - p).ln() }
        })
        .sum();
    Ok(sum / y_true.len() as f64)
}

/// Multi-class log loss `−mean(ln p[y])`, clipped like [`binary_log_loss`].
pub fn log_loss(y_true: &[usize], proba: ArrayView2<'_, f64>) -> Result<f64> {
    check_len("probability rows vs y_true", y_true.len(), proba.nrows())?;
    let mut sum = 0.0;
    for (row, (&y, p)) in y_true.iter().zip(proba.outer_iter()).enumerate() {
        let &v = p.get(y).ok_or(TrainError::InvalidLabel {
            row,
            label: y,
            reason: "label has no probability column",
        })?;
        if !(v.is_finite() && (0.0..=1.0).contains(&v)) {
            return Err(TrainError::InvalidProbability {
                what: "probability",
                index: row,
                value: v,
            });
        }
        sum -= v.clamp(LOG_LOSS_EPS, 1.0 - LOG_LOSS_EPS).ln();
    }
    Ok(sum / y_true.len() as f64)
}

/// Brier score `mean((p − y)²)`.
pub fn brier_score(y_true: &[usize], p1: &[f64]) -> Result<f64> {
    check_len("probabilities vs y_true", y_true.len(), p1.len())?;
    check_binary_labels(y_true)?;
    check_probabilities("probability", p1)?;
    let sum: f64 = y_true
        .iter()
        .zip(p1)
        .map(|(&y, &p)| (p - y as f64).powi(2))
        .sum();
    Ok(sum / y_true.len() as f64)
}

/// Fraction of equal labels.
pub fn accuracy(y_true: &[usize], y_pred: &[usize]) -> Result<f64> {
    check_len("predictions vs y_true", y_true.len(), y_pred.len())?;
    let correct = y_true.iter().zip(y_pred).filter(|(a, b)| a == b).count();
    Ok(correct as f64 / y_true.len() as f64)
}

/// Counts by (true class, predicted class): `counts[true][predicted]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfusionMatrix {
    /// `counts[t][p]`: rows of true class `t` predicted as `p`.
    pub counts: Vec<Vec<u64>>,
}

impl ConfusionMatrix {
    /// Tallies `y_true` against `y_pred`, both in `0..n_classes`.
    pub fn new(y_true: &[usize], y_pred: &[usize], n_classes: usize) -> Result<Self> {
        check_len("predictions vs y_true", y_true.len(), y_pred.len())?;
        let mut counts = vec![vec![0u64; n_classes]; n_classes];
        for (row, (&t, &p)) in y_true.iter().zip(y_pred).enumerate() {
            for label in [t, p] {
                if label >= n_classes {
                    return Err(TrainError::InvalidLabel {
                        row,
                        label,
                        reason: "label is not below the number of classes",
                    });
                }
            }
            counts[t][p] += 1;
        }
        Ok(Self { counts })
    }

    fn class_f1(&self, c: usize) -> f64 {
        let tp = self.counts[c][c] as f64;
        let fp: f64 = (0..self.counts.len())
            .filter(|&t| t != c)
            .map(|t| self.counts[t][c] as f64)
            .sum();
        let fn_: f64 = (0..self.counts.len())
            .filter(|&p| p != c)
            .map(|p| self.counts[c][p] as f64)
            .sum();
        if tp == 0.0 {
            0.0
        } else {
            2.0 * tp / (2.0 * tp + fp + fn_)
        }
    }

    /// Unweighted mean of per-class F1 (a class never predicted nor present scores 0).
    pub fn macro_f1(&self) -> f64 {
        let n = self.counts.len();
        (0..n).map(|c| self.class_f1(c)).sum::<f64>() / n.max(1) as f64
    }
}

/// One bin of the calibration table: rows whose P(class 1) falls in `[lower, upper)` (the last
/// bin includes 1.0).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CalibrationBin {
    /// Lower edge.
    pub lower: f64,
    /// Upper edge.
    pub upper: f64,
    /// Rows in the bin.
    pub count: usize,
    /// Mean predicted probability (None for an empty bin).
    pub mean_predicted: Option<f64>,
    /// Observed positive rate (None for an empty bin).
    pub observed_rate: Option<f64>,
}

/// Calibration table with `n_bins` equal-width bins over [0, 1].
pub fn calibration_table(
    y_true: &[usize],
    p1: &[f64],
    n_bins: usize,
) -> Result<Vec<CalibrationBin>> {
    check_len("probabilities vs y_true", y_true.len(), p1.len())?;
    check_binary_labels(y_true)?;
    check_probabilities("probability", p1)?;
    if n_bins == 0 {
        return Err(TrainError::InvalidParameter {
            name: "n_bins",
            value: "0".into(),
            reason: "must be at least 1",
        });
    }
    let mut sums = vec![(0usize, 0.0, 0usize); n_bins];
    for (&y, &p) in y_true.iter().zip(p1) {
        let b = ((p * n_bins as f64) as usize).min(n_bins - 1);
        sums[b].0 += 1;
        sums[b].1 += p;
        sums[b].2 += y;
    }
    Ok(sums
        .into_iter()
        .enumerate()
        .map(|(b, (count, sum_p, pos))| CalibrationBin {
            lower: b as f64 / n_bins as f64,
            upper: (b + 1) as f64 / n_bins as f64,
            count,
            mean_predicted: (count > 0).then(|| sum_p / count as f64),
            observed_rate: (count > 0).then(|| pos as f64 / count as f64),
        })
        .collect())
}

/// Applies `rule` to scores `p1` against `y_true`.
pub fn choose_threshold(rule: ThresholdRule, y_true: &[usize], p1: &[f64]) -> Result<f64> {
    check_len("probabilities vs y_true", y_true.len(), p1.len())?;
    let (pos, neg) = check_binary_labels(y_true)?;
    check_probabilities("probability", p1)?;
    let invalid = |value: f64, reason| TrainError::InvalidParameter {
        name: "threshold_rule",
        value: format!("{rule:?} ({value})"),
        reason,
    };
    match rule {
        ThresholdRule::Fixed { value: t } => {
            if t.is_finite() && (0.0..=1.0).contains(&t) {
                Ok(t)
            } else {
                Err(invalid(t, "a fixed threshold must be in [0, 1]"))
            }
        }
        ThresholdRule::TargetRecall { value: r } if !(r.is_finite() && r > 0.0 && r <= 1.0) => {
            Err(invalid(r, "target recall must be in (0, 1]"))
        }
        ThresholdRule::BestF1 | ThresholdRule::TargetRecall { value: _ } => {
            both_classes(pos, neg)?;
            let mut best: Option<(f64, f64)> = None;
            for (s, tp, fp) in counts_at_distinct_thresholds(y_true, p1) {
                match rule {
                    ThresholdRule::TargetRecall { value: r } => {
                        if tp as f64 / pos as f64 >= r {
                            return Ok(s);
                        }
                    }
                    _ => {
                        let f1 = 2.0 * tp as f64 / (tp + fp + pos) as f64;
                        if best.is_none_or(|(b, _)| f1 > b) {
                            best = Some((f1, s));
                        }
                    }
                }
            }
            Ok(best.map_or(0.0, |(_, s)| s))
        }
    }
}

/// Threshold-dependent and probability-quality metrics of a binary problem.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BinaryMetrics {
    /// The decision threshold used for the threshold-dependent metrics.
    pub threshold: f64,
    /// The rule that chose it.
    #[serde(with = "crate::threshold_wire")]
    pub threshold_rule: ThresholdRule,
    /// TP / (TP + FP) (0 when nothing is predicted positive).
    pub precision: f64,
    /// TP / (TP + FN).
    pub recall: f64,
    /// Harmonic mean of precision and recall.
    pub f1: f64,
    /// Average precision (PR AUC).
    pub pr_auc: f64,
    /// Mean squared error of P(class 1).
    pub brier_score: f64,
    /// 10 equal-width bins of predicted probability.
    pub calibration: Vec<CalibrationBin>,
}

/// Everything measured on one evaluation set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvaluationReport {
    /// [`EVALUATION_REPORT_VERSION`].
    pub version: u32,
    /// Rows evaluated.
    pub n_samples: usize,
    /// Classes (columns of the probability matrix).
    pub n_classes: usize,
    /// Binary: at the chosen threshold; multi-class: of the argmax.
    pub accuracy: f64,
    /// Binary: ROC AUC of P(class 1); multi-class: macro one-vs-rest ROC AUC.
    pub roc_auc: f64,
    /// Log loss (clipped at 1e-15).
    pub log_loss: f64,
    /// Macro-averaged F1.
    pub macro_f1: f64,
    /// `counts[true][predicted]`.
    pub confusion_matrix: ConfusionMatrix,
    /// Binary-only metrics.
    pub binary: Option<BinaryMetrics>,
}

/// Evaluates class probabilities (rows × classes) against labels. Binary problems (2 columns)
/// use `rule` for the decision threshold; multi-class problems use the argmax.
pub fn evaluate(
    y_true: &[usize],
    proba: ArrayView2<'_, f64>,
    rule: ThresholdRule,
) -> Result<EvaluationReport> {
    check_len("probability rows vs y_true", y_true.len(), proba.nrows())?;
    let n_classes = proba.ncols();
    if n_classes < 2 {
        return Err(TrainError::ModelShape {
            what: "probability columns (at least)",
            expected: 2,
            got: n_classes,
        });
    }
    let log_loss = log_loss(y_true, proba)?;
    if n_classes == 2 {
        let p1: Vec<f64> = proba.column(1).to_vec();
        let threshold = choose_threshold(rule, y_true, &p1)?;
        let y_pred: Vec<usize> = p1.iter().map(|&p| usize::from(p >= threshold)).collect();
        let cm = ConfusionMatrix::new(y_true, &y_pred, 2)?;
        let (tp, fp, fn_) = (
            cm.counts[1][1] as f64,
            cm.counts[0][1] as f64,
            cm.counts[1][0] as f64,
        );
        let precision = if tp + fp > 0.0 { tp / (tp + fp) } else { 0.0 };
        let recall = if tp + fn_ > 0.0 { tp / (tp + fn_) } else { 0.0 };
        let f1 = if tp > 0.0 {
            2.0 * tp / (2.0 * tp + fp + fn_)
        } else {
            0.0
        };
        Ok(EvaluationReport {
            version: EVALUATION_REPORT_VERSION,
            n_samples: y_true.len(),
            n_classes,
            accuracy: accuracy(y_true, &y_pred)?,
            roc_auc: roc_auc(y_true, &p1)?,
            log_loss,
            macro_f1: cm.macro_f1(),
            binary: Some(BinaryMetrics {
                threshold,
                threshold_rule: rule,
                precision,
                recall,
                f1,
                pr_auc: average_precision(y_true, &p1)?,
                brier_score: brier_score(y_true, &p1)?,
                calibration: calibration_table(y_true, &p1, CALIBRATION_BINS)?,
            }),
            confusion_matrix: cm,
        })
    } else {
        let y_pred: Vec<usize> = proba
            .outer_iter()
            .map(|p| crate::forest::argmax(&p.to_vec()))
            .collect();
        let cm = ConfusionMatrix::new(y_true, &y_pred, n_classes)?;
        Ok(EvaluationReport {
            version: EVALUATION_REPORT_VERSION,
            n_samples: y_true.len(),
            n_classes,
            accuracy: accuracy(y_true, &y_pred)?,
            roc_auc: macro_ovr_roc_auc(y_true, proba)?,
            log_loss,
            macro_f1: cm.macro_f1(),
            confusion_matrix: cm,
            binary: None,
        })
    }
}

/// Macro one-vs-rest ROC AUC; every class must be present in `y_true`.
pub fn macro_ovr_roc_auc(y_true: &[usize], proba: ArrayView2<'_, f64>) -> Result<f64> {
    check_len("probability rows vs y_true", y_true.len(), proba.nrows())?;
    let n_classes = proba.ncols();
    let mut total = 0.0;
    for c in 0..n_classes {
        let y_c: Vec<usize> = y_true.iter().map(|&y| usize::from(y == c)).collect();
        if !y_c.contains(&1) {
            return Err(TrainError::MissingClass {
                what: "y_true",
                class: c,
                metric: "one-vs-rest ROC AUC",
            });
        }
        total += roc_auc(&y_c, &proba.column(c).to_vec())?;
    }
    Ok(total / n_classes as f64)
}

/// ROC AUC of a probability matrix: binary → of column 1, multi-class → macro one-vs-rest.
pub fn roc_auc_of_proba(y_true: &[usize], proba: ArrayView2<'_, f64>) -> Result<f64> {
    if proba.ncols() == 2 {
        roc_auc(y_true, &proba.column(1).to_vec())
    } else {
        macro_ovr_roc_auc(y_true, proba)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    #[test]
    fn roc_auc_by_hand() {
        // Positive/negative pairs: (0.35>0.1) (0.35<0.4) (0.8>0.1) (0.8>0.4) → 3/4.
        assert!(close(
            roc_auc(&[0, 0, 1, 1], &[0.1, 0.4, 0.35, 0.8]).unwrap(),
            0.75
        ));
    }

    #[test]
    fn roc_auc_counts_ties_as_half() {
        // Pairs: (0.5 vs 0.5) = 0.5, (0.5>0.2), (0.9>0.5), (0.9>0.2) → 3.5/4.
        assert!(close(
            roc_auc(&[0, 1, 0, 1], &[0.5, 0.5, 0.2, 0.9]).unwrap(),
            0.875
        ));
        // All tied → 0.5.
        assert!(close(roc_auc(&[0, 1, 0, 1], &[0.3; 4]).unwrap(), 0.5));
    }

    #[test]
    fn degenerate_inputs_are_errors_not_nan() {
        assert!(matches!(
            roc_auc(&[1, 1], &[0.2, 0.3]),
            Err(TrainError::SingleClass { class: 1, .. })
        ));
        assert!(matches!(
            average_precision(&[0, 0], &[0.2, 0.3]),
            Err(TrainError::SingleClass { class: 0, .. })
        ));
        assert!(matches!(
            choose_threshold(ThresholdRule::BestF1, &[0, 0], &[0.2, 0.3]),
            Err(TrainError::SingleClass { .. })
        ));
        assert!(matches!(
            roc_auc(&[], &[]),
            Err(TrainError::EmptyInput { .. })
        ));
        assert!(matches!(
            roc_auc(&[0, 1], &[0.2]),
            Err(TrainError::LengthMismatch { .. })
        ));
        assert!(matches!(
            roc_auc(&[0, 2], &[0.2, 0.3]),
            Err(TrainError::InvalidLabel {
                row: 1,
                label: 2,
                ..
            })
        ));
        assert!(matches!(
            brier_score(&[0, 1], &[0.2, f64::NAN]),
            Err(TrainError::InvalidProbability { index: 1, .. })
        ));
        let proba = array![[0.5, 0.5, 0.0], [0.2, 0.3, 0.5]];
        assert!(matches!(
            macro_ovr_roc_auc(&[0, 2], proba.view()),
            Err(TrainError::MissingClass { class: 1, .. })
        ));
    }

    #[test]
    fn average_precision_by_hand() {
        // Descending: 0.8(+) P=1 R=.5; 0.4(−) P=.5 R=.5; 0.35(+) P=2/3 R=1; 0.1(−).
        // AP = .5·1 + 0 + .5·(2/3) + 0 = 0.8333…
        assert!(close(
            average_precision(&[0, 0, 1, 1], &[0.1, 0.4, 0.35, 0.8]).unwrap(),
            0.5 + 0.5 * 2.0 / 3.0
        ));
    }

    #[test]
    fn log_loss_and_brier_by_hand() {
        // −(ln 0.8 + ln 0.7)/2.
        let expected = -(0.8f64.ln() + 0.7f64.ln()) / 2.0;
        assert!(close(
            binary_log_loss(&[1, 0], &[0.8, 0.3]).unwrap(),
            expected
        ));
        let proba = array![[0.2, 0.8], [0.7, 0.3]];
        assert!(close(log_loss(&[1, 0], proba.view()).unwrap(), expected));
        // (0.2² + 0.3²)/2 = 0.065.
        assert!(close(brier_score(&[1, 0], &[0.8, 0.3]).unwrap(), 0.065));
        // Clipping: a confident miss costs −ln(1e-15), not infinity.
        assert!(close(
            binary_log_loss(&[1], &[0.0]).unwrap(),
            -(LOG_LOSS_EPS.ln())
        ));
    }

    #[test]
    fn binary_report_by_hand() {
        // y = [1,1,0,0,1], p = [.9,.4,.6,.1,.7]; at 0.5 predictions [1,0,1,0,1]:
        // TP=2 FN=1 FP=1 TN=1 → accuracy .6, precision = recall = F1 = 2/3.
        let y = [1, 1, 0, 0, 1];
        let p = [0.9, 0.4, 0.6, 0.1, 0.7];
        let proba =
            ndarray::Array2::from_shape_fn((5, 2), |(r, c)| if c == 1 { p[r] } else { 1.0 - p[r] });
        let report = evaluate(&y, proba.view(), ThresholdRule::default()).unwrap();
        let b = report.binary.as_ref().unwrap();
        assert!(close(report.accuracy, 0.6));
        assert!(close(b.precision, 2.0 / 3.0));
        assert!(close(b.recall, 2.0 / 3.0));
        assert!(close(b.f1, 2.0 / 3.0));
        assert_eq!(report.confusion_matrix.counts, vec![vec![1, 1], vec![1, 2]]);
        assert_eq!(b.threshold_rule, ThresholdRule::Fixed { value: 0.5 });
        // Positives outrank negatives in 5 of 6 pairs (0.4 < 0.6 is the miss).
        assert!(close(report.roc_auc, 5.0 / 6.0));
        let json = serde_json::to_string(&report).unwrap();
        let back: EvaluationReport = serde_json::from_str(&json).unwrap();
        assert_eq!(back, report);
    }

    #[test]
    fn threshold_rules_by_hand() {
        let y = [1, 1, 0, 0, 1];
        let p = [0.9, 0.4, 0.6, 0.1, 0.7];
        // F1 per threshold: .9→.5, .7→.8, .6→.667, .4→6/7, .1→.75 → best 0.4.
        assert_eq!(
            choose_threshold(ThresholdRule::BestF1, &y, &p).unwrap(),
            0.4
        );
        // Recall per threshold: .9→1/3, .7→2/3 ≥ .6 → 0.7.
        assert_eq!(
            choose_threshold(ThresholdRule::TargetRecall { value: 0.6 }, &y, &p).unwrap(),
            0.7
        );
        assert_eq!(
            choose_threshold(ThresholdRule::TargetRecall { value: 1.0 }, &y, &p).unwrap(),
            0.4
        );
        let err = choose_threshold(ThresholdRule::Fixed { value: 1.5 }, &y, &p).unwrap_err();
        assert!(err.to_string().contains("threshold_rule"), "{err}");
        assert!(choose_threshold(ThresholdRule::TargetRecall { value: 0.0 }, &y, &p).is_err());
    }

    #[test]
    fn calibration_by_hand() {
        let table = calibration_table(&[0, 1, 0, 1], &[0.05, 0.15, 0.12, 1.0], 10).unwrap();
        assert_eq!(table.len(), 10);
        assert_eq!(table[0].count, 1);
        assert_eq!(table[0].observed_rate, Some(0.0));
        assert_eq!(table[1].count, 2);
        assert!(close(table[1].mean_predicted.unwrap(), 0.135));
        assert_eq!(table[1].observed_rate, Some(0.5));
        assert_eq!(table[5].count, 0);
        assert_eq!(table[5].mean_predicted, None);
        // 1.0 falls in the last bin.
        assert_eq!(table[9].count, 1);
        assert_eq!(table[9].observed_rate, Some(1.0));
    }

    #[test]
    fn multiclass_report_by_hand() {
        let y = [0, 1, 2, 2];
        let proba = array![
            [0.7, 0.2, 0.1],
            [0.1, 0.8, 0.1],
            [0.2, 0.2, 0.6],
            [0.6, 0.35, 0.05]
        ];
        let r = evaluate(&y, proba.view(), ThresholdRule::default()).unwrap();
        // Argmax [0,1,2,0] → 3/4.
        assert!(close(r.accuracy, 0.75));
        // −(ln .7 + ln .8 + ln .6 + ln .05)/4.
        let ll = -(0.7f64.ln() + 0.8f64.ln() + 0.6f64.ln() + 0.05f64.ln()) / 4.0;
        assert!(close(r.log_loss, ll));
        // F1: class0 2/3, class1 1, class2 2/3.
        assert!(close(r.macro_f1, (2.0 / 3.0 + 1.0 + 2.0 / 3.0) / 3.0));
        // OvR AUC: class0 1, class1 1, class2: .6 beats both negatives, .05 none → .5.
        assert!(close(r.roc_auc, 2.5 / 3.0));
        assert_eq!(r.confusion_matrix.counts[2], vec![1, 0, 1]);
        assert!(r.binary.is_none());
    }
}
