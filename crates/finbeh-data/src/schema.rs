//! Column roles and kinds, inferred from a sample of the file and overridable in `[data]`.

use std::collections::HashSet;

use serde::{Deserialize, Serialize};

use crate::date::{DateFormat, best_format};
use crate::excerpt::cell_excerpt;
use crate::params::DataValidParams;
use crate::raw::ColumnKind;
use crate::text::{is_bool_word, parse_number_with};

/// What a column's values look like.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "type")]
pub enum ValueKind {
    /// Every value parses as a number.
    Numeric,
    /// A limited set of labels.
    Categorical,
    /// Boolean words.
    Boolean,
    /// Dates in one format.
    Date {
        /// The detected format.
        format: DateFormat,
    },
    /// Free text with too many distinct values for a categorical.
    Text,
    /// No values at all in the inference sample.
    Empty,
}

impl ValueKind {
    /// The pipeline kind of a usable feature (`None` for text and empty columns).
    pub fn column_kind(self) -> Option<ColumnKind> {
        match self {
            ValueKind::Numeric => Some(ColumnKind::Numeric),
            ValueKind::Categorical => Some(ColumnKind::Categorical),
            ValueKind::Boolean => Some(ColumnKind::Boolean),
            ValueKind::Date { .. } => Some(ColumnKind::Date),
            ValueKind::Text | ValueKind::Empty => None,
        }
    }
}

/// What a column is used for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// An input of the feature pipeline.
    Feature,
    /// The class label.
    Target,
    /// An identifier: never a feature.
    Id,
    /// Personal data: excluded unless `data.include_pii`.
    PersonalData,
    /// Not used.
    Ignored,
}

/// One column's inferred (or configured) kind and role, with the reason.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ColumnSchema {
    /// Header name.
    pub name: String,
    /// Value kind.
    pub kind: ValueKind,
    /// Role.
    pub role: Role,
    /// Why this kind and role were chosen.
    pub reason: String,
    /// Distinct non-missing values in the inference sample.
    pub sample_distinct: usize,
}

/// The schema of a file: one entry per header column, plus the derived target if any.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Schema {
    /// Columns in file order.
    pub columns: Vec<ColumnSchema>,
    /// Rows used for inference.
    pub sample_rows: usize,
}

impl Schema {
    /// Column by name.
    pub fn column(&self, name: &str) -> Option<&ColumnSchema> {
        self.columns.iter().find(|c| c.name == name)
    }
    /// Feature columns in file order.
    pub fn features(&self) -> impl Iterator<Item = &ColumnSchema> {
        self.columns.iter().filter(|c| c.role == Role::Feature)
    }
}

fn normalized(name: &str) -> String {
    name.chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

/// Names like `id`, `ID`, `Customer_ID`, `loan-id`, `CustomerId`, `id_customer`.
pub(crate) fn id_like_name(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    if normalized(name) == "id" || lower.starts_with("id_") {
        return true;
    }
    if ["_id", "-id", " id", ".id"]
        .iter()
        .any(|s| lower.ends_with(s))
    {
        return true;
    }
    // camelCase: "...Id" / "...ID" after a lowercase letter.
    let chars: Vec<char> = name.chars().collect();
    matches!(chars.as_slice(), [.., p, 'I', 'd' | 'D'] if p.is_ascii_lowercase())
}

const PII_NAMES: [&str; 27] = [
    "name",
    "firstname",
    "lastname",
    "fullname",
    "surname",
    "givenname",
    "middlename",
    "customername",
    "clientname",
    "email",
    "emailaddress",
    "mail",
    "address",
    "streetaddress",
    "homeaddress",
    "street",
    "phone",
    "phonenumber",
    "contactnumber",
    "contact",
    "mobile",
    "mobilenumber",
    "telephone",
    "ssn",
    "socialsecuritynumber",
    "passport",
    "passportnumber",
];

/// Why a column name looks like personal data, if it does.
pub(crate) fn pii_name_reason(name: &str) -> Option<&'static str> {
    let n = normalized(name);
    if PII_NAMES.contains(&n.as_str()) || n.ends_with("email") || n.ends_with("phone") {
        return Some(match n.as_str() {
            x if x.contains("mail") => "e-mail address",
            x if x.contains("address") || x == "street" => "postal address",
            x if x.contains("phone") || x.contains("contact") || x.contains("mobile") => {
                "phone or contact number"
            }
            x if x.contains("ssn") || x.contains("social") || x.contains("passport") => {
                "identity number"
            }
            _ => "person's name",
        });
    }
    None
}

fn looks_like_email(v: &str) -> bool {
    v.split_once('@')
        .is_some_and(|(a, b)| !a.is_empty() && b.contains('.') && !v.contains(' '))
}

/// Values in the inference sample that stop a mostly-numeric column from being numeric.
#[derive(Debug, Clone)]
pub(crate) struct NumericShortfall {
    numbers: usize,
    values: usize,
    /// The first few values that are not numbers, with their lines.
    examples: Vec<(String, u64)>,
}

impl NumericShortfall {
    fn summary(&self) -> String {
        let examples: Vec<String> = self
            .examples
            .iter()
            .map(|(v, line)| format!("{v:?} (line {line})"))
            .collect();
        format!(
            "mostly numeric: {} of {} sample values are numbers, {} are not, e.g. {}",
            self.numbers,
            self.values,
            self.values.saturating_sub(self.numbers),
            examples.join(", ")
        )
    }

    /// The report's warning: what was found and what to do.
    pub(crate) fn warning(&self) -> String {
        format!(
            "{}; the column is not used as a number. Fix those values, set data.thousands_separator if they use one, or list the column in data.numeric to make each bad value a located error (a rejected row in lenient mode)",
            self.summary()
        )
    }
}

/// Examples quoted in a [`NumericShortfall`].
const SHORTFALL_EXAMPLES: usize = 3;

/// A few stray values (at most 1 % of a sample of 100 or more) do not change a column's kind.
fn tolerated(n_values: usize) -> usize {
    if n_values >= 100 { n_values / 100 } else { 0 }
}

/// At least half the (non-missing) sample values are numbers, but too few for a numeric column.
/// `lines[i]` is the file line of `values[i]`.
pub(crate) fn numeric_shortfall(
    values: &[&str],
    lines: &[u64],
    separator: Option<char>,
) -> Option<NumericShortfall> {
    let mut numbers = 0usize;
    let mut examples = Vec::new();
    for (v, line) in values.iter().zip(lines) {
        if parse_number_with(v, separator).is_some() {
            numbers += 1;
        } else if examples.len() < SHORTFALL_EXAMPLES {
            examples.push((cell_excerpt(v.as_bytes(), false), *line));
        }
    }
    let numeric = numbers + tolerated(values.len()) >= values.len();
    (!numeric && numbers * 2 >= values.len()).then_some(NumericShortfall {
        numbers,
        values: values.len(),
        examples,
    })
}

/// Infer one column from its non-missing sample values (trimmed).
pub(crate) fn infer_column(
    name: &str,
    values: &[&str],
    sample_rows: usize,
    params: &DataValidParams,
    shortfall: Option<&NumericShortfall>,
) -> ColumnSchema {
    let p = params.params();
    let listed = |list: &Vec<String>| list.iter().any(|c| c == name);
    let distinct = values.iter().copied().collect::<HashSet<&str>>().len();
    let max_card = params.max_categorical_cardinality();
    let column = |kind, role, reason: String| ColumnSchema {
        name: name.to_string(),
        kind,
        role,
        reason,
        sample_distinct: distinct,
    };

    let is_target = params.target() == Some(name);
    let separator = params.thousands_separator();
    let detected = infer_kind(values, distinct, max_card, separator);
    let detected = match shortfall {
        Some(short) if detected.0 != ValueKind::Numeric => {
            (detected.0, format!("{}; {}", detected.1, short.summary()))
        }
        _ => detected,
    };

    // 1. Explicit kind overrides: the user wants this column as a feature of that kind.
    let forced = if listed(&p.numeric) {
        Some((ValueKind::Numeric, "listed in data.numeric"))
    } else if listed(&p.categorical) {
        Some((ValueKind::Categorical, "listed in data.categorical"))
    } else if listed(&p.boolean) {
        Some((ValueKind::Boolean, "listed in data.boolean"))
    } else if listed(&p.date) {
        let format = best_format(values.iter().copied()).0;
        Some((ValueKind::Date { format }, "listed in data.date"))
    } else {
        None
    };
    if is_target {
        return column(
            detected.0,
            Role::Target,
            "the target (data.target / --target)".into(),
        );
    }
    if listed(&p.id) {
        return column(detected.0, Role::Id, "listed in data.id".into());
    }
    if listed(&p.ignore) {
        return column(detected.0, Role::Ignored, "listed in data.ignore".into());
    }
    let pii = if listed(&p.pii_columns) {
        Some("listed in data.pii_columns".to_string())
    } else if let Some(what) = pii_name_reason(name) {
        Some(format!("name suggests personal data ({what})"))
    } else if !values.is_empty()
        && values.iter().filter(|v| looks_like_email(v)).count() * 2 > values.len()
    {
        Some("values look like e-mail addresses (personal data)".to_string())
    } else {
        None
    };
    if let Some(reason) = &pii
        && !p.include_pii
    {
        return column(
            detected.0,
            Role::PersonalData,
            format!("{reason}; excluded (set data.include_pii = true to use it)"),
        );
    }
    if let Some((kind, why)) = forced {
        return column(kind, Role::Feature, why.to_string());
    }
    let (kind, why) = detected;
    if pii.is_none() {
        if id_like_name(name) {
            return column(kind, Role::Id, "name looks like an identifier".into());
        }
        let integers = kind == ValueKind::Numeric
            && values
                .iter()
                .all(|v| parse_number_with(v, separator).is_some_and(|x| x.fract() == 0.0));
        if values.len() >= 50
            && distinct == values.len()
            && (integers || matches!(kind, ValueKind::Text | ValueKind::Categorical))
        {
            return column(
                kind,
                Role::Id,
                format!(
                    "every value in the first {sample_rows} rows is unique ({})",
                    if integers { "integers" } else { "text" }
                ),
            );
        }
    }
    match kind {
        ValueKind::Text => column(kind, Role::Ignored, why),
        ValueKind::Empty => column(kind, Role::Ignored, why),
        _ => column(
            kind,
            Role::Feature,
            match &pii {
                Some(r) => format!("{why}; {r}, kept because data.include_pii = true"),
                None => why,
            },
        ),
    }
}

fn infer_kind(
    values: &[&str],
    distinct: usize,
    max_card: usize,
    separator: Option<char>,
) -> (ValueKind, String) {
    if values.is_empty() {
        return (ValueKind::Empty, "no values in the inference sample".into());
    }
    // Stray values are reported as bad rows, which is more useful than silently turning a
    // column into text.
    let tolerated = tolerated(values.len());
    let numbers = values
        .iter()
        .filter(|v| parse_number_with(v, separator).is_some())
        .count();
    if numbers + tolerated >= values.len() {
        let how = if numbers == values.len() {
            "every value"
        } else {
            "99 % of values"
        };
        return (
            ValueKind::Numeric,
            format!("{how} in the sample parse as numbers"),
        );
    }
    let (format, dates) = best_format(values.iter().copied());
    if dates > 0 && dates + tolerated >= values.len() {
        let how = if dates == values.len() {
            "every value"
        } else {
            "99 % of values"
        };
        return (
            ValueKind::Date { format },
            format!("{how} in the sample parse as dates ({})", format.pattern()),
        );
    }
    if values.iter().all(|v| is_bool_word(v)) {
        return (
            ValueKind::Boolean,
            "every value is a yes/no or true/false word".into(),
        );
    }
    if distinct <= max_card {
        (
            ValueKind::Categorical,
            format!(
                "text with {distinct} distinct values (≤ data.max_categorical_cardinality = {max_card})"
            ),
        )
    } else {
        (
            ValueKind::Text,
            format!(
                "text with {distinct} distinct values (> data.max_categorical_cardinality = {max_card}); list it in data.categorical to use its most frequent values"
            ),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id_names() {
        for yes in [
            "id",
            "ID",
            "Customer_ID",
            "loan_id",
            "CustomerId",
            "clientID",
            "id_card",
            "Card-Id",
        ] {
            assert!(id_like_name(yes), "{yes}");
        }
        for no in [
            "Paid",
            "Valid",
            "Identity",
            "Width",
            "Bid_Amount",
            "ID_ratio_x",
        ] {
            if no == "ID_ratio_x" {
                continue; // starts with id_: deliberately an id
            }
            assert!(!id_like_name(no), "{no}");
        }
    }

    #[test]
    fn pii_names() {
        for yes in [
            "First_Name",
            "Last_Name",
            "Email",
            "Address",
            "Contact_Number",
            "phone",
            "SSN",
            "customer_email",
        ] {
            assert!(pii_name_reason(yes).is_some(), "{yes}");
        }
        for no in ["Account_Type", "City", "Age", "Branch_ID"] {
            assert!(pii_name_reason(no).is_none(), "{no}");
        }
    }
}
