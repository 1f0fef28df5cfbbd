//! Reading a period's inputs from a layout-4 log's input blocks: blobs are fetched in chunks
//! of at most [`CHUNK_BYTES`] (bounded memory), and each chunk is decoded on two threads, each
//! filling half of the columns. Numbers are copied, categories looked up without allocating.

use std::borrow::Cow;
use std::collections::HashMap;
use std::ops::Range;
use std::path::Path;

use finbeh_data::InputColumn;
use rusqlite::Connection;

use crate::error::MonitorError;
use crate::input_block::{BlockCell, BlockProblem, BlockReader, RowKind};
use crate::log_read::{Builder, Cell, LogPeriod};

/// Blob bytes held at once (one chunk), on top of the columns being built.
const CHUNK_BYTES: usize = 16 * 1024 * 1024;

/// What the blocks held for a period.
#[derive(Debug, Default)]
pub(crate) struct BlockTally {
    /// Scored rows read.
    pub(crate) rows: usize,
    /// Requests refused for their input.
    pub(crate) refused: usize,
    /// Every logged row of the period (scored, refused, other errors).
    pub(crate) logged: i64,
    /// Positive-class probability of each scored row that has one.
    pub(crate) positive: Vec<f64>,
}

/// Where a schema's columns go: the builder of each of its cells, and the asked-for columns it
/// lacks (nulls).
struct SchemaMap {
    to_builder: Vec<Option<usize>>,
    missing: Vec<usize>,
}

enum Failure {
    /// The blocks cannot be used (damaged, or a format this build does not know): read JSON.
    Damaged {
        first_id: i64,
        problem: BlockProblem,
    },
    /// Row `id` is refused, as reading its JSON refuses it.
    Row { id: i64, problem: &'static str },
}

/// Fills `builders` (one per column of `columns`) from the blocks of `period`. `Ok(None)` when
/// the blocks do not hold exactly the period's logged rows (damaged, or rows deleted behind
/// the writer's back): the caller reads the JSON instead, and the builders must be discarded.
///
/// # Errors
/// [`MonitorError::Database`]; [`MonitorError::BadLogRow`] for a row whose logged inputs the
/// JSON reader refuses too.
pub(crate) fn read_blocks(
    connection: &Connection,
    path: &Path,
    period: LogPeriod,
    columns: &[InputColumn],
    builders: &mut [Builder],
) -> Result<Option<BlockTally>, MonitorError> {
    let fail = |action| {
        move |source| MonitorError::Database {
            path: path.to_path_buf(),
            action,
            source,
        }
    };
    let schemas = schema_maps(connection, columns).map_err(fail("read the input schemas"))?;
    let mut statement = connection
        .prepare(
            "SELECT first_id, data FROM input_blocks \
             WHERE max_time_ms >= ?1 AND min_time_ms < ?2 ORDER BY first_id",
        )
        .map_err(fail("prepare the input block read"))?;
    let mut blocks = statement
        .query([period.since_ms, period.until_ms])
        .map_err(fail("read the input blocks"))?;
    let mut tally = BlockTally::default();
    let mut chunk: Vec<(i64, Vec<u8>)> = Vec::new();
    let mut held = 0usize;
    let decode = |chunk: &[(i64, Vec<u8>)], builders: &mut [Builder], tally: &mut BlockTally| {
        let middle = builders.len() / 2;
        let (first, second) = builders.split_at_mut(middle);
        let (a, b) = rayon::join(
            || decode_group(chunk, period, &schemas, 0..middle, first, Some(&mut *tally)),
            || decode_group(chunk, period, &schemas, middle..columns.len(), second, None),
        );
        a.and(b)
    };
    let outcome = loop {
        let next = blocks.next().map_err(fail("read an input block"))?;
        if let Some(row) = next {
            let first_id: i64 = row.get(0).map_err(fail("read an input block"))?;
            let data: Vec<u8> = row.get(1).map_err(fail("read an input block"))?;
            held = held.saturating_add(data.len());
            chunk.push((first_id, data));
            if held < CHUNK_BYTES {
                continue;
            }
        }
        let decoded = decode(&chunk, builders, &mut tally);
        chunk.clear();
        held = 0;
        if decoded.is_err() || next.is_none() {
            break decoded;
        }
    };
    match outcome {
        Ok(()) => {}
        Err(Failure::Row { id, problem }) => {
            return Err(MonitorError::BadLogRow {
                path: path.to_path_buf(),
                id,
                problem: problem.to_owned(),
            });
        }
        Err(Failure::Damaged { first_id, problem }) => {
            tracing::warn!(path = %path.display(), first_id, problem, "prediction log: an input block cannot be read; reading the rows' JSON instead");
            return Ok(None);
        }
    }
    let logged: i64 = connection
        .query_row(
            "SELECT count(*) FROM predictions WHERE time_ms >= ?1 AND time_ms < ?2",
            [period.since_ms, period.until_ms],
            |row| row.get(0),
        )
        .map_err(fail("count the period's rows"))?;
    if logged != tally.logged {
        tracing::warn!(path = %path.display(), logged, in_blocks = tally.logged, "prediction log: the input blocks do not match the logged rows; reading the rows' JSON instead");
        return Ok(None);
    }
    Ok(Some(tally))
}

/// Every schema of the log, mapped onto `columns`.
fn schema_maps(
    connection: &Connection,
    columns: &[InputColumn],
) -> rusqlite::Result<HashMap<u32, SchemaMap>> {
    let index: HashMap<&str, usize> = columns
        .iter()
        .enumerate()
        .map(|(i, c)| (c.name.as_str(), i))
        .collect();
    let mut statement = connection.prepare("SELECT id, columns FROM input_schemas")?;
    let rows = statement.query_map([], |row| {
        Ok((row.get::<_, u32>(0)?, row.get::<_, String>(1)?))
    })?;
    let mut maps = HashMap::new();
    for row in rows {
        let (id, names) = row?;
        // Left out when unreadable: its rows then name an unknown schema, and the JSON is read.
        let Ok(names) = serde_json::from_str::<Vec<String>>(&names) else {
            continue;
        };
        let to_builder: Vec<Option<usize>> = names
            .iter()
            .map(|n| index.get(n.as_str()).copied())
            .collect();
        let missing = (0..columns.len())
            .filter(|i| !to_builder.contains(&Some(*i)))
            .collect();
        maps.insert(
            id,
            SchemaMap {
                to_builder,
                missing,
            },
        );
    }
    Ok(maps)
}

/// Decodes `chunk` into the builders of columns `group` (`builders[0]` is column
/// `group.start`); the group with `tally` also counts rows and keeps probabilities.
fn decode_group(
    chunk: &[(i64, Vec<u8>)],
    period: LogPeriod,
    schemas: &HashMap<u32, SchemaMap>,
    group: Range<usize>,
    builders: &mut [Builder],
    mut tally: Option<&mut BlockTally>,
) -> Result<(), Failure> {
    for (first_id, data) in chunk {
        let damaged = |problem| Failure::Damaged {
            first_id: *first_id,
            problem,
        };
        let mut reader = BlockReader::new(data).map_err(damaged)?;
        while let Some(head) = reader.next_row().map_err(damaged)? {
            let in_period = (period.since_ms..period.until_ms).contains(&head.time_ms);
            match head.kind {
                RowKind::Scored => {
                    let schema = schemas
                        .get(&head.schema)
                        .ok_or("a row names an unknown input schema")
                        .map_err(damaged)?;
                    if !in_period {
                        reader
                            .skip_cells(schema.to_builder.len())
                            .map_err(damaged)?;
                        continue;
                    }
                    for target in &schema.to_builder {
                        let cell = reader.next_cell().map_err(damaged)?;
                        let Some(column) = target.filter(|c| group.contains(c)) else {
                            continue;
                        };
                        let cell = match cell {
                            BlockCell::Null => Cell::Null,
                            BlockCell::Number(n) => Cell::Number(n),
                            BlockCell::Bool(b) => Cell::Bool(b),
                            BlockCell::Text(t) => Cell::Text(Cow::Borrowed(t)),
                            BlockCell::Unsupported => {
                                return Err(Failure::Row {
                                    id: head.id,
                                    problem: "a logged input value is not null, a number, a string or a boolean",
                                });
                            }
                        };
                        builders[column - group.start].push(cell);
                    }
                    for &column in schema.missing.iter().filter(|c| group.contains(c)) {
                        builders[column - group.start].push(Cell::Null);
                    }
                    if let Some(tally) = tally.as_deref_mut() {
                        tally.rows += 1;
                        tally.logged += 1;
                        tally.positive.extend(head.positive);
                    }
                }
                _ if !in_period => {}
                RowKind::RefusedInput => {
                    if let Some(tally) = tally.as_deref_mut() {
                        tally.refused += 1;
                        tally.logged += 1;
                    }
                }
                RowKind::NoInputs => {
                    if let Some(tally) = tally.as_deref_mut() {
                        tally.logged += 1;
                    }
                }
                RowKind::Unreadable => {
                    return Err(Failure::Row {
                        id: head.id,
                        problem: "the logged inputs are not a JSON object of values",
                    });
                }
            }
        }
    }
    Ok(())
}
