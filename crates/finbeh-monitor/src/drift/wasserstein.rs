//! First Wasserstein distance between two samples, as SciPy's `wasserstein_distance`.

use super::ks::sorted;

/// Evidently's floor on the reference standard deviation, so a constant reference column does
/// not divide by zero.
pub const MIN_REFERENCE_STD: f64 = 0.001;

/// `W1 = ∫ |F_ref(x) − F_cur(x)| dx`, summed exactly over the pooled sorted values (SciPy's
/// `_cdf_distance(1, u, v)`); `None` when a sample is empty. Values must be finite.
pub fn wasserstein_distance(reference: &[f64], current: &[f64]) -> Option<f64> {
    wasserstein_distance_sorted(&sorted(reference), &sorted(current))
}

/// [`wasserstein_distance`] on samples already sorted ascending.
pub(crate) fn wasserstein_distance_sorted(u: &[f64], v: &[f64]) -> Option<f64> {
    if u.is_empty() || v.is_empty() {
        return None;
    }
    let all = merged(u, v);
    let (nu, nv) = (u.len() as f64, v.len() as f64);
    let (mut i, mut j, mut total) = (0, 0, 0.0);
    for pair in all.windows(2) {
        let (x, next) = (pair[0], pair[1]);
        while u.get(i).is_some_and(|&value| value <= x) {
            i += 1;
        }
        while v.get(j).is_some_and(|&value| value <= x) {
            j += 1;
        }
        total += (i as f64 / nu - j as f64 / nv).abs() * (next - x);
    }
    Some(total)
}

/// The two sorted samples as one sorted vector.
fn merged(u: &[f64], v: &[f64]) -> Vec<f64> {
    let mut all = Vec::with_capacity(u.len() + v.len());
    let (mut i, mut j) = (0, 0);
    while i < u.len() && j < v.len() {
        if u[i] <= v[j] {
            all.push(u[i]);
            i += 1;
        } else {
            all.push(v[j]);
            j += 1;
        }
    }
    all.extend_from_slice(&u[i..]);
    all.extend_from_slice(&v[j..]);
    all
}

/// Population standard deviation (`ddof = 0`, NumPy's `np.std`); `None` when empty.
pub fn population_std(values: &[f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    let variance = values.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / n;
    Some(variance.sqrt())
}

/// Evidently's normalised Wasserstein distance:
/// `W1(ref, cur) / max(std(ref), 0.001)`; `None` when a sample is empty.
pub fn wasserstein_norm(reference: &[f64], current: &[f64]) -> Option<f64> {
    wasserstein_norm_sorted(&sorted(reference), &sorted(current))
}

/// [`wasserstein_norm`] on samples already sorted ascending.
pub(crate) fn wasserstein_norm_sorted(reference: &[f64], current: &[f64]) -> Option<f64> {
    let std = population_std(reference)?.max(MIN_REFERENCE_STD);
    Some(wasserstein_distance_sorted(reference, current)? / std)
}
