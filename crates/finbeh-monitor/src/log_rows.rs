//! Logged rows into SQLite on the writer thread: [`ROWS_PER_INSERT`] rows per execution of one
//! prepared multi-row `INSERT`, each row's JSON written into reused buffers (bound as copies),
//! and the columns that repeat from row to row (endpoint, deployment, route, model) bound
//! only when a slot's record changes them: SQLite keeps a bound value until it is rebound.

use std::sync::Arc;

use finbeh_serve::{InputsJson, ModelInfo, PredictionRecord};
use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::{Statement, Transaction};

use crate::log_store::LogIdentity;

/// Rows bound into one multi-row `INSERT` (SQLite executes one statement, not one per row).
pub(crate) const ROWS_PER_INSERT: usize = 32;
/// Values per row of `predictions`.
const INSERT_COLUMNS: usize = 14;
/// Models whose key texts are kept (a reload brings a new one; old ones are forgotten).
const KEEP_MODELS: usize = 8;

/// `INSERT INTO predictions (..) VALUES (?, ..), ..` for `rows` rows.
fn insert_sql(rows: usize) -> String {
    let row = format!("({})", vec!["?"; INSERT_COLUMNS].join(", "));
    format!(
        "INSERT INTO predictions (time_ms, request_id, row_index, endpoint, deployment, route, \
         model_name, model_version, inputs, predicted_class, probabilities, latency_ms, \
         http_status, error_code) VALUES {}",
        vec![row; rows].join(", ")
    )
}

/// A JSON buffer bound as SQLite text (as its `&str` would be), without a UTF-8 check.
fn json_text(json: &[u8]) -> ToSqlOutput<'_> {
    ToSqlOutput::Borrowed(ValueRef::Text(json))
}

/// The writer's reusable state for turning records into rows.
pub(crate) struct RowWriter {
    /// The SQL of the multi-row and of the one-row `INSERT` (the prepared-statement cache's keys).
    many_sql: String,
    one_sql: String,
    models: Vec<(Arc<ModelInfo>, InputsJson)>,
    inputs_json: Vec<u8>,
    probabilities_json: Vec<u8>,
}

impl Default for RowWriter {
    fn default() -> Self {
        Self {
            many_sql: insert_sql(ROWS_PER_INSERT),
            one_sql: insert_sql(1),
            models: Vec::new(),
            inputs_json: Vec::new(),
            probabilities_json: Vec::new(),
        }
    }
}

/// What the repeating columns of each slot of a statement hold: the record's model and route
/// (by address; every record of the batch is alive while it is written).
type Bound = Option<(usize, usize)>;

impl RowWriter {
    /// Writes every row of `records` (one per scored row, one for a refused request) within
    /// `transaction`; returns the rows written.
    pub(crate) fn insert(
        &mut self,
        transaction: &Transaction<'_>,
        identity: &LogIdentity,
        records: &[PredictionRecord],
    ) -> rusqlite::Result<u64> {
        let mut many = transaction.prepare_cached(&self.many_sql)?;
        let mut one = transaction.prepare_cached(&self.one_sql)?;
        let mut many_bound: [Bound; ROWS_PER_INSERT] = [None; ROWS_PER_INSERT];
        let mut one_bound: [Bound; 1] = [None];
        let mut written = 0u64;
        let mut pending: Vec<(usize, Option<usize>)> = Vec::with_capacity(ROWS_PER_INSERT);
        for (index, record) in records.iter().enumerate() {
            let refused = record.n_rows() == 0;
            let rows = (0..record.n_rows()).map(Some);
            for row in refused.then_some(None).into_iter().chain(rows) {
                pending.push((index, row));
                if pending.len() == ROWS_PER_INSERT {
                    for (slot, &(index, row)) in pending.iter().enumerate() {
                        let record = &records[index];
                        self.bind(&mut many, &mut many_bound, slot, identity, record, row)?;
                    }
                    many.raw_execute()?;
                    written += ROWS_PER_INSERT as u64;
                    pending.clear();
                }
            }
        }
        for &(index, row) in &pending {
            self.bind(&mut one, &mut one_bound, 0, identity, &records[index], row)?;
            one.raw_execute()?;
            written += 1;
        }
        Ok(written)
    }

    fn inputs_json(&mut self, model: &Arc<ModelInfo>) -> &InputsJson {
        let position = match self.models.iter().position(|(m, _)| Arc::ptr_eq(m, model)) {
            Some(position) => position,
            None => {
                if self.models.len() == KEEP_MODELS {
                    self.models.remove(0);
                }
                self.models
                    .push((Arc::clone(model), InputsJson::new(model)));
                self.models.len() - 1
            }
        };
        &self.models[position].1
    }

    /// Binds `record`'s scored row `row` (or, with `None`, the one row of a refused request)
    /// into slot `slot` of `statement`.
    fn bind(
        &mut self,
        statement: &mut Statement<'_>,
        bound: &mut [Bound],
        slot: usize,
        identity: &LogIdentity,
        record: &PredictionRecord,
        row: Option<usize>,
    ) -> rusqlite::Result<()> {
        let base = slot * INSERT_COLUMNS;
        let model = &record.model;
        let repeating = Some((Arc::as_ptr(model) as usize, record.route.as_ptr() as usize));
        if bound[slot] != repeating {
            statement.raw_bind_parameter(base + 4, &identity.endpoint)?;
            statement.raw_bind_parameter(base + 5, &identity.deployment)?;
            statement.raw_bind_parameter(base + 6, record.route)?;
            statement.raw_bind_parameter(base + 7, &model.name)?;
            statement.raw_bind_parameter(base + 8, &model.version)?;
            bound[slot] = repeating;
        }
        statement.raw_bind_parameter(base + 1, record.unix_ms)?;
        statement.raw_bind_parameter(base + 2, &record.request_id)?;
        statement.raw_bind_parameter(base + 3, row.and_then(|r| i64::try_from(r).ok()))?;
        match row {
            Some(row) => {
                let mut inputs = std::mem::take(&mut self.inputs_json);
                inputs.clear();
                self.inputs_json(model).write(record, row, &mut inputs);
                self.probabilities_json.clear();
                // Writing floats into a Vec cannot fail (NaN is written as null).
                let _ = serde_json::to_writer(
                    &mut self.probabilities_json,
                    record.row_probabilities(row),
                );
                // Both buffers hold JSON written from `str`s and numbers: UTF-8 by construction,
                // so they are bound as text without checking it again.
                statement.raw_bind_parameter(base + 9, json_text(&inputs))?;
                statement.raw_bind_parameter(base + 10, record.predicted_class(row))?;
                statement.raw_bind_parameter(base + 11, json_text(&self.probabilities_json))?;
                self.inputs_json = inputs;
            }
            None => {
                for column in 9..=11 {
                    statement.raw_bind_parameter(base + column, None::<&str>)?;
                }
            }
        }
        statement.raw_bind_parameter(base + 12, record.latency_ms)?;
        statement.raw_bind_parameter(base + 13, record.status)?;
        statement.raw_bind_parameter(base + 14, record.error_code)?;
        Ok(())
    }
}
