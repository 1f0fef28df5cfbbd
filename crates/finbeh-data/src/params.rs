//! `[data]` settings, validated once (linfa-style `DataParams` → `check()` → `DataValidParams`).

use serde::{Deserialize, Serialize};

use crate::date::{DateFormat, parse_date};
use crate::error::DataError;
use crate::records::QuoteLimits;

// The derive and date-difference types are finbeh-config's own, so a `[data]` table means the
// same thing whether finbeh-config or `DataParams::from_toml_str` read it.
pub use finbeh_config::{DateDifference, DeriveRule, DeriveRuleKind, DeriveValue};

/// The `[data]` settings as written by a user; validate with [`DataParams::check`].
///
/// It is finbeh-config's [`DataSettings`](finbeh_config::DataSettings): one definition of the
/// `[data]` table for the TOML file, the environment and ingestion. Fields read through `Deref`
/// (`params.target`, `params.derive`, ...). `DataParams::default()` differs from the
/// configuration's defaults in one way: it names no target.
///
/// ```
/// use finbeh_data::DataParams;
/// let valid = DataParams::default().with_target("Anomaly").check().unwrap();
/// assert_eq!(valid.target(), Some("Anomaly"));
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct DataParams(pub finbeh_config::DataSettings);

impl Default for DataParams {
    fn default() -> Self {
        DataParams(finbeh_config::DataSettings {
            target: None,
            ..finbeh_config::DataSettings::default()
        })
    }
}

impl std::ops::Deref for DataParams {
    type Target = finbeh_config::DataSettings;
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl std::ops::DerefMut for DataParams {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.0
    }
}

impl From<&finbeh_config::DataSettings> for DataParams {
    /// The `[data]` section of the validated configuration, ready for [`DataParams::check`].
    fn from(settings: &finbeh_config::DataSettings) -> Self {
        DataParams(settings.clone())
    }
}

pub(crate) fn invalid(field: &str, problem: impl Into<String>) -> DataError {
    DataError::InvalidSetting {
        field: field.to_string(),
        problem: problem.into(),
    }
}

impl DataParams {
    /// Override the target column (what `--target COL` does).
    pub fn with_target(mut self, target: impl Into<String>) -> Self {
        self.target = Some(target.into());
        self
    }

    /// Read only the `[data]` table of a TOML document (other tables are ignored; unknown keys
    /// inside `[data]` are errors).
    pub fn from_toml_str(text: &str) -> Result<Self, DataError> {
        #[derive(Deserialize)]
        struct Document {
            #[serde(default)]
            data: DataParams,
        }
        Ok(toml::from_str::<Document>(text)?.data)
    }

    /// Validate the settings; errors name the offending field.
    pub fn check(self) -> Result<DataValidParams, DataError> {
        // The ranges are finbeh-config's, the rules `show_config` applies: one definition.
        self.0.check()?;
        let date_reference_day = match &self.date_reference {
            None => None,
            Some(text) => Some(parse_date(text, DateFormat::Iso).ok_or_else(|| {
                invalid(
                    "date_reference",
                    format!("{text:?} is not a YYYY-MM-DD date"),
                )
            })?),
        };
        let delimiter = self.delimiter as u8;
        Ok(DataValidParams {
            params: self,
            delimiter,
            date_reference_day,
        })
    }
}

/// Validated `[data]` settings; every data function takes this type.
#[derive(Debug, Clone, PartialEq)]
pub struct DataValidParams {
    params: DataParams,
    delimiter: u8,
    date_reference_day: Option<i32>,
}

impl DataValidParams {
    /// The settings as given.
    pub fn params(&self) -> &DataParams {
        &self.params
    }
    /// The configured data file, if any.
    pub fn path(&self) -> Option<&std::path::Path> {
        self.params.path.as_deref()
    }
    /// The target column.
    pub fn target(&self) -> Option<&str> {
        self.params.target.as_deref()
    }
    /// Override the target (what `--target COL` does); the name must not be empty.
    pub fn set_target(&mut self, target: impl Into<String>) -> Result<(), DataError> {
        let target = target.into();
        if target.trim().is_empty() {
            return Err(invalid("target", "must not be empty"));
        }
        self.params.target = Some(target);
        Ok(())
    }
    /// The delimiter byte.
    pub fn delimiter(&self) -> u8 {
        self.delimiter
    }
    /// The reference date as days since 1970-01-01, if configured.
    pub fn date_reference_day(&self) -> Option<i32> {
        self.date_reference_day
    }
    /// Categorical cardinality limit.
    pub fn max_categorical_cardinality(&self) -> usize {
        self.params.max_categorical_cardinality
    }
    /// How far a quoted field may run on before it is an unterminated quote.
    pub(crate) fn quote_limits(&self) -> QuoteLimits {
        QuoteLimits {
            max_lines: self.params.max_quoted_field_lines,
            max_bytes: self.params.max_quoted_field_bytes,
        }
    }
    /// The thousands separator accepted in numbers, if any.
    pub fn thousands_separator(&self) -> Option<char> {
        self.params.thousands_separator
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field_of(err: DataError) -> String {
        match err {
            DataError::InvalidSetting { field, .. } => field,
            DataError::Settings(finbeh_config::ConfigError::Invalid(problems)) => problems[0]
                .key
                .strip_prefix("data.")
                .unwrap_or(&problems[0].key)
                .to_string(),
            other => panic!("unexpected {other}"),
        }
    }

    #[test]
    fn defaults_are_valid_and_match_the_contract() {
        let p = DataParams::default();
        assert_eq!(p.delimiter, ',');
        assert_eq!(p.max_categorical_cardinality, 50);
        assert_eq!((p.leakage_warn_auc, p.leakage_error_auc), (0.95, 0.99));
        assert!(!p.include_pii && !p.lenient);
        assert!(p.check().is_ok());
    }

    #[test]
    fn errors_name_the_field() {
        let bad = |f: fn(&mut DataParams)| {
            let mut p = DataParams::default();
            f(&mut p);
            field_of(p.check().unwrap_err())
        };
        assert_eq!(bad(|p| p.delimiter = 'é'), "delimiter");
        assert_eq!(
            bad(|p| p.max_categorical_cardinality = 1),
            "max_categorical_cardinality"
        );
        assert_eq!(
            bad(|p| p.date_reference = Some("12/1/2023".into())),
            "date_reference"
        );
        assert_eq!(bad(|p| p.leakage_warn_auc = 0.3), "leakage_warn_auc");
        assert_eq!(
            bad(|p| p.leakage_warn_auc = p.leakage_error_auc + 0.001),
            "leakage_warn_auc"
        );
        assert_eq!(
            bad(|p| p.leakage_value_class_share = 0.5),
            "leakage_value_class_share"
        );
        assert_eq!(
            bad(|p| p.leakage_value_other_share = p.leakage_value_class_share),
            "leakage_value_other_share"
        );
        assert_eq!(bad(|p| p.lenient = true), "reject_path");
        assert_eq!(
            bad(|p| {
                p.numeric = vec!["a".into()];
                p.ignore = vec!["a".into()];
            }),
            "numeric"
        );
        assert_eq!(
            bad(|p| {
                p.derive.insert(
                    "H".into(),
                    DeriveRule {
                        from: "x".into(),
                        rule: DeriveRuleKind::QuantileAtLeast,
                        value: DeriveValue::Number(95.0),
                    },
                );
            }),
            "derive.H.value"
        );
        assert_eq!(
            bad(|p| p.positive_class = Some(" ".into())),
            "positive_class"
        );
        assert_eq!(
            bad(|p| p.date_differences = vec![DateDifference {
                name: "a".into(),
                start: "d".into(),
                end: "d".into()
            }]),
            "date_differences[0].end"
        );
        assert_eq!(
            bad(|p| {
                let twice = DateDifference {
                    name: "a".into(),
                    start: "d".into(),
                    end: "e".into(),
                };
                p.date_differences = vec![twice.clone(), twice];
            }),
            "date_differences[1].name"
        );
    }

    #[test]
    fn toml_data_table_is_read_and_other_tables_ignored() {
        let text = r#"
            [train]
            trees = 100
            [data]
            target = "HighAmount"
            [data.derive.HighAmount]
            from = "Transaction_Amount"
            rule = "quantile_at_least"
            value = 0.95
        "#;
        let p = DataParams::from_toml_str(text).unwrap();
        assert_eq!(p.target.as_deref(), Some("HighAmount"));
        let rule = &p.derive["HighAmount"];
        assert_eq!(rule.rule, DeriveRuleKind::QuantileAtLeast);
        assert_eq!(rule.value, DeriveValue::Number(0.95));
        assert!(p.check().is_ok());
        assert!(DataParams::from_toml_str("[data]\ntargett = \"x\"").is_err());
    }
}
