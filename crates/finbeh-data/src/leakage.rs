//! The leakage check: features that reveal the target rather than predict it.
//!
//! Three causes, one finding each: the source of a derived target (error); single-feature ROC
//! AUC at or above `data.leakage_error_auc` (error) or `data.leakage_warn_auc` (warning); and the
//! single-value signature of a column recorded after the outcome (warning, any AUC).

use crate::params::DataValidParams;
use crate::report::{FeatureAuc, Issue, LeakageFinding, LeakageKind, Severity, ValueSignature};
use crate::schema::{Role, Schema};
use crate::separability::{column_auc, difference_column, sample_rows};
use crate::table::{Column, Table};
use crate::value_signature::{SignatureHit, value_signature};

/// What the leakage check found.
pub(crate) struct LeakageCheck {
    /// Every feature's single-feature AUC, strongest first.
    pub aucs: Vec<FeatureAuc>,
    /// The findings, in the order: derived-target source, AUC findings (strongest first),
    /// signatures (in column order).
    pub findings: Vec<LeakageFinding>,
}

impl LeakageCheck {
    /// One issue per finding, naming the column, the reason and what to do.
    pub(crate) fn issues(&self) -> impl Iterator<Item = Issue> + '_ {
        self.findings.iter().map(|l| {
            let hint = if l.allowed {
                "allowed by data.allow_leakage"
            } else {
                "add it to data.ignore, or to data.allow_leakage if this is intended"
            };
            Issue {
                severity: l.severity,
                column: Some(l.column.clone()),
                message: format!("leakage: {}; {hint}", l.reason),
            }
        })
    }
}

/// Run the check over the features of `schema` and the configured date differences, on at most
/// [`crate::separability::LEAKAGE_SAMPLE_ROWS`] rows.
pub(crate) fn check_leakage(
    table: &Table,
    schema: &Schema,
    y: &[usize],
    classes: &[String],
    target: &str,
    params: &DataValidParams,
) -> LeakageCheck {
    let levels = params.params();
    let allowed = |c: &str| params.params().allow_leakage.iter().any(|a| a == c);
    let finding = |column: &str, kind, severity, reason: String| LeakageFinding {
        column: column.to_string(),
        kind,
        severity: match (allowed(column), severity) {
            (true, Severity::Error) => Severity::Warning,
            (true, _) => Severity::Note,
            (false, s) => s,
        },
        auc: None,
        signature: None,
        allowed: allowed(column),
        reason,
    };
    let mut findings = Vec::new();
    if let Some(rule) = params.params().derive.get(target)
        && schema
            .column(&rule.from)
            .is_some_and(|c| c.role == Role::Feature)
    {
        findings.push(finding(
            &rule.from,
            LeakageKind::DerivedTargetSource,
            Severity::Error,
            format!("the target `{target}` is derived from this feature"),
        ));
    }

    let n_classes = classes.len();
    let rows = sample_rows(table.n_rows());
    let sampled_y: Vec<usize> = rows
        .iter()
        .map(|&r| y.get(r).copied().unwrap_or(usize::MAX))
        .collect();
    let positions: Vec<usize> = (0..rows.len()).collect();
    let mut aucs = Vec::new();
    let mut signatures = Vec::new();
    let mut judge = |name: &str, column: &Column, rows: &[usize], y: &[usize]| {
        if let Some(auc) = column_auc(column, rows, y, n_classes) {
            aucs.push(FeatureAuc {
                column: name.to_string(),
                auc,
            });
        }
        if let Some(hit) = value_signature(
            column,
            rows,
            y,
            n_classes,
            levels.leakage_value_class_share,
            levels.leakage_value_other_share,
        ) {
            signatures.push((name.to_string(), hit));
        }
    };
    for (i, c) in schema.columns.iter().enumerate() {
        if c.role == Role::Feature
            && let Some(column) = table.column(i)
        {
            judge(&c.name, column, &rows, y);
        }
    }
    for d in &params.params().date_differences {
        if let (Some(Column::Date(s)), Some(Column::Date(e))) =
            (table.column_by_name(&d.start), table.column_by_name(&d.end))
        {
            judge(
                &d.name,
                &difference_column(s, e, &rows),
                &positions,
                &sampled_y,
            );
        }
    }
    aucs.sort_by(|a, b| b.auc.total_cmp(&a.auc).then(a.column.cmp(&b.column)));

    for a in &aucs {
        let (kind, severity, setting, level) = if a.auc >= levels.leakage_error_auc {
            (
                LeakageKind::NearPerfectSeparation,
                Severity::Error,
                "leakage_error_auc",
                levels.leakage_error_auc,
            )
        } else if a.auc >= levels.leakage_warn_auc {
            (
                LeakageKind::StrongSeparation,
                Severity::Warning,
                "leakage_warn_auc",
                levels.leakage_warn_auc,
            )
        } else {
            continue;
        };
        let reason = format!(
            "this feature alone separates the classes (ROC AUC {:.4} >= data.{setting} {level}); \
             a column recorded after the outcome, or computed from it, looks like this",
            a.auc
        );
        findings.push(LeakageFinding {
            auc: Some(a.auc),
            ..finding(&a.column, kind, severity, reason)
        });
    }
    for (column, hit) in signatures {
        let signature = describe_signature(&hit, classes);
        let reason = format!(
            "the value {} covers {:.1} % of class {:?} ({} of {} rows) but only {:.1} % of the \
             other rows ({} of {}): a column filled in only after the outcome looks like this",
            signature.value,
            100.0 * signature.class_share,
            signature.class,
            hit.class_hits,
            hit.class_rows,
            100.0 * signature.other_share,
            hit.other_hits,
            hit.other_rows,
        );
        findings.push(LeakageFinding {
            auc: aucs.iter().find(|a| a.column == column).map(|a| a.auc),
            signature: Some(signature),
            ..finding(
                &column,
                LeakageKind::SingleValueSignature,
                Severity::Warning,
                reason,
            )
        });
    }
    LeakageCheck { aucs, findings }
}

fn describe_signature(hit: &SignatureHit, classes: &[String]) -> ValueSignature {
    ValueSignature {
        value: hit.value.clone(),
        class: classes.get(hit.class).cloned().unwrap_or_default(),
        class_share: hit.class_share(),
        class_rows: hit.class_rows,
        other_share: hit.other_share(),
        other_rows: hit.other_rows,
    }
}
