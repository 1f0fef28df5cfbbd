//! Stratified, seeded train/test splits and k-fold cross-validation.

use crate::rng::Rng;

fn indices_by_class(y: &[usize]) -> Vec<Vec<usize>> {
    let n_classes = y.iter().copied().max().map_or(0, |m| m + 1);
    let mut by_class = vec![Vec::new(); n_classes];
    for (i, &c) in y.iter().enumerate() {
        if let Some(bucket) = by_class.get_mut(c) {
            bucket.push(i);
        }
    }
    by_class
}

/// Stratified train/test split of row positions `0..y.len()`: returns `(train, test)`, both sorted.
///
/// Each class contributes `round(n_class * test_size)` rows to the test side (at least one
/// when the class has two or more rows and `test_size > 0`, never all of them), so class
/// proportions are kept. `test_size` is clamped to `[0, 1]` (NaN counts as 0); validate it in
/// your own settings. The result depends only on `y` and `seed`.
///
/// ```
/// let y = [0, 0, 0, 0, 1, 1, 1, 1, 0, 1];
/// let (train, test) = finbeh_data::stratified_split(&y, 0.2, 42);
/// assert_eq!(train.len() + test.len(), y.len());
/// assert_eq!(test.iter().filter(|&&i| y[i] == 1).count(), 1);
/// ```
pub fn stratified_split(y: &[usize], test_size: f64, seed: u64) -> (Vec<usize>, Vec<usize>) {
    let test_size = if test_size.is_nan() {
        0.0
    } else {
        test_size.clamp(0.0, 1.0)
    };
    let mut rng = Rng::seed_from_u64(seed);
    let mut train = Vec::with_capacity(y.len());
    let mut test = Vec::new();
    for mut rows in indices_by_class(y) {
        rng.shuffle(&mut rows);
        let n = rows.len();
        let mut n_test = (n as f64 * test_size).round() as usize;
        if test_size > 0.0 && n >= 2 {
            n_test = n_test.clamp(1, n - 1);
        }
        let n_test = n_test.min(n);
        test.extend_from_slice(&rows[..n_test]);
        train.extend_from_slice(&rows[n_test..]);
    }
    train.sort_unstable();
    test.sort_unstable();
    (train, test)
}

/// Stratified k-fold: `k` pairs `(train, test)` of sorted row positions; every row is in
/// exactly one test fold, and each class is dealt round-robin over the folds so fold sizes
/// differ by at most one per class. `k` is clamped to `[2, y.len()]` (at least 2).
///
/// ```
/// let y: Vec<usize> = (0..20).map(|i| i % 4 / 3).collect();
/// let folds = finbeh_data::stratified_kfold(&y, 5, 1);
/// assert_eq!(folds.len(), 5);
/// assert!(folds.iter().all(|(train, test)| train.len() + test.len() == 20));
/// ```
pub fn stratified_kfold(y: &[usize], k: usize, seed: u64) -> Vec<(Vec<usize>, Vec<usize>)> {
    let k = k.min(y.len()).max(2);
    let mut rng = Rng::seed_from_u64(seed);
    let mut fold_of = vec![0usize; y.len()];
    let mut next_fold = 0usize;
    for mut rows in indices_by_class(y) {
        rng.shuffle(&mut rows);
        for row in rows {
            if let Some(slot) = fold_of.get_mut(row) {
                *slot = next_fold;
            }
            // Continue the round-robin across classes so small classes do not pile up in fold 0.
            next_fold = (next_fold + 1) % k;
        }
    }
    (0..k)
        .map(|fold| {
            let (test, train): (Vec<usize>, Vec<usize>) =
                (0..y.len()).partition(|&i| fold_of.get(i) == Some(&fold));
            (train, test)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(n: usize, minority_every: usize) -> Vec<usize> {
        (0..n)
            .map(|i| usize::from(i % minority_every == 0))
            .collect()
    }

    #[test]
    fn split_is_stratified_disjoint_and_deterministic() {
        let y = labels(1000, 10);
        let (train, test) = stratified_split(&y, 0.25, 9);
        assert_eq!(train.len() + test.len(), 1000);
        let mut all: Vec<usize> = train.iter().chain(&test).copied().collect();
        all.sort_unstable();
        all.dedup();
        assert_eq!(all.len(), 1000);
        assert_eq!(test.len(), 250);
        assert_eq!(test.iter().filter(|&&i| y[i] == 1).count(), 25);
        assert_eq!(stratified_split(&y, 0.25, 9), (train.clone(), test.clone()));
        assert_ne!(stratified_split(&y, 0.25, 10).1, test);
    }

    #[test]
    fn split_keeps_tiny_class_on_both_sides() {
        let mut y = vec![0usize; 50];
        y[3] = 1;
        y[7] = 1;
        let (train, test) = stratified_split(&y, 0.1, 1);
        assert_eq!(test.iter().filter(|&&i| y[i] == 1).count(), 1);
        assert_eq!(train.iter().filter(|&&i| y[i] == 1).count(), 1);
    }

    #[test]
    fn kfold_partitions_and_balances() {
        let y = labels(503, 7);
        let folds = stratified_kfold(&y, 5, 3);
        assert_eq!(folds.len(), 5);
        let mut seen = vec![0; y.len()];
        for (train, test) in &folds {
            assert_eq!(train.len() + test.len(), y.len());
            for &i in test {
                seen[i] += 1;
            }
            let pos = test.iter().filter(|&&i| y[i] == 1).count();
            assert!((14..=16).contains(&pos), "positives per fold {pos}");
            assert!(train.iter().all(|i| test.binary_search(i).is_err()));
        }
        assert!(seen.iter().all(|&s| s == 1));
        assert_eq!(stratified_kfold(&y, 5, 3), folds);
        assert_ne!(stratified_kfold(&y, 5, 4), folds);
    }
}
