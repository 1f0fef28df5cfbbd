//! Population stability index and Jensen–Shannon distance over binned shares.

use super::binning::{BinnedShares, fill_empty_bins};

/// PSI as Evidently computes it: empty bins filled by [`fill_empty_bins`], then
/// `Σ (ref_i − cur_i) · ln(ref_i / cur_i)`. 0 for identical shares; never negative.
pub fn psi(bins: &BinnedShares) -> f64 {
    let (mut reference, mut current) = (bins.reference.clone(), bins.current.clone());
    fill_empty_bins(&mut reference);
    fill_empty_bins(&mut current);
    reference
        .iter()
        .zip(&current)
        .map(|(r, c)| (r - c) * (r / c).ln())
        .sum()
}

/// Jensen–Shannon distance with the natural logarithm, as SciPy's `jensenshannon(p, q)` (empty
/// bins are not filled): both share vectors are renormalised to sum to 1,
/// `m = (p + q) / 2`, and the result is `√((KL(p‖m) + KL(q‖m)) / 2)` where a zero share adds 0.
/// In `[0, √ln 2 ≈ 0.8326]`; 0 when all shares are 0.
pub fn jensen_shannon(bins: &BinnedShares) -> f64 {
    let p_total: f64 = bins.reference.iter().sum();
    let q_total: f64 = bins.current.iter().sum();
    if p_total <= 0.0 || q_total <= 0.0 {
        return 0.0;
    }
    let relative_entropy = |x: f64, y: f64| if x > 0.0 { x * (x / y).ln() } else { 0.0 };
    let (mut left, mut right) = (0.0, 0.0);
    for (p, q) in bins.reference.iter().zip(&bins.current) {
        let (p, q) = (p / p_total, q / q_total);
        let m = (p + q) / 2.0;
        left += relative_entropy(p, m);
        right += relative_entropy(q, m);
    }
    ((left + right) / 2.0).max(0.0).sqrt()
}
