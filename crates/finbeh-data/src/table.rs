//! The typed columnar table that ingestion produces (never a grid of strings).

use std::borrow::Cow;

use crate::date::format_iso;
use crate::raw::RawValue;

/// Code of a missing categorical cell.
pub(crate) const MISSING_CODE: u32 = u32::MAX;
/// Missing boolean cell.
pub(crate) const MISSING_BOOL: u8 = 2;
/// Missing date cell.
pub(crate) const MISSING_DAY: i32 = i32::MIN;

/// One stored column. Missing values: `NaN`, [`u32::MAX`] codes, `2` booleans, [`i32::MIN`] days.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Column {
    /// Numbers (`NaN` = missing).
    Numeric(Vec<f64>),
    /// Dictionary-encoded text: `codes[row]` indexes `labels` (`u32::MAX` = missing).
    Categorical {
        /// One code per row.
        codes: Vec<u32>,
        /// Distinct trimmed texts in order of first appearance.
        labels: Vec<String>,
    },
    /// Booleans as 0/1 (2 = missing).
    Boolean(Vec<u8>),
    /// Dates as days since 1970-01-01 (`i32::MIN` = missing).
    Date(Vec<i32>),
    /// Not stored: ids, personal data and ignored columns are never read into memory.
    Skipped,
}

/// A CSV file loaded column by column.
#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    pub(crate) names: Vec<String>,
    pub(crate) columns: Vec<Column>,
    pub(crate) n_rows: usize,
}

impl Table {
    /// Number of rows.
    pub fn n_rows(&self) -> usize {
        self.n_rows
    }
    /// Column names in file order.
    pub fn names(&self) -> &[String] {
        &self.names
    }
    /// Position of a column by name.
    pub fn index_of(&self, name: &str) -> Option<usize> {
        self.names.iter().position(|n| n == name)
    }
    /// A column by position.
    pub fn column(&self, index: usize) -> Option<&Column> {
        self.columns.get(index)
    }
    /// A column by name.
    pub fn column_by_name(&self, name: &str) -> Option<&Column> {
        self.index_of(name).and_then(|i| self.columns.get(i))
    }

    /// The raw value of one cell as a client would send it (dates as ISO text, which the
    /// pipeline always accepts); `None` when the column or row does not exist or is not stored.
    pub fn raw_value(&self, column: usize, row: usize) -> Option<RawValue<'_>> {
        Some(match self.columns.get(column)? {
            Column::Numeric(v) => {
                let x = *v.get(row)?;
                if x.is_nan() {
                    RawValue::Missing
                } else {
                    RawValue::Number(x)
                }
            }
            Column::Categorical { codes, labels } => match *codes.get(row)? {
                MISSING_CODE => RawValue::Missing,
                code => RawValue::Text(Cow::Borrowed(labels.get(code as usize)?.as_str())),
            },
            Column::Boolean(v) => match *v.get(row)? {
                MISSING_BOOL => RawValue::Missing,
                b => RawValue::Bool(b == 1),
            },
            Column::Date(v) => match *v.get(row)? {
                MISSING_DAY => RawValue::Missing,
                d => RawValue::Text(Cow::Owned(format_iso(d))),
            },
            Column::Skipped => return None,
        })
    }

    /// Approximate heap bytes held by the table's columns.
    pub fn heap_bytes(&self) -> usize {
        self.columns
            .iter()
            .map(|c| match c {
                Column::Numeric(v) => v.capacity() * 8,
                Column::Categorical { codes, labels } => {
                    codes.capacity() * 4 + labels.iter().map(|l| l.capacity() + 24).sum::<usize>()
                }
                Column::Boolean(v) => v.capacity(),
                Column::Date(v) => v.capacity() * 4,
                Column::Skipped => 0,
            })
            .sum()
    }
}
