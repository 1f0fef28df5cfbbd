//! Quantile bin edges and the once-binned, column-major u8 training matrix.
//!
//! `bin(x) = number of edges < x`, so `bin(x) <= b  ⇔  x <= edges[b]`: a split found on bins is
//! exactly the split `x <= edges[b]` on the raw f32 values, which is what the model stores.

use ndarray::ArrayView2;
use rayon::prelude::*;

use finbeh_data::Rng;

/// Above this many rows, edges are computed from a seeded row sample (like LightGBM's
/// `bin_construct_sample_cnt`): quantiles of 200k values are as good as of 1M, at a fifth the sort.
const EDGE_SAMPLE_ROWS: usize = 200_000;

/// Training data binned once: `columns[f * n_rows + r]` is the bin of row `r`, feature `f`.
pub(crate) struct BinnedMatrix {
    pub(crate) n_rows: usize,
    pub(crate) n_features: usize,
    pub(crate) columns: Vec<u8>,
    /// Per feature, ascending strictly increasing thresholds; `edges[f].len() + 1` bins.
    pub(crate) edges: Vec<Vec<f32>>,
}

impl BinnedMatrix {
    pub(crate) fn column(&self, feature: usize) -> &[u8] {
        &self.columns[feature * self.n_rows..(feature + 1) * self.n_rows]
    }

    pub(crate) fn n_bins(&self, feature: usize) -> usize {
        self.edges[feature].len() + 1
    }

    /// Bins `x` (already checked finite) with at most `max_bins` bins per feature.
    pub(crate) fn build(x: ArrayView2<'_, f32>, max_bins: usize, seed: u64) -> Self {
        let (n_rows, n_features) = x.dim();
        let sample: Option<Vec<usize>> = (n_rows > EDGE_SAMPLE_ROWS).then(|| {
            let mut rng = Rng::for_stream(seed, u64::MAX);
            let mut idx: Vec<usize> = (0..n_rows).collect();
            // Partial Fisher–Yates: the first EDGE_SAMPLE_ROWS entries are a uniform sample.
            for i in 0..EDGE_SAMPLE_ROWS {
                let j = i + rng.below(n_rows - i);
                idx.swap(i, j);
            }
            idx.truncate(EDGE_SAMPLE_ROWS);
            idx
        });
        let per_feature: Vec<(Vec<f32>, Vec<u8>)> = (0..n_features)
            .into_par_iter()
            .map(|f| {
                let col = x.column(f);
                let mut values: Vec<f32> = match &sample {
                    Some(idx) => idx.iter().map(|&r| col[r]).collect(),
                    None => col.iter().copied().collect(),
                };
                let edges = quantile_edges(&mut values, max_bins);
                let mut padded = [f32::INFINITY; 256];
                padded[..edges.len()].copy_from_slice(&edges);
                let tree = eytzinger(&padded);
                let bins: Vec<u8> = col.iter().map(|&v| bin_of_eytzinger(&tree, v)).collect();
                (edges, bins)
            })
            .collect();
        let mut columns = Vec::with_capacity(n_rows * n_features);
        let mut edges = Vec::with_capacity(n_features);
        for (e, b) in per_feature {
            columns.extend_from_slice(&b);
            edges.push(e);
        }
        Self {
            n_rows,
            n_features,
            columns,
            edges,
        }
    }
}

/// The cuts of a sorted, +inf-padded table of at most 255 edges in Eytzinger order: a perfect
/// binary search tree in heap order (root at index 1, the children of `k` at `2k` and `2k + 1`;
/// index 0 unused), for [`bin_of_eytzinger`].
pub(crate) fn eytzinger(padded_edges: &[f32; 256]) -> [f32; 256] {
    /// In-order fill of the subtree at `k`: its nodes take the next edges in ascending order.
    fn fill(sorted: &[f32; 256], out: &mut [f32; 256], k: usize, next: &mut usize) {
        if k < out.len() {
            fill(sorted, out, 2 * k, next);
            out[k] = sorted[*next];
            *next += 1;
            fill(sorted, out, 2 * k + 1, next);
        }
    }
    let mut out = [f32::INFINITY; 256];
    fill(padded_edges, &mut out, 1, &mut 0);
    out
}

/// Number of edges strictly below `v`, the edges in [`eytzinger`] order: a branch-free search
/// (the comparisons are unpredictable, so branches would mispredict) of 8 steps down the tree,
/// going right past every edge below `v`, ending at leaf `256 + (number of edges below v)`. A
/// step is a load, a compare and an add (a search of the sorted table needs a `- 1` in the index
/// and a multiply by a power of two as well).
#[inline]
pub(crate) fn bin_of_eytzinger(tree: &[f32; 256], v: f32) -> u8 {
    let mut k = 1u32;
    for _ in 0..8 {
        k = 2 * k + u32::from(tree[(k & 255) as usize] < v);
    }
    // k is in 256..512: its low byte is the count. (Taken as a byte of `k` rather than by a
    // cast: with `as u8` the compiler, needing only the low 8 bits, rewrote the eight steps
    // into three times the instructions.)
    k.to_le_bytes()[0]
}

/// A threshold strictly between `lo` and `hi` (`lo < hi`) when representable, else `lo`;
/// `lo <= t < hi` always, so `lo` goes left and `hi` goes right.
fn midpoint(lo: f32, hi: f32) -> f32 {
    let m = ((f64::from(lo) + f64::from(hi)) / 2.0) as f32;
    if m >= hi || m < lo { lo } else { m }
}

/// Up to `max_bins - 1` edges at the quantiles of `values` (sorted in place). When there are at
/// most `max_bins` distinct values every gap gets an edge, so splits are exact like scikit-learn's.
fn quantile_edges(values: &mut [f32], max_bins: usize) -> Vec<f32> {
    values.sort_unstable_by(f32::total_cmp);
    let mut distinct: Vec<(f32, usize)> = Vec::new();
    for &v in values.iter() {
        match distinct.last_mut() {
            Some((last, count)) if *last == v => *count += 1,
            _ => distinct.push((v, 1)),
        }
    }
    let mut edges = Vec::new();
    if distinct.len() <= max_bins {
        for w in distinct.windows(2) {
            edges.push(midpoint(w[0].0, w[1].0));
        }
        return edges;
    }
    let n = values.len();
    let mut cumulative = 0usize;
    let mut next_cut = 1usize;
    for (i, &(v, count)) in distinct.iter().enumerate() {
        cumulative += count;
        if i + 1 == distinct.len() {
            break;
        }
        if cumulative * max_bins >= next_cut * n {
            let edge = midpoint(v, distinct[i + 1].0);
            if edges.last().is_none_or(|&last| edge > last) {
                edges.push(edge);
            }
            if edges.len() == max_bins - 1 {
                break;
            }
            // Skip every quantile this heavy value already covered.
            while next_cut * n <= cumulative * max_bins {
                next_cut += 1;
            }
        }
    }
    edges
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array2;

    #[test]
    fn few_distinct_values_get_exact_midpoints() {
        let mut v = vec![3.0, 1.0, 2.0, 2.0, 1.0];
        assert_eq!(quantile_edges(&mut v, 255), vec![1.5, 2.5]);
    }

    #[test]
    fn many_values_get_at_most_max_bins_minus_one_edges() {
        let mut v: Vec<f32> = (0..10_000).map(|i| i as f32).collect();
        let edges = quantile_edges(&mut v, 16);
        assert_eq!(edges.len(), 15);
        assert!(edges.windows(2).all(|w| w[0] < w[1]));
        // Quantile cuts: roughly equal-count bins.
        assert!((edges[7] - 5000.0).abs() < 10.0, "{edges:?}");
    }

    #[test]
    fn branch_free_search_counts_edges_below() {
        let edges: Vec<f32> = (0..255).map(|i| i as f32).collect();
        let mut padded = [f32::INFINITY; 256];
        padded[..255].copy_from_slice(&edges);
        for v in [-1.0, 0.0, 0.5, 1.0, 100.0, 253.5, 254.0, 254.5, 1e9] {
            let expected = edges.partition_point(|&e| e < v);
            assert_eq!(
                usize::from(bin_of_eytzinger(&eytzinger(&padded), v)),
                expected,
                "{v}"
            );
        }
        let mut short = [f32::INFINITY; 256];
        short[..2].copy_from_slice(&[1.0, 2.0]);
        let short = eytzinger(&short);
        assert_eq!(bin_of_eytzinger(&short, 1.5), 1);
        assert_eq!(bin_of_eytzinger(&short, 7.0), 2);
    }

    #[test]
    fn eytzinger_search_counts_edges_below() {
        for n in [0usize, 1, 2, 3, 7, 100, 254, 255] {
            let mut padded = [f32::INFINITY; 256];
            for (i, e) in padded.iter_mut().enumerate().take(n) {
                *e = i as f32 - 100.0;
            }
            let tree = eytzinger(&padded);
            // Every edge (-100, -99, ...), the halves between them, and beyond both ends.
            for i in -220..=(2 * n as i32 - 180) {
                let v = i as f32 / 2.0;
                let below = padded.iter().filter(|&&e| e < v).count();
                assert_eq!(
                    usize::from(bin_of_eytzinger(&tree, v)),
                    below,
                    "n {n} v {v}"
                );
            }
            for v in [f32::MIN, -0.0, 0.0, f32::MAX] {
                let below = padded.iter().filter(|&&e| e < v).count();
                assert_eq!(
                    usize::from(bin_of_eytzinger(&tree, v)),
                    below,
                    "n {n} v {v}"
                );
            }
        }
    }

    #[test]
    fn bin_le_b_iff_value_le_edge_b() {
        let x = Array2::from_shape_fn((200, 1), |(r, _)| ((r * 37) % 101) as f32 / 7.0);
        let m = BinnedMatrix::build(x.view(), 8, 1);
        let edges = &m.edges[0];
        for (r, &b) in m.column(0).iter().enumerate() {
            for (k, &e) in edges.iter().enumerate() {
                assert_eq!(usize::from(b) <= k, x[[r, 0]] <= e);
            }
        }
    }
}
