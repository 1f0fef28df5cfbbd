//! Chi-square goodness-of-fit p-value of the current category counts against the reference.

use statrs::distribution::{ChiSquared, ContinuousCDF};

/// Evidently's chi-square test (SciPy's `chisquare(f_obs, f_exp)`): over the categories present
/// in either sample, `f_exp = ref_count · n_cur / n_ref`, `f_obs = cur_count`,
/// `χ² = Σ (f_obs − f_exp)² / f_exp` with `k − 1` degrees of freedom, p = `P(X ≥ χ²)`.
///
/// A category the reference never saw but the current holds makes `χ²` infinite: p = 0. With a
/// single category (no degrees of freedom; SciPy returns NaN) both samples are the same
/// distribution: p = 1. `None` when a sample has no rows.
pub fn chi2_p_value(reference_counts: &[u64], current_counts: &[u64]) -> Option<f64> {
    let n_ref: u64 = reference_counts.iter().sum();
    let n_cur: u64 = current_counts.iter().sum();
    if n_ref == 0 || n_cur == 0 {
        return None;
    }
    let scale = n_cur as f64 / n_ref as f64;
    let mut statistic = 0.0;
    let mut categories: u64 = 0;
    for (&reference, &current) in reference_counts.iter().zip(current_counts) {
        if reference == 0 && current == 0 {
            continue;
        }
        categories += 1;
        if reference == 0 {
            return Some(0.0);
        }
        let expected = reference as f64 * scale;
        statistic += (current as f64 - expected).powi(2) / expected;
    }
    if categories < 2 {
        return Some(1.0);
    }
    let distribution = ChiSquared::new((categories - 1) as f64).ok()?;
    Some(distribution.sf(statistic).clamp(0.0, 1.0))
}
