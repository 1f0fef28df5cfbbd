//! The top-level entry point: file → table, schema, target, validation report.

use std::path::Path;

use crate::balance::class_balance_issues;
use crate::error::DataError;
use crate::ingest::{Ingested, read_csv};
use crate::leakage::check_leakage;
use crate::params::{DataValidParams, DeriveRule, DeriveRuleKind, DeriveValue};
use crate::report::{
    ClassCount, ColumnReport, FeatureAuc, Issue, REPORT_FORMAT_VERSION, Severity, TargetReport,
    ValidationReport,
};
use crate::schema::{Role, Schema, ValueKind};
use crate::table::{Column, MISSING_BOOL, MISSING_CODE, MISSING_DAY, Table};
use crate::text::{canonical_number, parse_number};

/// A loaded, validated file.
#[derive(Debug, Clone)]
pub struct LoadedDataset {
    /// The typed table (ids, personal data and ignored columns are not stored).
    pub table: Table,
    /// Kind and role of every column, with reasons.
    pub schema: Schema,
    /// Class index per loaded row.
    pub y: Vec<usize>,
    /// Class labels; `y` indexes this list. For a binary target, index 1 is the positive class.
    pub classes: Vec<String>,
    /// The validation report.
    pub report: ValidationReport,
    /// Rows written to the reject file (lenient mode).
    pub rejected_rows: usize,
}

impl LoadedDataset {
    /// All row positions `0..n_rows`.
    pub fn all_rows(&self) -> Vec<usize> {
        (0..self.table.n_rows()).collect()
    }
}

struct Labels {
    y: Vec<usize>,
    classes: Vec<String>,
    derived: Option<String>,
    positive_reason: Option<String>,
}

fn linear_quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let pos = q * (sorted.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = pos.ceil() as usize;
    let (a, b) = (
        sorted.get(lo).copied().unwrap_or(f64::NAN),
        sorted.get(hi).copied().unwrap_or(f64::NAN),
    );
    a + (b - a) * (pos - lo as f64)
}

fn derive_labels(name: &str, rule: &DeriveRule, table: &Table) -> Result<Labels, DataError> {
    let field = format!("derive.{name}");
    let column = table
        .column_by_name(&rule.from)
        .ok_or_else(|| DataError::InvalidSetting {
            field: format!("{field}.from"),
            problem: format!("column `{}` is not stored", rule.from),
        })?;
    let number_value = || match &rule.value {
        DeriveValue::Number(v) => Ok(*v),
        DeriveValue::Text(t) => parse_number(t).ok_or_else(|| DataError::InvalidSetting {
            field: format!("{field}.value"),
            problem: format!("{t:?} is not a number, but `{}` is numeric", rule.from),
        }),
    };
    let (flags, description): (Vec<bool>, String) = match column {
        Column::Numeric(v) => {
            let (threshold, what) = match rule.rule {
                DeriveRuleKind::QuantileAtLeast | DeriveRuleKind::QuantileAbove => {
                    let q = number_value()?;
                    let mut sorted: Vec<f64> = v.iter().copied().filter(|x| !x.is_nan()).collect();
                    sorted.sort_unstable_by(f64::total_cmp);
                    let t = linear_quantile(&sorted, q);
                    (t, format!(" (the {q} quantile over all loaded rows)"))
                }
                _ => (number_value()?, String::new()),
            };
            let op = match rule.rule {
                DeriveRuleKind::QuantileAtLeast | DeriveRuleKind::AtLeast => ">=",
                DeriveRuleKind::QuantileAbove | DeriveRuleKind::Above => ">",
                DeriveRuleKind::AtMost => "<=",
                DeriveRuleKind::Below => "<",
                DeriveRuleKind::Equals => "==",
            };
            let flags = v
                .iter()
                .map(|&x| match op {
                    ">=" => x >= threshold,
                    ">" => x > threshold,
                    "<=" => x <= threshold,
                    "<" => x < threshold,
                    _ => x == threshold,
                })
                .collect();
            (
                flags,
                format!("1 if {} {op} {threshold}{what}, else 0", rule.from),
            )
        }
        Column::Categorical { codes, labels } if rule.rule == DeriveRuleKind::Equals => {
            let mut buf = [0u8; 40];
            let wanted = match &rule.value {
                DeriveValue::Text(t) => t.trim().to_string(),
                DeriveValue::Number(x) => canonical_number(*x, &mut buf).to_string(),
            };
            let hit = labels.iter().position(|l| *l == wanted).map(|i| i as u32);
            (
                codes
                    .iter()
                    .map(|&c| c != MISSING_CODE && Some(c) == hit)
                    .collect(),
                format!("1 if {} == {wanted:?}, else 0", rule.from),
            )
        }
        _ => {
            return Err(DataError::InvalidSetting {
                field: format!("{field}.rule"),
                problem: format!(
                    "rule {:?} needs a numeric column, and `{}` is not numeric",
                    rule.rule, rule.from
                ),
            });
        }
    };
    let y: Vec<usize> = flags.iter().map(|&f| usize::from(f)).collect();
    let positives = y.iter().filter(|&&c| c == 1).count();
    if positives == 0 || positives == y.len() {
        return Err(DataError::BadTarget {
            target: name.to_string(),
            problem: format!(
                "the rule `{description}` gives a single class on all {} rows",
                y.len()
            ),
        });
    }
    Ok(Labels {
        y,
        classes: vec!["0".into(), "1".into()],
        derived: Some(description),
        positive_reason: Some("a derived target's positive class is 1 (the rule holds)".into()),
    })
}

/// Label pairs whose positive is plain. `{-1, 1}` is not one: outlier detectors mark the anomaly
/// `-1`, other data marks the event `1`, so such a target takes the minority class.
const NATURAL_PAIRS: [(&str, &str); 6] = [
    ("0", "1"),
    ("false", "true"),
    ("no", "yes"),
    ("n", "y"),
    ("f", "t"),
    ("negative", "positive"),
];

fn column_labels(
    name: &str,
    table: &Table,
    params: &DataValidParams,
    issues: &mut Vec<Issue>,
) -> Result<Labels, DataError> {
    let Some(Column::Categorical { codes, labels }) = table.column_by_name(name) else {
        return Err(DataError::BadTarget {
            target: name.into(),
            problem: "target column is not stored as labels".into(),
        });
    };
    let mut counts = vec![0usize; labels.len()];
    for &c in codes {
        if let Some(n) = counts.get_mut(c as usize) {
            *n += 1;
        }
    }
    let mut present: Vec<(usize, &String)> = counts
        .iter()
        .copied()
        .zip(labels)
        .filter(|(n, _)| *n > 0)
        .collect();
    let max_classes = params.max_categorical_cardinality();
    if present.len() > max_classes {
        return Err(DataError::BadTarget {
            target: name.into(),
            problem: format!(
                "{} distinct values (more than data.max_categorical_cardinality = {max_classes}); a class label is needed — derive one with [data.derive]",
                present.len()
            ),
        });
    }
    if present.len() < 2 {
        let only = present.first().map(|p| p.1.clone()).unwrap_or_default();
        return Err(DataError::BadTarget {
            target: name.into(),
            problem: format!("single class {only:?} in all {} rows", codes.len()),
        });
    }
    let all_numeric = present.iter().all(|p| parse_number(p.1).is_some());
    present.sort_by(|a, b| {
        if all_numeric {
            parse_number(a.1)
                .unwrap_or(0.0)
                .total_cmp(&parse_number(b.1).unwrap_or(0.0))
        } else {
            a.1.cmp(b.1)
        }
    });
    let mut classes: Vec<String> = present.iter().map(|p| p.1.clone()).collect();
    let mut positive_reason = None;
    let positive = params.params().positive_class.as_deref();
    if classes.len() == 2 {
        let same = |a: &str, b: &str| {
            a == b || matches!((parse_number(a), parse_number(b)), (Some(x), Some(y)) if x == y)
        };
        let pos_index = if let Some(p) = positive {
            let i = classes.iter().position(|c| same(c, p)).ok_or_else(|| {
                DataError::InvalidSetting {
                    field: "positive_class".into(),
                    problem: format!(
                        "{p:?} is not one of the target's classes ({})",
                        classes.join(", ")
                    ),
                }
            })?;
            positive_reason = Some("set by data.positive_class".to_string());
            i
        } else if let Some(i) = NATURAL_PAIRS.iter().find_map(|(neg, pos)| {
            let lower: Vec<String> = classes.iter().map(|c| c.to_ascii_lowercase()).collect();
            let set_matches = (same(&lower[0], neg) && same(&lower[1], pos))
                || (same(&lower[0], pos) && same(&lower[1], neg));
            set_matches.then(|| lower.iter().position(|c| same(c, pos)).unwrap_or(1))
        }) {
            positive_reason = Some("the natural positive of the label pair (1 of 0/1, true, yes); set data.positive_class to change it".into());
            i
        } else {
            // Minority class; on a tie the later label in sorted order.
            let i = if present[0].0 < present[1].0 { 0 } else { 1 };
            positive_reason =
                Some("the minority class; set data.positive_class to change it".into());
            i
        };
        if pos_index == 0 {
            classes.swap(0, 1);
        }
    } else if let Some(p) = positive {
        issues.push(Issue {
            severity: Severity::Warning,
            column: Some(name.into()),
            message: format!(
                "data.positive_class = {p:?} is ignored: the target has {} classes",
                classes.len()
            ),
        });
    }
    let mut class_of_code = vec![usize::MAX; labels.len()];
    for (ci, label) in classes.iter().enumerate() {
        if let Some(code) = labels.iter().position(|l| l == label)
            && let Some(slot) = class_of_code.get_mut(code)
        {
            *slot = ci;
        }
    }
    let y = codes
        .iter()
        .map(|&c| class_of_code.get(c as usize).copied().unwrap_or(0))
        .collect();
    Ok(Labels {
        y,
        classes,
        derived: None,
        positive_reason,
    })
}

fn is_constant(column: &Column, sample_distinct: usize) -> bool {
    match column {
        Column::Numeric(v) => {
            let mut it = v.iter().filter(|x| !x.is_nan());
            let first = it.next();
            first.is_none_or(|f| it.all(|x| x == f))
        }
        Column::Categorical { labels, .. } => labels.len() <= 1,
        Column::Boolean(v) => {
            let mut it = v.iter().filter(|&&b| b != MISSING_BOOL);
            let first = it.next();
            first.is_none_or(|f| it.all(|x| x == f))
        }
        Column::Date(v) => {
            let mut it = v.iter().filter(|&&d| d != MISSING_DAY);
            let first = it.next();
            first.is_none_or(|f| it.all(|x| x == f))
        }
        Column::Skipped => sample_distinct <= 1,
    }
}

/// Read, infer, label and validate a CSV file.
///
/// Returns `Err` for problems that stop reading (bad file, header, row in strict mode, target);
/// everything else (leakage, constant columns, …) is in the report, where
/// [`ValidationReport::has_errors`] tells whether training may proceed.
pub fn load_dataset(
    path: impl AsRef<Path>,
    params: &DataValidParams,
) -> Result<LoadedDataset, DataError> {
    let path = path.as_ref();
    let Ingested {
        table,
        schema,
        lines_read,
        rows_read,
        rejected,
        duplicate_rows,
        missing,
        issues: ingest_issues,
    } = read_csv(path, params)?;
    let mut issues = ingest_issues;
    let target = params.target().ok_or(DataError::NoTarget)?.to_string();
    let derive_rule = params.params().derive.get(&target);
    let labels = match derive_rule {
        Some(rule) => derive_labels(&target, rule, &table)?,
        None => column_labels(&target, &table, params, &mut issues)?,
    };
    let n_rows = table.n_rows();
    let n_classes = labels.classes.len();

    let mut columns = Vec::new();
    for (i, c) in schema.columns.iter().enumerate() {
        let stored = table.column(i).unwrap_or(&Column::Skipped);
        let distinct = match stored {
            Column::Categorical { labels, .. } => labels.len(),
            _ => c.sample_distinct,
        };
        let constant = is_constant(stored, c.sample_distinct);
        let m = missing.get(i).copied().unwrap_or(0);
        columns.push(ColumnReport {
            name: c.name.clone(),
            kind: c.kind,
            role: c.role,
            reason: c.reason.clone(),
            missing: m,
            missing_rate: m as f64 / n_rows as f64,
            distinct,
            constant,
        });
        let col = Some(c.name.clone());
        match c.role {
            Role::Feature if constant => issues.push(Issue {
                severity: Severity::Warning,
                column: col.clone(),
                message: "constant column: it cannot help the model".into(),
            }),
            Role::Feature if c.kind == ValueKind::Categorical && distinct > params.max_categorical_cardinality() => {
                issues.push(Issue {
                    severity: Severity::Warning,
                    column: col.clone(),
                    message: format!(
                        "high-cardinality categorical: {distinct} distinct values in the file; only the {} most frequent get their own feature",
                        params.max_categorical_cardinality()
                    ),
                })
            }
            Role::Ignored if c.kind == ValueKind::Text => issues.push(Issue {
                severity: Severity::Warning,
                column: col.clone(),
                message: format!("high-cardinality text not used as a feature: {}", c.reason),
            }),
            Role::PersonalData => issues.push(Issue {
                severity: Severity::Note,
                column: col.clone(),
                message: format!("excluded from features as personal data: {}", c.reason),
            }),
            Role::Id => issues.push(Issue {
                severity: Severity::Note,
                column: col.clone(),
                message: format!("excluded from features as an identifier: {}", c.reason),
            }),
            _ => {}
        }
        if c.role == Role::Feature && m * 2 > n_rows {
            issues.push(Issue {
                severity: Severity::Warning,
                column: col,
                message: format!("{:.1} % missing values", 100.0 * m as f64 / n_rows as f64),
            });
        }
    }
    if schema.features().next().is_none() && params.params().date_differences.is_empty() {
        issues.push(Issue {
            severity: Severity::Error,
            column: None,
            message: DataError::NoFeatures.to_string(),
        });
    }
    if duplicate_rows > 0 {
        issues.push(Issue {
            severity: Severity::Warning,
            column: None,
            message: format!(
                "{duplicate_rows} rows duplicate an earlier row; they may inflate test scores"
            ),
        });
    }
    if rejected > 0 {
        issues.push(Issue {
            severity: Severity::Warning,
            column: None,
            message: format!(
                "{rejected} bad rows were rejected to {}",
                params
                    .params()
                    .reject_path
                    .as_ref()
                    .map(|p| p.display().to_string())
                    .unwrap_or_default()
            ),
        });
    }
    let mut class_counts = vec![0usize; n_classes];
    for &c in &labels.y {
        if let Some(n) = class_counts.get_mut(c) {
            *n += 1;
        }
    }
    let classes: Vec<ClassCount> = labels
        .classes
        .iter()
        .zip(&class_counts)
        .map(|(l, &n)| ClassCount {
            label: l.clone(),
            count: n,
            fraction: n as f64 / n_rows as f64,
        })
        .collect();
    let positive_class = (n_classes == 2)
        .then(|| labels.classes.get(1).cloned())
        .flatten();
    issues.extend(class_balance_issues(
        &target,
        &classes,
        positive_class.as_deref(),
    ));

    let leakage = check_leakage(&table, &schema, &labels.y, &labels.classes, &target, params);
    issues.extend(leakage.issues());
    let strongest_features: Vec<FeatureAuc> = leakage.aucs.into_iter().take(5).collect();

    let report = ValidationReport {
        format_version: REPORT_FORMAT_VERSION,
        file: path.display().to_string(),
        lines_read,
        rows_read,
        rows_loaded: n_rows,
        rows_rejected: rejected,
        reject_file: params
            .params()
            .reject_path
            .as_ref()
            .filter(|_| params.params().lenient)
            .map(|p| p.display().to_string()),
        inference_sample_rows: schema.sample_rows,
        columns,
        duplicate_rows,
        target: Some(TargetReport {
            name: target.clone(),
            derived: labels.derived,
            classes,
            positive_class,
            positive_reason: if n_classes == 2 {
                labels.positive_reason
            } else {
                None
            },
        }),
        strongest_features,
        leakage: leakage.findings,
        issues,
    };
    Ok(LoadedDataset {
        table,
        schema,
        y: labels.y,
        classes: labels.classes,
        report,
        rejected_rows: rejected,
    })
}
