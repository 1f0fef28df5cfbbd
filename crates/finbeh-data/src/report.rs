//! The validation report: what was read, how each column is used and why, and what is wrong.

use std::fmt;

use serde::Serialize;

use crate::error::DataError;
use crate::schema::{Role, ValueKind};

/// Version of the serialized [`ValidationReport`] layout.
/// 2: `lines_read`; leakage findings carry `severity`, `signature` and `reason`, and two kinds were added.
pub const REPORT_FORMAT_VERSION: u32 = 2;

/// How serious an [`Issue`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// Training must not proceed.
    Error,
    /// Worth a look; training may proceed.
    Warning,
    /// For information (e.g. a column excluded as personal data).
    Note,
}

/// One finding of the validation.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Issue {
    /// Severity.
    pub severity: Severity,
    /// The column concerned, if any.
    pub column: Option<String>,
    /// What was found and what to do.
    pub message: String,
}

/// Per-column facts.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ColumnReport {
    /// Header name.
    pub name: String,
    /// Inferred or configured value kind.
    pub kind: ValueKind,
    /// Role.
    pub role: Role,
    /// Why this kind and role.
    pub reason: String,
    /// Missing cells among loaded rows.
    pub missing: usize,
    /// `missing / rows_loaded`.
    pub missing_rate: f64,
    /// Distinct values: exact for stored text columns, else in the inference sample.
    pub distinct: usize,
    /// True when the column holds at most one distinct value.
    pub constant: bool,
}

/// One class of the target.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClassCount {
    /// Class label.
    pub label: String,
    /// Rows with this label.
    pub count: usize,
    /// Share of rows.
    pub fraction: f64,
}

/// The target and its class balance.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TargetReport {
    /// Target name.
    pub name: String,
    /// The rule of a derived target, in words.
    pub derived: Option<String>,
    /// Classes in index order.
    pub classes: Vec<ClassCount>,
    /// The positive class of a binary target.
    pub positive_class: Option<String>,
    /// Why that class is the positive one.
    pub positive_reason: Option<String>,
}

/// Why a feature is suspected of leaking the target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LeakageKind {
    /// The target is derived from this feature (an error).
    DerivedTargetSource,
    /// The feature alone separates the classes almost perfectly: ROC AUC at or above
    /// `data.leakage_error_auc` (an error).
    NearPerfectSeparation,
    /// The feature alone separates the classes suspiciously well: ROC AUC at or above
    /// `data.leakage_warn_auc` (a warning).
    StrongSeparation,
    /// One value covers most of one class and almost none of the others, the mark of a column
    /// recorded after the outcome (a warning, whatever the AUC).
    SingleValueSignature,
}

/// The value behind a [`LeakageKind::SingleValueSignature`] finding.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ValueSignature {
    /// The value as text (`empty` for a missing cell).
    pub value: String,
    /// The class it covers.
    pub class: String,
    /// Share of that class holding the value.
    pub class_share: f64,
    /// Rows of that class (in the rows checked).
    pub class_rows: usize,
    /// Share of the other classes holding the value.
    pub other_share: f64,
    /// Rows of the other classes (in the rows checked).
    pub other_rows: usize,
}

/// A leakage finding.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LeakageFinding {
    /// Feature (column or date difference) name.
    pub column: String,
    /// Kind.
    pub kind: LeakageKind,
    /// Severity of the matching issue (lowered one step when `allowed`).
    pub severity: Severity,
    /// Single-feature ROC AUC, max(auc, 1 − auc), when computed.
    pub auc: Option<f64>,
    /// The value, for [`LeakageKind::SingleValueSignature`].
    pub signature: Option<ValueSignature>,
    /// True when listed in `data.allow_leakage` (an error becomes a warning, a warning a note).
    pub allowed: bool,
    /// Why the column looks like leakage, in words.
    pub reason: String,
}

/// Single-feature ROC AUC of a feature.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FeatureAuc {
    /// Feature (column or date difference) name.
    pub column: String,
    /// max(auc, 1 − auc), one-vs-rest maximum for multi-class targets.
    pub auc: f64,
}

/// Everything the validation found. `Display` gives the human form, [`ValidationReport::to_json`] JSON.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ValidationReport {
    /// Layout version ([`REPORT_FORMAT_VERSION`]).
    pub format_version: u32,
    /// The data file.
    pub file: String,
    /// Physical lines in the file, the header included (a record may span several lines).
    pub lines_read: u64,
    /// Data records in the file (header excluded), rejected ones included.
    pub rows_read: usize,
    /// Records loaded.
    pub rows_loaded: usize,
    /// Records put in the reject file (lenient mode).
    pub rows_rejected: usize,
    /// The reject file, when lenient.
    pub reject_file: Option<String>,
    /// Rows used to infer the schema.
    pub inference_sample_rows: usize,
    /// Per-column facts, in file order.
    pub columns: Vec<ColumnReport>,
    /// Loaded rows identical to an earlier row (all fields, by 64-bit hash).
    pub duplicate_rows: usize,
    /// The target.
    pub target: Option<TargetReport>,
    /// The five features that best separate the classes alone.
    pub strongest_features: Vec<FeatureAuc>,
    /// Leakage findings.
    pub leakage: Vec<LeakageFinding>,
    /// Errors, warnings and notes.
    pub issues: Vec<Issue>,
}

impl ValidationReport {
    /// True when any issue is an error.
    pub fn has_errors(&self) -> bool {
        self.issues.iter().any(|i| i.severity == Severity::Error)
    }
    /// Issues of one severity.
    pub fn issues_of(&self, severity: Severity) -> impl Iterator<Item = &Issue> {
        self.issues.iter().filter(move |i| i.severity == severity)
    }
    /// Pretty JSON.
    pub fn to_json(&self) -> Result<String, DataError> {
        Ok(serde_json::to_string_pretty(self)?)
    }
}

fn kind_text(kind: &ValueKind) -> String {
    match kind {
        ValueKind::Numeric => "numeric".into(),
        ValueKind::Categorical => "categorical".into(),
        ValueKind::Boolean => "boolean".into(),
        ValueKind::Date { format } => format!("date {}", format.pattern()),
        ValueKind::Text => "text".into(),
        ValueKind::Empty => "empty".into(),
    }
}

impl fmt::Display for ValidationReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "Validation report for {}", self.file)?;
        writeln!(
            f,
            "  lines: {}, rows read: {}, loaded: {}, rejected: {}{}; columns: {}; duplicate rows: {}",
            self.lines_read,
            self.rows_read,
            self.rows_loaded,
            self.rows_rejected,
            self.reject_file
                .as_ref()
                .map(|p| format!(" (see {p})"))
                .unwrap_or_default(),
            self.columns.len(),
            self.duplicate_rows
        )?;
        writeln!(
            f,
            "  schema inferred from the first {} rows",
            self.inference_sample_rows
        )?;
        writeln!(f)?;
        let width = self
            .columns
            .iter()
            .map(|c| c.name.len())
            .max()
            .unwrap_or(6)
            .max(6);
        writeln!(
            f,
            "  {:<width$}  {:<16}  {:<13}  {:>8}  {:>8}  reason",
            "column", "kind", "role", "missing", "distinct"
        )?;
        for c in &self.columns {
            let role = format!("{:?}", c.role).to_lowercase();
            writeln!(
                f,
                "  {:<width$}  {:<16}  {:<13}  {:>7.1}%  {:>8}  {}{}",
                c.name,
                kind_text(&c.kind),
                role,
                c.missing_rate * 100.0,
                c.distinct,
                c.reason,
                if c.constant { " [constant]" } else { "" }
            )?;
        }
        if let Some(t) = &self.target {
            writeln!(f)?;
            writeln!(
                f,
                "  target `{}`{}",
                t.name,
                t.derived
                    .as_ref()
                    .map(|d| format!(" = {d}"))
                    .unwrap_or_default()
            )?;
            for c in &t.classes {
                writeln!(
                    f,
                    "    class {:<20} {:>9} rows  {:>6.2}%",
                    format!("{:?}", c.label),
                    c.count,
                    c.fraction * 100.0
                )?;
            }
            if let (Some(p), Some(why)) = (&t.positive_class, &t.positive_reason) {
                writeln!(f, "    positive class: {p:?} ({why})")?;
                writeln!(
                    f,
                    "    a binary model's score is the probability that {} = {p}",
                    t.name
                )?;
            }
        }
        if !self.strongest_features.is_empty() {
            writeln!(f)?;
            writeln!(f, "  strongest single features (ROC AUC, max(auc, 1-auc)):")?;
            for a in &self.strongest_features {
                writeln!(f, "    {:<width$}  {:.4}", a.column, a.auc)?;
            }
        }
        writeln!(f)?;
        for (severity, label) in [
            (Severity::Error, "ERROR"),
            (Severity::Warning, "warning"),
            (Severity::Note, "note"),
        ] {
            for i in self.issues_of(severity) {
                match &i.column {
                    Some(c) => writeln!(f, "  {label}: `{c}`: {}", i.message)?,
                    None => writeln!(f, "  {label}: {}", i.message)?,
                }
            }
        }
        let errors = self.issues_of(Severity::Error).count();
        let warnings = self.issues_of(Severity::Warning).count();
        write!(f, "  => {errors} error(s), {warnings} warning(s)")
    }
}
