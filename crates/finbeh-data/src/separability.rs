//! Single-feature separability (ROC AUC) used by the leakage check.

use crate::table::{Column, MISSING_BOOL, MISSING_CODE, MISSING_DAY};

/// At most this many rows (evenly strided) are used per column, to bound the cost on big files.
pub(crate) const LEAKAGE_SAMPLE_ROWS: usize = 200_000;

/// Rows used for the check: all, or an even stride when there are many.
pub(crate) fn sample_rows(n_rows: usize) -> Vec<usize> {
    let step = n_rows.div_ceil(LEAKAGE_SAMPLE_ROWS).max(1);
    (0..n_rows).step_by(step).collect()
}

/// max over classes c of max(AUC, 1 − AUC) when `scores` rank class c against the rest
/// (ties get average ranks). `None` when fewer than two classes are present.
pub(crate) fn ranked_auc(scores: &[f64], y: &[usize], n_classes: usize) -> Option<f64> {
    let n = scores.len().min(y.len());
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_unstable_by(|&a, &b| {
        scores
            .get(a)
            .unwrap_or(&0.0)
            .total_cmp(scores.get(b).unwrap_or(&0.0))
    });
    let mut rank_sum = vec![0.0f64; n_classes];
    let mut count = vec![0usize; n_classes];
    let mut i = 0;
    while i < n {
        let key = order
            .get(i)
            .and_then(|&k| scores.get(k))
            .copied()
            .unwrap_or(0.0);
        let mut j = i;
        while j < n
            && order
                .get(j)
                .and_then(|&k| scores.get(k))
                .copied()
                .unwrap_or(0.0)
                == key
        {
            j += 1;
        }
        let avg_rank = (i + 1 + j) as f64 / 2.0;
        for &row in order.get(i..j).unwrap_or(&[]) {
            if let Some(&c) = y.get(row)
                && c < n_classes
            {
                rank_sum[c] += avg_rank;
                count[c] += 1;
            }
        }
        i = j;
    }
    best_over_classes(n, &count, |c| {
        let nc = count[c] as f64;
        (rank_sum[c] - nc * (nc + 1.0) / 2.0) / (nc * (n as f64 - nc))
    })
}

/// The best AUC any ordering of the codes achieves (codes ordered by class rate), max over
/// one-vs-rest classes, symmetric.
pub(crate) fn discrete_auc(
    codes: &[u32],
    n_codes: usize,
    y: &[usize],
    n_classes: usize,
) -> Option<f64> {
    let mut table = vec![0usize; n_codes * n_classes];
    let mut count = vec![0usize; n_classes];
    let mut n = 0;
    for (&code, &c) in codes.iter().zip(y) {
        if let Some(cell) = table.get_mut(code as usize * n_classes + c) {
            *cell += 1;
            count[c] += 1;
            n += 1;
        }
    }
    best_over_classes(n, &count, |c| {
        let mut groups: Vec<(f64, f64)> = (0..n_codes)
            .map(|k| {
                let row = &table[k * n_classes..(k + 1) * n_classes];
                let pos = row[c] as f64;
                let total: usize = row.iter().sum();
                (pos, total as f64 - pos)
            })
            .filter(|(p, q)| p + q > 0.0)
            .collect();
        groups.sort_by(|a, b| (a.0 / (a.0 + a.1)).total_cmp(&(b.0 / (b.0 + b.1))));
        let (mut neg_before, mut acc) = (0.0, 0.0);
        for (pos, neg) in groups {
            acc += pos * (neg_before + neg / 2.0);
            neg_before += neg;
        }
        let p = count[c] as f64;
        acc / (p * (n as f64 - p))
    })
}

fn best_over_classes(n: usize, count: &[usize], auc_of: impl Fn(usize) -> f64) -> Option<f64> {
    let classes: Vec<usize> = (0..count.len())
        .filter(|&c| count[c] > 0 && count[c] < n)
        .collect();
    // For a binary target both classes give the same value; one suffices.
    let take = if count.len() == 2 { 1 } else { classes.len() };
    classes
        .into_iter()
        .take(take)
        .map(|c| {
            let a = auc_of(c);
            a.max(1.0 - a)
        })
        .reduce(f64::max)
}

/// Single-feature AUC of one stored column over `rows`, with labels `y` (indexed by row).
pub(crate) fn column_auc(
    column: &Column,
    rows: &[usize],
    y: &[usize],
    n_classes: usize,
) -> Option<f64> {
    let labels: Vec<usize> = rows
        .iter()
        .map(|&r| y.get(r).copied().unwrap_or(0))
        .collect();
    let numeric = |values: Vec<Option<f64>>| {
        let (mut scores, mut ys, mut missing) =
            (Vec::new(), Vec::new(), Vec::with_capacity(values.len()));
        for (v, &c) in values.iter().zip(&labels) {
            missing.push(u32::from(v.is_none()));
            if let Some(x) = v {
                scores.push(*x);
                ys.push(c);
            }
        }
        let by_value = ranked_auc(&scores, &ys, n_classes);
        let by_missing = if ys.len() < labels.len() {
            discrete_auc(&missing, 2, &labels, n_classes)
        } else {
            None
        };
        match (by_value, by_missing) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        }
    };
    match column {
        Column::Numeric(v) => numeric(
            rows.iter()
                .map(|&r| v.get(r).copied().filter(|x| !x.is_nan()))
                .collect(),
        ),
        Column::Date(v) => numeric(
            rows.iter()
                .map(|&r| {
                    v.get(r)
                        .copied()
                        .filter(|&d| d != MISSING_DAY)
                        .map(f64::from)
                })
                .collect(),
        ),
        Column::Categorical {
            codes,
            labels: names,
        } => {
            let missing_code = names.len() as u32;
            let c: Vec<u32> = rows
                .iter()
                .map(|&r| match codes.get(r).copied().unwrap_or(MISSING_CODE) {
                    MISSING_CODE => missing_code,
                    k => k,
                })
                .collect();
            discrete_auc(&c, names.len() + 1, &labels, n_classes)
        }
        Column::Boolean(v) => {
            let c: Vec<u32> = rows
                .iter()
                .map(|&r| u32::from(v.get(r).copied().unwrap_or(MISSING_BOOL)))
                .collect();
            discrete_auc(&c, 3, &labels, n_classes)
        }
        Column::Skipped => None,
    }
}

/// The date difference `end − start` over `rows`, as a column indexed like `rows`.
pub(crate) fn difference_column(start: &[i32], end: &[i32], rows: &[usize]) -> Column {
    Column::Date(
        rows.iter()
            .map(|&r| match (start.get(r).copied(), end.get(r).copied()) {
                (Some(s), Some(e)) if s != MISSING_DAY && e != MISSING_DAY => e - s,
                _ => MISSING_DAY,
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auc_of_perfect_random_and_reversed_scores() {
        let y = [0, 0, 0, 1, 1, 1];
        assert_eq!(
            ranked_auc(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], &y, 2),
            Some(1.0)
        );
        assert_eq!(
            ranked_auc(&[6.0, 5.0, 4.0, 3.0, 2.0, 1.0], &y, 2),
            Some(1.0)
        );
        assert_eq!(ranked_auc(&[1.0; 6], &y, 2), Some(0.5));
        // One misordered pair out of nine.
        let a = ranked_auc(&[1.0, 2.0, 4.0, 3.0, 5.0, 6.0], &y, 2).unwrap();
        assert!((a - 8.0 / 9.0).abs() < 1e-12);
    }

    #[test]
    fn discrete_auc_orders_codes_by_rate() {
        let y = [0, 0, 1, 1, 1, 0];
        let codes = [2, 2, 0, 0, 0, 1];
        assert_eq!(discrete_auc(&codes, 3, &y, 2), Some(1.0));
        let mixed = [0, 1, 0, 1, 0, 1];
        let a = discrete_auc(&mixed, 2, &y, 2).unwrap();
        assert!(a < 0.7);
    }
}
