//! What an evaluation means, in words: which average a ROC AUC is, how the predictions spread
//! over the classes, and a model that answers one class for (nearly) every row.

use crate::metrics::EvaluationReport;

/// A model predicting one class for at least this share of the evaluation rows is called out.
pub const ONE_CLASS_SHARE: f64 = 0.99;

impl EvaluationReport {
    /// The name of [`Self::roc_auc`]: `ROC AUC` for a binary model, `ROC AUC (macro one-vs-rest)`
    /// for a multi-class one (each class against the rest, averaged with equal weights).
    pub fn roc_auc_name(&self) -> &'static str {
        if self.n_classes == 2 {
            "ROC AUC"
        } else {
            "ROC AUC (macro one-vs-rest)"
        }
    }

    /// Evaluation rows predicted as each class (the confusion matrix's column sums).
    pub fn predicted_counts(&self) -> Vec<u64> {
        let mut counts = vec![0u64; self.n_classes];
        for row in &self.confusion_matrix.counts {
            for (total, &n) in counts.iter_mut().zip(row) {
                *total = total.saturating_add(n);
            }
        }
        counts
    }

    /// Findings a reader must not miss; `classes` names the class indices.
    pub fn warnings(&self, classes: &[String]) -> Vec<String> {
        let counts = self.predicted_counts();
        let total: u64 = counts.iter().sum();
        let mut out = Vec::new();
        if let Some((class, &most)) = counts.iter().enumerate().max_by_key(|(_, n)| **n)
            && total > 0
            && most as f64 >= ONE_CLASS_SHARE * total as f64
        {
            let label = classes.get(class).map_or("?", String::as_str);
            out.push(format!(
                "the model predicts class {label:?} for {most} of {total} evaluation rows \
                 ({:.2} %): it barely tells the classes apart at this threshold, so accuracy and \
                 the positive-class metrics say little",
                most as f64 * 100.0 / total as f64
            ));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use ndarray::array;

    use crate::{ThresholdRule, evaluate};

    fn classes(labels: &[&str]) -> Vec<String> {
        labels.iter().map(|l| (*l).to_owned()).collect()
    }

    #[test]
    fn a_model_answering_one_class_is_called_out() {
        // 200 rows: 6 positives; every probability under the threshold but one.
        let y: Vec<usize> = (0..200).map(|i| usize::from(i < 6)).collect();
        let mut proba = ndarray::Array2::from_elem((200, 2), 0.0);
        for (i, mut row) in proba.outer_iter_mut().enumerate() {
            let p = if i == 0 {
                0.9
            } else {
                0.1 + (i % 7) as f64 * 0.01
            };
            row[0] = 1.0 - p;
            row[1] = p;
        }
        let report = evaluate(&y, proba.view(), ThresholdRule::default()).unwrap();
        assert_eq!(report.predicted_counts(), [199, 1]);
        let warnings = report.warnings(&classes(&["1", "-1"]));
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(
            warnings[0].starts_with(
                "the model predicts class \"1\" for 199 of 200 evaluation rows (99.50 %)"
            ),
            "{warnings:?}"
        );
        assert_eq!(report.roc_auc_name(), "ROC AUC");
    }

    #[test]
    fn a_model_using_both_classes_is_not() {
        let y = [0, 0, 1, 1];
        let proba = array![[0.8, 0.2], [0.6, 0.4], [0.3, 0.7], [0.1, 0.9]];
        let report = evaluate(&y, proba.view(), ThresholdRule::default()).unwrap();
        assert_eq!(report.predicted_counts(), [2, 2]);
        assert!(report.warnings(&classes(&["a", "b"])).is_empty());
    }

    #[test]
    fn a_multi_class_auc_says_how_it_is_averaged() {
        let y = [0, 1, 2];
        let proba = array![[0.8, 0.1, 0.1], [0.1, 0.8, 0.1], [0.1, 0.1, 0.8]];
        let report = evaluate(&y, proba.view(), ThresholdRule::default()).unwrap();
        assert_eq!(report.roc_auc_name(), "ROC AUC (macro one-vs-rest)");
    }
}
