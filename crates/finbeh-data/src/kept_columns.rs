//! Columns copied unchanged from a file of records to its predictions (ids, so that a
//! prediction can be matched to its record by key rather than by position).

use std::path::Path;

use crate::error::DataError;
use crate::ingest::{open_csv, read_error};
use crate::params::DataValidParams;
use crate::records::{Read, Record};
use crate::schema::id_like_name;

/// Which columns of a file of records to carry into its predictions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeepColumns {
    /// The identifier columns: those listed in `data.id`, and those whose name looks like an
    /// identifier by the rule schema inference uses (`id`, `Customer_ID`, `loanId`, ...).
    Ids,
    /// Exactly these columns, in this order (each must be in the file).
    Listed(Vec<String>),
}

/// The kept columns' text, row-aligned with [`crate::load_records`] on the same file.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct KeptColumns {
    /// Column names, in output order.
    pub names: Vec<String>,
    /// `values[column][row]`, trimmed as ingestion trims.
    pub values: Vec<Vec<String>>,
}

impl KeptColumns {
    /// Number of rows read (0 when no column is kept).
    pub fn n_rows(&self) -> usize {
        self.values.first().map_or(0, Vec::len)
    }
}

/// Read the columns `keep` selects from `file` (read as `params` says: delimiter, `data.id`).
/// Every record gives one row, as in [`crate::load_records`]; with no column to keep the file
/// is not read.
pub fn read_kept_columns(
    file: &Path,
    keep: &KeepColumns,
    params: &DataValidParams,
) -> Result<KeptColumns, DataError> {
    let (mut reader, header) = open_csv(file, params)?;
    let names: Vec<String> = match keep {
        KeepColumns::Ids => header
            .iter()
            .filter(|h| params.params().id.contains(h) || id_like_name(h))
            .cloned()
            .collect(),
        KeepColumns::Listed(listed) => {
            let missing: Vec<&str> = listed
                .iter()
                .filter(|c| !header.contains(c))
                .map(String::as_str)
                .collect();
            if !missing.is_empty() {
                return Err(DataError::MissingKeptColumns {
                    file: file.to_path_buf(),
                    missing: missing.join(", "),
                    available: header.join(", "),
                });
            }
            listed.clone()
        }
    };
    let positions: Vec<usize> = names
        .iter()
        .filter_map(|n| header.iter().position(|h| h == n))
        .collect();
    let mut values = vec![Vec::new(); positions.len()];
    if positions.is_empty() {
        return Ok(KeptColumns { names, values });
    }
    let mut record = Record::default();
    loop {
        match reader.read(&mut record).map_err(|e| read_error(file, e))? {
            Read::Record => {
                for (column, &position) in values.iter_mut().zip(&positions) {
                    let field = record.get(position).unwrap_or_default();
                    column.push(String::from_utf8_lossy(field).trim().to_string());
                }
            }
            // `load_records` refuses (strict) or rejects (lenient) that line: no row either.
            Read::Unterminated(_) => {}
            Read::End => break,
        }
    }
    Ok(KeptColumns { names, values })
}
