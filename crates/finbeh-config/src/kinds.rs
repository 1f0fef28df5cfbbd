//! Strict types: each key's expected TOML type, derived from the schema, checks file values and
//! parses environment values (no silent conversion: `1.5` is not an integer, `127` not a string).

use std::path::PathBuf;

use config::{Map, Source, Value, ValueKind};

use crate::error::ConfigError;
use crate::load::show_value;
use crate::secret::Secret;
use crate::settings::{DateDifference, DeriveRule, DeriveRuleKind, DeriveValue, Settings};
use crate::validate::Problem;

/// Tables keyed by user-chosen names; every entry has the schema of the sample's one entry.
const MAP_KEYS: [&str; 1] = ["data.derive"];

/// Keys (schema paths, `*` for a map entry) that take a number or a string.
const NUMBER_OR_TEXT_KEYS: [&str; 1] = ["data.derive.*.value"];

/// The TOML type a key takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Text,
    Integer,
    Float,
    Boolean,
    NumberOrText,
    TextList,
    IntegerList,
    Table,
    TableList,
}

impl Kind {
    fn of(schema: &Value, schema_path: &str) -> Self {
        if NUMBER_OR_TEXT_KEYS.contains(&schema_path) {
            return Self::NumberOrText;
        }
        match &schema.kind {
            ValueKind::Boolean(_) => Self::Boolean,
            ValueKind::I64(_) | ValueKind::I128(_) | ValueKind::U64(_) | ValueKind::U128(_) => {
                Self::Integer
            }
            ValueKind::Float(_) => Self::Float,
            ValueKind::Table(_) => Self::Table,
            ValueKind::Array(items) if items.first().is_some_and(is_table) => Self::TableList,
            ValueKind::Array(items) if items.first().is_some_and(is_integer) => Self::IntegerList,
            ValueKind::Array(_) => Self::TextList,
            // The sample sets every key, so no Nil is left (a test checks this).
            ValueKind::String(_) | ValueKind::Nil => Self::Text,
        }
    }

    /// Whether a value already typed (from TOML) has this kind; list items are checked here,
    /// table contents by the caller.
    fn accepts(self, value: &Value) -> bool {
        let integer = matches!(
            value.kind,
            ValueKind::I64(_) | ValueKind::I128(_) | ValueKind::U64(_) | ValueKind::U128(_)
        );
        match (self, &value.kind) {
            (Self::Text, ValueKind::String(_)) => true,
            (Self::Integer, _) => integer,
            (Self::Float, ValueKind::Float(_)) => true,
            (Self::Float, _) => integer,
            (Self::Boolean, ValueKind::Boolean(_)) => true,
            (Self::NumberOrText, ValueKind::Float(_) | ValueKind::String(_)) => true,
            (Self::NumberOrText, _) => integer,
            (Self::TextList, ValueKind::Array(items)) => items
                .iter()
                .all(|item| matches!(item.kind, ValueKind::String(_))),
            (Self::IntegerList, ValueKind::Array(items)) => items.iter().all(is_integer),
            (Self::Table, ValueKind::Table(_)) => true,
            (Self::TableList, ValueKind::Array(items)) => items.iter().all(is_table),
            _ => false,
        }
    }

    fn expected(self) -> &'static str {
        match self {
            Self::Text => "expected a string",
            Self::Integer => "expected an integer (no fraction)",
            Self::Float => "expected a number",
            Self::Boolean => "expected a boolean (true or false)",
            Self::NumberOrText => "expected a number or a string",
            Self::TextList => "expected an array of strings",
            Self::IntegerList => "expected an array of integers",
            Self::Table => "expected a table",
            Self::TableList => "expected an array of tables",
        }
    }

    /// Parses an environment variable's text by the documented rule for this kind.
    fn parse_env(self, text: &str) -> Result<ValueKind, &'static str> {
        if text.is_empty() {
            return Err("an empty variable is an error: unset it to keep the value");
        }
        match self {
            Self::Text | Self::Table | Self::TableList => Ok(ValueKind::String(text.to_owned())),
            Self::Boolean => match text {
                "true" => Ok(ValueKind::Boolean(true)),
                "false" => Ok(ValueKind::Boolean(false)),
                _ => Err("expected a boolean: true or false"),
            },
            Self::Integer => text
                .parse::<i64>()
                .map(ValueKind::I64)
                .map_err(|_| "expected an integer such as 8080 (no fraction, no exponent)"),
            Self::Float => text
                .parse::<f64>()
                .map(ValueKind::Float)
                .map_err(|_| "expected a number such as 0.25"),
            Self::NumberOrText => Ok(text
                .parse::<f64>()
                .map_or_else(|_| ValueKind::String(text.to_owned()), ValueKind::Float)),
            Self::TextList => Ok(ValueKind::Array(
                text.split(',')
                    .map(|item| Value::new(None, item.to_owned()))
                    .collect(),
            )),
            Self::IntegerList => text
                .split(',')
                .map(|item| item.trim().parse::<i64>().map(|n| Value::new(None, n)))
                .collect::<Result<Vec<_>, _>>()
                .map(ValueKind::Array)
                .map_err(|_| "expected comma-separated integers such as 10,50,100"),
        }
    }
}

fn is_integer(value: &Value) -> bool {
    matches!(
        value.kind,
        ValueKind::I64(_) | ValueKind::I128(_) | ValueKind::U64(_) | ValueKind::U128(_)
    )
}

fn is_table(value: &Value) -> bool {
    matches!(value.kind, ValueKind::Table(_))
}

impl Settings {
    /// Settings with every optional key set and one entry in every list and map, so that their
    /// serialized form shows every key of the schema. The loader derives each key's type from it.
    pub fn every_key_set() -> Self {
        let mut full = Self::default();
        let data = &mut full.data;
        data.path = Some(PathBuf::from("data.csv"));
        data.positive_class = Some("1".to_owned());
        data.date_reference = Some("2024-01-31".to_owned());
        data.reject_path = Some(PathBuf::from("rejected.csv"));
        data.thousands_separator = Some(',');
        data.numeric.push("a".to_owned());
        data.categorical.push("b".to_owned());
        data.boolean.push("c".to_owned());
        data.date.push("d".to_owned());
        data.id.push("e".to_owned());
        data.ignore.push("f".to_owned());
        data.pii_columns.push("g".to_owned());
        data.allow_leakage.push("h".to_owned());
        data.date_differences.push(DateDifference {
            name: "n".to_owned(),
            start: "s".to_owned(),
            end: "e".to_owned(),
        });
        data.derive.insert(
            "HighAmount".to_owned(),
            DeriveRule {
                from: "f".to_owned(),
                rule: DeriveRuleKind::Above,
                value: DeriveValue::Number(1.0),
            },
        );
        let serve = &mut full.serve;
        serve.model_path = Some(PathBuf::from("model"));
        serve.primary_key = Some(Secret::new("k".to_owned()));
        serve.secondary_key = Some(Secret::new("k".to_owned()));
        let azure = &mut full.deploy.azure;
        azure.subscription_id = Some("s".to_owned());
        azure.resource_group = Some("g".to_owned());
        azure.workspace_name = Some("w".to_owned());
        azure.tenant_id = Some("t".to_owned());
        azure.client_id = Some("c".to_owned());
        azure.client_secret = Some(Secret::new("c".to_owned()));
        let alerts = &mut full.monitor.alerts;
        alerts.jsonl_path = Some(PathBuf::from("alerts.jsonl"));
        alerts.webhook_url = Some("http://localhost:9093/hook".to_owned());
        alerts.webhook_tls.ca_file = Some(PathBuf::from("ca.pem"));
        azure.access_token = Some(Secret::new("t".to_owned()));
        azure.image = Some("i".to_owned());
        azure.blob_url = Some("http://b".to_owned());
        full
    }
}

/// Every key's type, as a tree of sample values.
#[derive(Debug, Clone)]
pub(crate) struct Schema(Value);

impl Schema {
    pub(crate) fn new() -> Result<Self, ConfigError> {
        let sample = config::Config::try_from(&Settings::every_key_set())
            .and_then(|c| Source::collect(&c))
            .map_err(|error| ConfigError::Sources(error.to_string()))?;
        Ok(Self(Value::new(None, ValueKind::Table(sample))))
    }

    /// The kind of the key at `path` (its segments), or `None` for a key the schema lacks.
    pub(crate) fn kind_at(&self, path: &[String]) -> Option<Kind> {
        let mut node = &self.0;
        let mut schema_path = String::new();
        for segment in path {
            let ValueKind::Table(fields) = &node.kind else {
                return None;
            };
            if MAP_KEYS.contains(&schema_path.as_str()) {
                node = fields.values().next()?;
                push_segment(&mut schema_path, "*");
            } else {
                node = fields.get(segment)?;
                push_segment(&mut schema_path, segment);
            }
        }
        Some(Kind::of(node, &schema_path))
    }

    /// Type problems in a user tree (file and environment merged, no defaults); each bad value is
    /// removed, so the default applies while the other keys are still checked.
    pub(crate) fn check(&self, tree: &mut Map<String, Value>) -> Vec<Problem> {
        let mut walker = Walker(Vec::new());
        walker.table(tree, &self.0, "", "");
        walker.0
    }

    /// An environment variable's text as a value of the key's kind (text for unknown keys, which
    /// deserialization then reports).
    pub(crate) fn env_value(&self, path: &[String], text: &str) -> Result<Value, &'static str> {
        let kind = self.kind_at(path).unwrap_or(Kind::Text);
        kind.parse_env(text).map(|kind| Value::new(None, kind))
    }
}

fn push_segment(path: &mut String, segment: &str) {
    if !path.is_empty() {
        path.push('.');
    }
    path.push_str(segment);
}

fn joined(path: &str, segment: &str) -> String {
    let mut out = path.to_owned();
    push_segment(&mut out, segment);
    out
}

/// Collects type problems while walking a user tree beside the schema.
struct Walker(Vec<Problem>);

impl Walker {
    /// Checks a table's entries against the schema table `schema`; drops the bad ones.
    fn table(
        &mut self,
        entries: &mut Map<String, Value>,
        schema: &Value,
        path: &str,
        schema_path: &str,
    ) {
        let ValueKind::Table(fields) = &schema.kind else {
            return;
        };
        let is_map = MAP_KEYS.contains(&schema_path);
        entries.retain(|key, value| {
            let (child_schema, child_schema_path) = if is_map {
                (fields.values().next(), joined(schema_path, "*"))
            } else {
                (fields.get(key), joined(schema_path, key))
            };
            // A key the schema lacks is left for deserialization to report as unknown.
            let Some(child_schema) = child_schema else {
                return true;
            };
            self.value(value, child_schema, &joined(path, key), &child_schema_path)
        });
    }

    /// Checks one value; false when it has the wrong type (and was reported).
    fn value(&mut self, value: &mut Value, schema: &Value, path: &str, schema_path: &str) -> bool {
        let kind = Kind::of(schema, schema_path);
        if !kind.accepts(value) {
            self.0.push(Problem {
                key: path.to_owned(),
                value: show_value(path, value),
                expected: kind.expected().to_owned(),
            });
            return false;
        }
        match (&mut value.kind, &schema.kind) {
            (ValueKind::Table(entries), _) => self.table(entries, schema, path, schema_path),
            (ValueKind::Array(items), ValueKind::Array(sample)) => {
                if let Some(item_schema) = sample.first().filter(|s| is_table(s)) {
                    for (index, item) in items.iter_mut().enumerate() {
                        if let ValueKind::Table(entries) = &mut item.kind {
                            let item_path = format!("{path}[{index}]");
                            self.table(entries, item_schema, &item_path, schema_path);
                        }
                    }
                }
            }
            _ => {}
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A key left `None` or empty in the sample would have no type: every new optional field,
    /// list or map must be set in [`Settings::every_key_set`].
    #[test]
    fn the_sample_gives_every_key_a_type() {
        fn walk(value: &Value, path: &str, gaps: &mut Vec<String>) {
            match &value.kind {
                ValueKind::Nil => gaps.push(path.to_owned()),
                ValueKind::Table(entries) if entries.is_empty() => gaps.push(path.to_owned()),
                ValueKind::Array(items) if items.is_empty() => gaps.push(path.to_owned()),
                ValueKind::Table(entries) => {
                    for (key, child) in entries {
                        walk(child, &joined(path, key), gaps);
                    }
                }
                ValueKind::Array(items) => items.iter().for_each(|item| walk(item, path, gaps)),
                _ => {}
            }
        }
        let schema = Schema::new().unwrap();
        let mut gaps = Vec::new();
        walk(&schema.0, "", &mut gaps);
        assert!(gaps.is_empty(), "keys without a type: {gaps:?}");
        let path = |key: &str| key.split('.').map(str::to_owned).collect::<Vec<_>>();
        assert_eq!(schema.kind_at(&path("serve.port")), Some(Kind::Integer));
        assert_eq!(schema.kind_at(&path("serve.primary_key")), Some(Kind::Text));
        assert_eq!(schema.kind_at(&path("data.id")), Some(Kind::TextList));
        assert_eq!(
            schema.kind_at(&path("data.date_differences")),
            Some(Kind::TableList)
        );
        assert_eq!(
            schema.kind_at(&path("data.derive.Any.value")),
            Some(Kind::NumberOrText)
        );
        assert_eq!(
            schema.kind_at(&path("model.threshold.value")),
            Some(Kind::Float)
        );
        assert_eq!(schema.kind_at(&path("serve.nope")), None);
    }
}
