//! Input blocks in the log's SQLite file (layout 4): the tables, the writer's appends (in the
//! batch's own transaction, so a block never holds a row that `predictions` lacks), the
//! migration that fills them from a layout-3 log's JSON, and retention.
//!
//! `predictions` stays the record (one row per scored record, `inputs` as JSON); blocks are a
//! typed copy of its inputs for readers of many rows. A block grows by whole batches until it
//! holds [`BLOCK_BYTES`], so a quiet server does not leave one tiny block per batch.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;

use finbeh_serve::{ModelInfo, PredictionRecord};
use rusqlite::{OptionalExtension, Transaction, params};
use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, Visitor};

use crate::input_block::{
    BLOCK_FORMAT, BlockCell, BlockReader, RowKind, push_cell, push_raw_cells, push_row_head,
};
use crate::log_read::{REFUSED_INPUT_CODE, binary_positive};

/// A block takes more batches until it holds this many bytes.
pub(crate) const BLOCK_BYTES: usize = 64 * 1024;

/// The tables layout 4 adds.
pub(crate) const BLOCKS_LAYOUT: &str = "
CREATE TABLE input_schemas (
    id      INTEGER PRIMARY KEY,
    columns TEXT    NOT NULL UNIQUE
);
CREATE TABLE input_blocks (
    first_id    INTEGER PRIMARY KEY,
    last_id     INTEGER NOT NULL,
    min_time_ms INTEGER NOT NULL,
    max_time_ms INTEGER NOT NULL,
    rows        INTEGER NOT NULL,
    data        BLOB    NOT NULL
);
";

/// A block being filled, and what its `input_blocks` row says.
#[derive(Debug, Default)]
struct Block {
    first_id: i64,
    last_id: i64,
    min_time_ms: i64,
    max_time_ms: i64,
    rows: i64,
    data: Vec<u8>,
}

impl Block {
    fn add_row(&mut self, id: i64, time_ms: i64) {
        if self.rows == 0 {
            self.first_id = id;
            self.min_time_ms = time_ms;
            self.max_time_ms = time_ms;
        }
        self.last_id = id;
        self.min_time_ms = self.min_time_ms.min(time_ms);
        self.max_time_ms = self.max_time_ms.max(time_ms);
        self.rows += 1;
    }

    fn clear(&mut self) {
        self.rows = 0;
        self.data.clear();
        self.data.push(BLOCK_FORMAT);
    }

    /// Writes (or rewrites) this block's row.
    fn save(&self, transaction: &Transaction<'_>) -> rusqlite::Result<()> {
        transaction
            .prepare_cached(
                "INSERT OR REPLACE INTO input_blocks \
                 (first_id, last_id, min_time_ms, max_time_ms, rows, data) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?
            .execute(params![
                self.first_id,
                self.last_id,
                self.min_time_ms,
                self.max_time_ms,
                self.rows,
                self.data
            ])?;
        Ok(())
    }
}

/// The id of the schema named by `columns` (a JSON array of column names), added if new.
fn schema_id(transaction: &Transaction<'_>, columns: &str) -> rusqlite::Result<u32> {
    transaction
        .prepare_cached("INSERT OR IGNORE INTO input_schemas (columns) VALUES (?1)")?
        .execute([columns])?;
    transaction
        .prepare_cached("SELECT id FROM input_schemas WHERE columns = ?1")?
        .query_row([columns], |row| row.get(0))
}

/// The writer's side: the open block and the schema id of each model seen.
#[derive(Debug, Default)]
pub(crate) struct BlockWriter {
    open: Block,
    schemas: Vec<(Arc<ModelInfo>, u32)>,
}

/// Models whose schema ids are kept (a reload brings a new one).
const KEEP_MODELS: usize = 8;

impl BlockWriter {
    fn schema(
        &mut self,
        transaction: &Transaction<'_>,
        model: &Arc<ModelInfo>,
    ) -> rusqlite::Result<u32> {
        if let Some((_, id)) = self.schemas.iter().find(|(m, _)| Arc::ptr_eq(m, model)) {
            return Ok(*id);
        }
        let names: Vec<&str> = model
            .input_columns
            .iter()
            .map(|c| c.name.as_str())
            .collect();
        // Serializing strings cannot fail.
        let columns = serde_json::to_string(&names).unwrap_or_default();
        let id = schema_id(transaction, &columns)?;
        if self.schemas.len() == KEEP_MODELS {
            self.schemas.remove(0);
        }
        self.schemas.push((Arc::clone(model), id));
        Ok(id)
    }

    /// Appends `records`' rows, whose ids run from `first_id` in the order
    /// [`crate::log_rows::RowWriter`] wrote them, to the open block and saves it.
    pub(crate) fn append(
        &mut self,
        transaction: &Transaction<'_>,
        first_id: i64,
        records: &[PredictionRecord],
    ) -> rusqlite::Result<()> {
        if self.open.data.is_empty() || self.open.data.len() >= BLOCK_BYTES {
            self.open.clear();
        }
        let mut id = first_id;
        for record in records {
            let time_ms = record.unix_ms;
            if record.n_rows() == 0 {
                let kind = if record.error_code == Some(REFUSED_INPUT_CODE) {
                    RowKind::RefusedInput
                } else {
                    RowKind::NoInputs
                };
                push_row_head(&mut self.open.data, id, time_ms, 0, kind, None, 0);
                self.open.add_row(id, time_ms);
                id += 1;
                continue;
            }
            let schema = self.schema(transaction, &record.model)?;
            let n = record.model.input_columns.len();
            for row in 0..record.n_rows() {
                let probabilities = record.row_probabilities(row);
                let positive = match probabilities {
                    [_, p] if p.is_finite() => Some(*p),
                    _ => None,
                };
                let cells = row
                    .checked_mul(n)
                    .and_then(|start| record.inputs.get(start..start.checked_add(n)?));
                match cells {
                    Some(cells) => {
                        push_row_head(
                            &mut self.open.data,
                            id,
                            time_ms,
                            schema,
                            RowKind::Scored,
                            positive,
                            n,
                        );
                        push_raw_cells(&mut self.open.data, cells);
                    }
                    // The JSON of such a row is empty (unreadable), as here.
                    None => push_row_head(
                        &mut self.open.data,
                        id,
                        time_ms,
                        0,
                        RowKind::Unreadable,
                        None,
                        0,
                    ),
                }
                self.open.add_row(id, time_ms);
                id += 1;
            }
        }
        if self.open.rows > 0 {
            self.open.save(transaction)?;
        }
        Ok(())
    }

    /// Forgets the open block and the schema ids (after a failed transaction, whose rows and
    /// schemas were rolled back, and after retention, which may rewrite blocks).
    pub(crate) fn reset(&mut self) {
        self.open = Block::default();
        self.schemas.clear();
    }
}

/// Migration to layout 4: adds the tables and fills blocks from every logged row's JSON.
pub(crate) fn fill_from_predictions(transaction: &Transaction<'_>) -> rusqlite::Result<()> {
    transaction.execute_batch(BLOCKS_LAYOUT)?;
    let mut select = transaction.prepare(
        "SELECT id, time_ms, inputs, probabilities, error_code FROM predictions ORDER BY id",
    )?;
    let mut rows = select.query([])?;
    let mut schemas: HashMap<String, u32> = HashMap::new();
    let mut block = Block::default();
    block.clear();
    let mut keys = String::new();
    while let Some(row) = rows.next()? {
        let id: i64 = row.get(0)?;
        let time_ms: i64 = row.get(1)?;
        let inputs = row.get_ref(2)?.as_str_or_null().ok().flatten();
        let Some(inputs) = inputs else {
            let code = row.get_ref(4)?.as_str_or_null().ok().flatten();
            let kind = if code == Some(REFUSED_INPUT_CODE) {
                RowKind::RefusedInput
            } else {
                RowKind::NoInputs
            };
            push_row_head(&mut block.data, id, time_ms, 0, kind, None, 0);
            block.add_row(id, time_ms);
            continue;
        };
        match parse_json_row(inputs) {
            Some(cells) => {
                keys.clear();
                let names: Vec<&str> = cells.iter().map(|(name, _)| name.as_ref()).collect();
                // Serializing strings cannot fail.
                keys.push_str(&serde_json::to_string(&names).unwrap_or_default());
                let schema = match schemas.get(&keys) {
                    Some(&schema) => schema,
                    None => {
                        let schema = schema_id(transaction, &keys)?;
                        schemas.insert(keys.clone(), schema);
                        schema
                    }
                };
                let positive = row
                    .get_ref(3)?
                    .as_str_or_null()
                    .ok()
                    .flatten()
                    .and_then(binary_positive);
                push_row_head(
                    &mut block.data,
                    id,
                    time_ms,
                    schema,
                    RowKind::Scored,
                    positive,
                    cells.len(),
                );
                for (_, cell) in &cells {
                    push_cell(&mut block.data, cell.as_block_cell());
                }
            }
            None => push_row_head(
                &mut block.data,
                id,
                time_ms,
                0,
                RowKind::Unreadable,
                None,
                0,
            ),
        }
        block.add_row(id, time_ms);
        if block.data.len() >= BLOCK_BYTES {
            block.save(transaction)?;
            block.clear();
        }
    }
    if block.rows > 0 {
        block.save(transaction)?;
    }
    Ok(())
}

/// After retention deleted rows from `predictions` (older than `cutoff_ms`, and the oldest
/// ids): deletes the blocks all of whose rows are gone and rewrites those that lost some.
pub(crate) fn retain_blocks(transaction: &Transaction<'_>, cutoff_ms: i64) -> rusqlite::Result<()> {
    let first_kept: Option<i64> =
        transaction.query_row("SELECT min(id) FROM predictions", [], |row| row.get(0))?;
    let Some(first_kept) = first_kept else {
        transaction.execute("DELETE FROM input_blocks", [])?;
        return Ok(());
    };
    transaction.execute(
        "DELETE FROM input_blocks WHERE last_id < ?1 OR max_time_ms < ?2",
        [first_kept, cutoff_ms],
    )?;
    let partial: Vec<(i64, Vec<u8>)> = transaction
        .prepare("SELECT first_id, data FROM input_blocks WHERE first_id < ?1 OR min_time_ms < ?2")?
        .query_map([first_kept, cutoff_ms], |row| {
            Ok((row.get(0)?, row.get(1)?))
        })?
        .collect::<Result<_, _>>()?;
    for (first_id, data) in partial {
        transaction.execute("DELETE FROM input_blocks WHERE first_id = ?1", [first_id])?;
        let mut kept = Block::default();
        kept.clear();
        // A block this build cannot decode is dropped; readers then fall back to the JSON.
        let Ok(mut reader) = BlockReader::new(&data) else {
            continue;
        };
        loop {
            let start = reader.position();
            let Ok(Some(head)) = reader.next_row() else {
                break;
            };
            let n = schema_width(transaction, head)?;
            if reader.skip_cells(n).is_err() {
                break;
            }
            if head.id >= first_kept && head.time_ms >= cutoff_ms {
                kept.data
                    .extend_from_slice(&reader.bytes()[start..reader.position()]);
                kept.add_row(head.id, head.time_ms);
            }
        }
        if kept.rows > 0 {
            kept.save(transaction)?;
        }
    }
    Ok(())
}

/// Cells a row has: its schema's column count for a scored row, none otherwise.
fn schema_width(
    transaction: &Transaction<'_>,
    head: crate::input_block::RowHead,
) -> rusqlite::Result<usize> {
    if head.kind != RowKind::Scored {
        return Ok(0);
    }
    let columns: Option<String> = transaction
        .prepare_cached("SELECT columns FROM input_schemas WHERE id = ?1")?
        .query_row([head.schema], |row| row.get(0))
        .optional()?;
    Ok(columns
        .and_then(|c| serde_json::from_str::<Vec<String>>(&c).ok())
        .map_or(0, |c| c.len()))
}

/// A cell of a migrated row's JSON.
enum JsonCell {
    Null,
    Number(f64),
    Bool(bool),
    Text(String),
    Unsupported,
}

impl JsonCell {
    fn as_block_cell(&self) -> BlockCell<'_> {
        match self {
            JsonCell::Null => BlockCell::Null,
            JsonCell::Number(n) => BlockCell::Number(*n),
            JsonCell::Bool(b) => BlockCell::Bool(*b),
            JsonCell::Text(t) => BlockCell::Text(t),
            JsonCell::Unsupported => BlockCell::Unsupported,
        }
    }
}

/// A logged input object's keys and cells in order, the first of a repeated key winning (as
/// the JSON reader takes it); `None` when the text is not a JSON object.
fn parse_json_row(text: &str) -> Option<Vec<(Cow<'_, str>, JsonCell)>> {
    let mut deserializer = serde_json::Deserializer::from_str(text);
    // Like the JSON reader, what follows the object is not looked at.
    JsonRow.deserialize(&mut deserializer).ok()
}

struct JsonRow;

impl<'de> DeserializeSeed<'de> for JsonRow {
    type Value = Vec<(Cow<'de, str>, JsonCell)>;
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for JsonRow {
    type Value = Vec<(Cow<'de, str>, JsonCell)>;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON object of input values")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut cells: Vec<(Cow<'de, str>, JsonCell)> = Vec::new();
        while let Some(key) = map.next_key::<Cow<'de, str>>()? {
            let cell = map.next_value::<JsonValue>()?.0;
            if !cells.iter().any(|(k, _)| *k == key) {
                cells.push((key, cell));
            }
        }
        Ok(cells)
    }
}

struct JsonValue(JsonCell);

impl<'de> serde::Deserialize<'de> for JsonValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(JsonValueVisitor)
    }
}

struct JsonValueVisitor;

impl<'de> Visitor<'de> for JsonValueVisitor {
    type Value = JsonValue;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_unit<E>(self) -> Result<JsonValue, E> {
        Ok(JsonValue(JsonCell::Null))
    }
    fn visit_none<E>(self) -> Result<JsonValue, E> {
        Ok(JsonValue(JsonCell::Null))
    }
    fn visit_bool<E>(self, v: bool) -> Result<JsonValue, E> {
        Ok(JsonValue(JsonCell::Bool(v)))
    }
    fn visit_f64<E>(self, v: f64) -> Result<JsonValue, E> {
        Ok(JsonValue(JsonCell::Number(v)))
    }
    fn visit_i64<E>(self, v: i64) -> Result<JsonValue, E> {
        Ok(JsonValue(JsonCell::Number(v as f64)))
    }
    fn visit_u64<E>(self, v: u64) -> Result<JsonValue, E> {
        Ok(JsonValue(JsonCell::Number(v as f64)))
    }
    fn visit_str<E>(self, v: &str) -> Result<JsonValue, E> {
        Ok(JsonValue(JsonCell::Text(v.to_owned())))
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<JsonValue, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(JsonValue(JsonCell::Unsupported))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<JsonValue, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(JsonValue(JsonCell::Unsupported))
    }
}
