//! Normalised discounted cumulative gain of a production ranking of columns against the training
//! one: Azure ML's (and SageMaker Clarify's) feature-attribution-drift signal.

/// NDCG of the columns ranked by `production` importance, with each column's `training`
/// importance as its relevance:
///
/// `DCG = Σ_{i=1..k} training(f_i) / log2(i + 1)` over the production ranking `f_1, f_2, …`,
/// `iDCG` the same over the training ranking, `NDCG = DCG / iDCG`, in [0, 1]; 1 when production
/// ranks the columns as training does. `top_k` limits both sums to the first `k` columns (0:
/// every column). Ties keep the columns' order. `None` when the slices differ in length, are
/// empty, hold a value that is not finite and non-negative, or training gives every column a
/// relevance of 0 (iDCG = 0).
pub fn ndcg(training: &[f64], production: &[f64], top_k: usize) -> Option<f64> {
    if training.len() != production.len() || training.is_empty() {
        return None;
    }
    if training
        .iter()
        .chain(production)
        .any(|v| !v.is_finite() || *v < 0.0)
    {
        return None;
    }
    let k = if top_k == 0 {
        training.len()
    } else {
        top_k.min(training.len())
    };
    let dcg = |order: &[f64]| -> f64 {
        let mut ranked: Vec<usize> = (0..order.len()).collect();
        // Stable: equal importances keep the columns' order.
        ranked.sort_by(|&a, &b| order[b].total_cmp(&order[a]));
        ranked
            .iter()
            .take(k)
            .enumerate()
            .map(|(i, &column)| training[column] / ((i + 2) as f64).log2())
            .sum()
    };
    let ideal = dcg(training);
    (ideal > 0.0).then(|| (dcg(production) / ideal).clamp(0.0, 1.0))
}

#[cfg(test)]
mod tests {
    use super::ndcg;

    #[test]
    fn same_ranking_is_one_and_a_reversed_one_is_lower() {
        assert_eq!(ndcg(&[0.7, 0.5, 0.05], &[0.3, 0.2, 0.1], 0), Some(1.0));
        assert!(ndcg(&[0.7, 0.5, 0.05], &[0.1, 0.2, 0.7], 0).is_some_and(|v| v < 0.9));
    }

    #[test]
    fn degenerate_inputs_have_no_value() {
        assert_eq!(ndcg(&[], &[], 0), None);
        assert_eq!(ndcg(&[0.0, 0.0], &[0.1, 0.2], 0), None);
        assert_eq!(ndcg(&[0.1], &[0.1, 0.2], 0), None);
        assert_eq!(ndcg(&[f64::NAN, 0.1], &[0.1, 0.2], 0), None);
    }
}
