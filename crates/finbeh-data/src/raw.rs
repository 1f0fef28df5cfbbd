//! The raw-record contract shared by ingestion (CSV), training and serving (JSON).

use std::borrow::Cow;

use serde::{Deserialize, Serialize};

/// One raw cell as it arrives from a CSV file or a JSON request, before the feature pipeline.
///
/// Borrowed text (`Cow::Borrowed`) lets a server score a single record without copying strings.
#[derive(Debug, Clone, PartialEq)]
pub enum RawValue<'a> {
    /// An empty cell or a JSON `null`.
    Missing,
    /// A number (JSON number, or a CSV cell already parsed).
    Number(f64),
    /// A boolean (JSON `true`/`false`).
    Bool(bool),
    /// Text, parsed by the pipeline according to the column's kind.
    Text(Cow<'a, str>),
}

/// The kind of a raw input column that the model reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ColumnKind {
    /// A number; missing values are imputed.
    Numeric,
    /// A label from a finite set; unseen labels take a defined path.
    Categorical,
    /// true/false, yes/no, 1/0.
    Boolean,
    /// A calendar date in one of the accepted formats.
    Date,
}

/// A raw input column of a fitted pipeline: what a client must send, in this order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InputColumn {
    /// Column name as in the training file's header.
    pub name: String,
    /// How the pipeline reads the column.
    pub kind: ColumnKind,
}
