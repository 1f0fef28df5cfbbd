//! Class-balance warnings of the validation report: a rare class, an imbalanced target, and a
//! positive class that is the common one.

use crate::report::{ClassCount, Issue, Severity};

/// Below this share of rows, the minority class makes the target imbalanced.
pub const IMBALANCE_SHARE: f64 = 0.10;

/// Below this share of rows, a class is too rare for stable metrics.
const RARE_SHARE: f64 = 0.01;

/// The warnings about `classes` (in index order) of `target`; `positive` is the positive class
/// of a binary target.
pub(crate) fn class_balance_issues(
    target: &str,
    classes: &[ClassCount],
    positive: Option<&str>,
) -> Vec<Issue> {
    let mut issues = Vec::new();
    let warn = |message: String| Issue {
        severity: Severity::Warning,
        column: Some(target.to_owned()),
        message,
    };
    let Some(min) = classes.iter().min_by_key(|c| c.count) else {
        return issues;
    };
    let percent = |c: &ClassCount| c.fraction * 100.0;
    if min.fraction < RARE_SHARE {
        issues.push(warn(format!(
            "class {:?} has only {} rows ({:.2} %): metrics will be noisy",
            min.label,
            min.count,
            percent(min)
        )));
    }
    if min.fraction < IMBALANCE_SHARE {
        issues.push(warn(format!(
            "imbalanced target: the minority class {:?} is {:.2} % of rows (under {:.0} %); \
             accuracy says little, judge the model by precision, recall and PR AUC, and consider \
             model.class_weight = \"balanced\"",
            min.label,
            percent(min),
            IMBALANCE_SHARE * 100.0
        )));
    }
    if let Some(positive) = positive
        && let Some(pos) = classes.iter().find(|c| c.label == positive)
        && classes
            .iter()
            .any(|c| c.label != positive && c.count < pos.count)
    {
        issues.push(warn(format!(
            "the positive class {:?} is the majority ({:.2} % of rows): probabilities, precision \
             and recall are about the common class; set data.positive_class to the rare class if \
             that is the one to detect",
            positive,
            percent(pos)
        )));
    }
    issues
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(pairs: &[(&str, usize)]) -> Vec<ClassCount> {
        let total: usize = pairs.iter().map(|p| p.1).sum();
        pairs
            .iter()
            .map(|&(label, count)| ClassCount {
                label: label.to_owned(),
                count,
                fraction: count as f64 / total as f64,
            })
            .collect()
    }

    fn messages(issues: &[Issue]) -> Vec<&str> {
        issues.iter().map(|i| i.message.as_str()).collect()
    }

    #[test]
    fn a_majority_positive_class_and_a_small_minority_are_warned_about() {
        let classes = counts(&[("-1", 60), ("1", 940)]);
        let issues = class_balance_issues("Anomaly", &classes, Some("1"));
        let found = messages(&issues);
        assert_eq!(found.len(), 2, "{found:?}");
        assert!(found[0].starts_with("imbalanced target: the minority class \"-1\" is 6.00 %"));
        assert!(found[1].starts_with("the positive class \"1\" is the majority (94.00 %"));
        assert!(
            issues
                .iter()
                .all(|i| i.column.as_deref() == Some("Anomaly"))
        );

        let issues = class_balance_issues("Anomaly", &classes, Some("-1"));
        assert_eq!(messages(&issues).len(), 1);
    }

    #[test]
    fn balanced_targets_get_no_warning() {
        let classes = counts(&[("0", 50), ("1", 50)]);
        assert!(class_balance_issues("y", &classes, Some("1")).is_empty());
        let classes = counts(&[("0", 89), ("1", 11)]);
        assert!(class_balance_issues("y", &classes, Some("1")).is_empty());
        let classes = counts(&[("a", 5), ("b", 995)]);
        assert_eq!(class_balance_issues("y", &classes, None).len(), 2);
    }
}
