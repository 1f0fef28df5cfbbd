//! The bins PSI and Jensen–Shannon compare, as Evidently's `get_binned_data`.

use super::ks::sorted;

/// A numeric column with more distinct reference values than this is binned by range; at or
/// below it every distinct value is its own bin (Evidently's rule).
pub const RANGE_BINNING_MIN_DISTINCT: usize = 20;

/// Share of each sample in each bin, in the same bin order for both.
#[derive(Debug, Clone, PartialEq)]
pub struct BinnedShares {
    /// Reference share per bin (sums to 1).
    pub reference: Vec<f64>,
    /// Current share per bin (sums to 1).
    pub current: Vec<f64>,
}

/// Bins two numeric samples as Evidently does; `None` when a sample is empty.
///
/// - More than 20 distinct reference values: NumPy's `histogram_bin_edges(ref ∪ cur,
///   bins="sturges")`: `k = ⌈(max − min) / ((max − min) / (log2(n_ref + n_cur) + 1))⌉` equal-width
///   bins over `[min, max]` of both samples together (edges by `np.linspace`; a zero range
///   becomes `[min − 0.5, max + 0.5]` with one bin); each bin is `[left, right)`, the last
///   `[left, right]`.
/// - Otherwise one bin per distinct value of either sample.
///
/// Shares are `count / sample length`; empty bins stay 0 here (see [`fill_empty_bins`]).
pub fn numeric_bins(reference: &[f64], current: &[f64]) -> Option<BinnedShares> {
    numeric_bins_sorted(&sorted(reference), &sorted(current))
}

/// [`numeric_bins`] on samples already sorted ascending.
pub(crate) fn numeric_bins_sorted(reference: &[f64], current: &[f64]) -> Option<BinnedShares> {
    if reference.is_empty() || current.is_empty() {
        return None;
    }
    if distinct_sorted(reference) > RANGE_BINNING_MIN_DISTINCT {
        let edges = sturges_edges(reference, current);
        return Some(BinnedShares {
            reference: histogram_shares(reference, &edges),
            current: histogram_shares(current, &edges),
        });
    }
    let mut keys: Vec<f64> = reference.iter().chain(current).copied().collect();
    keys.sort_unstable_by(f64::total_cmp);
    keys.dedup();
    let shares = |sample: &[f64]| {
        keys.iter()
            .map(|key| {
                let count = sample.partition_point(|v| v < key);
                let end = sample.partition_point(|v| v <= key);
                (end - count) as f64 / sample.len() as f64
            })
            .collect()
    };
    Some(BinnedShares {
        reference: shares(reference),
        current: shares(current),
    })
}

/// Bins two categorical samples given as per-category counts (same category order in both):
/// one bin per category present in either sample, share = count / sample total. `None` when a
/// sample's total is 0.
pub fn category_bins(reference_counts: &[u64], current_counts: &[u64]) -> Option<BinnedShares> {
    let shares = |counts: &[u64]| {
        let total: u64 = counts.iter().sum();
        (total > 0).then(|| {
            counts
                .iter()
                .zip(reference_counts.iter().zip(current_counts))
                .filter(|(_, (r, c))| **r + **c > 0)
                .map(|(count, _)| *count as f64 / total as f64)
                .collect()
        })
    };
    Some(BinnedShares {
        reference: shares(reference_counts)?,
        current: shares(current_counts)?,
    })
}

/// Evidently's `feel_zeroes`, used by PSI (not by Jensen–Shannon): every empty bin of a sample
/// gets `m / 10⁶` when that sample's smallest non-zero share `m` is at most 10⁻⁴, else 10⁻⁴.
/// The shares then sum to slightly more than 1, as in Evidently.
pub fn fill_empty_bins(shares: &mut [f64]) {
    let smallest = shares
        .iter()
        .copied()
        .filter(|share| *share != 0.0)
        .fold(f64::INFINITY, f64::min);
    let fill = if smallest <= 1e-4 {
        smallest / 1e6
    } else {
        1e-4
    };
    for share in shares.iter_mut().filter(|share| **share == 0.0) {
        *share = fill;
    }
}

fn distinct_sorted(values: &[f64]) -> usize {
    values.windows(2).filter(|pair| pair[0] != pair[1]).count() + usize::from(!values.is_empty())
}

/// NumPy's `histogram_bin_edges(..., bins="sturges")` over both sorted, non-empty samples.
fn sturges_edges(reference: &[f64], current: &[f64]) -> Vec<f64> {
    let first = reference[0].min(current[0]);
    let last = reference[reference.len() - 1].max(current[current.len() - 1]);
    let (first, last) = if first == last {
        (first - 0.5, last + 0.5)
    } else {
        (first, last)
    };
    let n = (reference.len() + current.len()) as f64;
    let range = last - first;
    let width = range / (n.log2() + 1.0);
    let bins = if width > 0.0 {
        ((range / width).ceil() as usize).max(1)
    } else {
        1
    };
    let step = range / bins as f64;
    let mut edges: Vec<f64> = (0..=bins).map(|i| i as f64 * step + first).collect();
    edges[bins] = last;
    edges
}

/// `np.histogram(sample, edges)[0] / len(sample)`: bins `[e_i, e_{i+1})`, the last closed.
fn histogram_shares(sorted_sample: &[f64], edges: &[f64]) -> Vec<f64> {
    let bins = edges.len() - 1;
    let mut counts = vec![0_u64; bins];
    for &value in sorted_sample {
        let index = edges[1..bins]
            .partition_point(|edge| *edge <= value)
            .min(bins - 1);
        counts[index] += 1;
    }
    let n = sorted_sample.len() as f64;
    counts.into_iter().map(|count| count as f64 / n).collect()
}
