//! `monitor labels --file labels.csv`: a labels file checked and written to the prediction
//! log in one transaction, with how many labels matched a logged prediction.

use std::fs::File;
use std::io::BufReader;
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use finbeh_serve::{LabelProblem, LabelsCsv};
use serde::Serialize;

use crate::error::MonitorError;
use crate::label_store::{
    Upserted, add_to_upload, count_matched, create_upload_table, known_classes, upsert_labels,
};
use crate::log_store::LogStore;

/// What one labels file did to the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct LabelImport {
    /// Labels read from the file.
    pub received: u64,
    /// Labels for rows that had none.
    pub new: u64,
    /// Labels that replaced one already stored for their (request id, row).
    pub replaced: u64,
    /// Labelled rows (distinct request id and row) that are a logged prediction.
    pub matched: u64,
    /// Labelled rows with no logged prediction (an unknown request id or row, a request that
    /// was not sampled, or one deleted by retention); stored all the same, and unused unless
    /// such a row is in the log.
    pub unmatched: u64,
    /// Whether labels were checked against the logged models' classes (false only for a log
    /// that records no model yet).
    pub classes_checked: bool,
}

/// Reads `file` (CSV, header `request_id,row,label`) and writes its labels to the prediction
/// log at `database`, all or nothing. A label must be one of the classes of a model the log
/// has recorded, compared as exact text. A label for an already labelled row replaces it.
///
/// # Errors
/// [`MonitorError::Labels`] naming the file, line and column of the first problem (nothing is
/// written then), [`MonitorError::LabelsFile`], [`MonitorError::Database`], or the log's layout
/// errors.
pub fn import_labels(database: &Path, file: &Path) -> Result<LabelImport, MonitorError> {
    let mut store = LogStore::open(database)?;
    let fail = store.fail();
    let located = |problem: LabelProblem| MonitorError::Labels {
        file: file.to_path_buf(),
        line: problem.at,
        column: problem.field,
        problem: problem.problem,
    };
    let input = File::open(file).map_err(|source| MonitorError::LabelsFile {
        file: file.to_path_buf(),
        source,
    })?;
    let connection = store.connection_mut();
    let classes: Vec<String> = known_classes(connection)
        .map_err(fail("read the models' classes"))?
        .into_iter()
        .collect();
    let classes_checked = !classes.is_empty();
    let transaction = connection.transaction().map_err(fail("begin"))?;
    create_upload_table(&transaction).map_err(fail("create a temporary table"))?;
    let received_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
    let mut written = Upserted::default();
    let mut received = 0u64;
    let mut reader = LabelsCsv::new(BufReader::new(input)).map_err(located)?;
    if classes_checked {
        reader = reader.with_classes(classes);
    }
    for label in reader {
        let label = label.map_err(located)?;
        received += 1;
        let done =
            upsert_labels(&transaction, [&label], received_ms).map_err(fail("write a label"))?;
        written.new += done.new;
        written.replaced += done.replaced;
        add_to_upload(&transaction, &label).map_err(fail("write a label"))?;
    }
    let matched = count_matched(&transaction).map_err(fail("match labels to predictions"))?;
    let distinct: i64 = transaction
        .query_row("SELECT count(*) FROM temp.upload", [], |row| row.get(0))
        .map_err(fail("count the labelled rows"))?;
    let distinct = u64::try_from(distinct).unwrap_or(0);
    transaction
        .execute_batch("DROP TABLE temp.upload")
        .map_err(fail("drop a temporary table"))?;
    transaction.commit().map_err(fail("commit the labels"))?;
    Ok(LabelImport {
        received,
        new: written.new,
        replaced: written.replaced,
        matched,
        unmatched: distinct.saturating_sub(matched),
        classes_checked,
    })
}
