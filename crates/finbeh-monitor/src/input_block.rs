//! The byte format of an input block (layout 4): the raw inputs of consecutive logged rows,
//! typed, so that readers copy numbers instead of parsing JSON text.
//!
//! A block is [`BLOCK_FORMAT`] (one byte), then rows in increasing id order. A row is its `id`
//! (i64), `time_ms` (i64), schema id (u32: the row's column names, `input_schemas`), [`RowKind`]
//! (u8), the positive-class probability (f64; NaN when there is none), then, for a scored row,
//! one cell per schema column: a tag byte ([`tag`]) and its payload (an f64, or a u32 length and
//! UTF-8 bytes). Integers and floats are little-endian. A compatibility promise: a new encoding
//! gets a new [`BLOCK_FORMAT`], and readers keep decoding the old one.

use finbeh_data::RawValue;

/// The first byte of every block.
pub(crate) const BLOCK_FORMAT: u8 = 1;

/// Bytes of a row before its cells.
const ROW_HEAD: usize = 8 + 8 + 4 + 1 + 8;

/// Cell tags.
pub(crate) mod tag {
    /// A null or missing value.
    pub(crate) const NULL: u8 = 0;
    /// A number: eight bytes of f64.
    pub(crate) const NUMBER: u8 = 1;
    /// `false`.
    pub(crate) const FALSE: u8 = 2;
    /// `true`.
    pub(crate) const TRUE: u8 = 3;
    /// Text: u32 length, then UTF-8 bytes.
    pub(crate) const TEXT: u8 = 4;
    /// A value no input cell can be (a JSON array or object in a migrated row): reading the
    /// column fails, as reading the row's JSON does.
    pub(crate) const UNSUPPORTED: u8 = 5;
}

/// What a logged row holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RowKind {
    /// A scored row: its cells follow.
    Scored = 0,
    /// A request refused for its input ([`crate::REFUSED_INPUT_CODE`]): no cells.
    RefusedInput = 1,
    /// Any other row without inputs (another error): no cells.
    NoInputs = 2,
    /// A migrated row whose logged inputs were not a JSON object of values: no cells; reading
    /// it fails naming the row, as reading its JSON does.
    Unreadable = 3,
}

impl RowKind {
    fn from_byte(byte: u8) -> Option<Self> {
        [
            Self::Scored,
            Self::RefusedInput,
            Self::NoInputs,
            Self::Unreadable,
        ]
        .into_iter()
        .find(|kind| *kind as u8 == byte)
    }
}

/// One cell of a block, borrowing its text.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum BlockCell<'a> {
    Null,
    Number(f64),
    Bool(bool),
    Text(&'a str),
    Unsupported,
}

/// Appends a row's head to `out`, and reserves room for `cells` numbers after it (the writer
/// runs this per logged row: one copy of the head, no reallocation per cell).
#[inline]
pub(crate) fn push_row_head(
    out: &mut Vec<u8>,
    id: i64,
    time_ms: i64,
    schema: u32,
    kind: RowKind,
    positive: Option<f64>,
    cells: usize,
) {
    let mut head = [0u8; ROW_HEAD];
    head[0..8].copy_from_slice(&id.to_le_bytes());
    head[8..16].copy_from_slice(&time_ms.to_le_bytes());
    head[16..20].copy_from_slice(&schema.to_le_bytes());
    head[20] = kind as u8;
    head[21..29].copy_from_slice(&positive.unwrap_or(f64::NAN).to_le_bytes());
    out.reserve(ROW_HEAD + cells.saturating_mul(NUMBER_CELL));
    out.extend_from_slice(&head);
}

/// Bytes of a number cell.
const NUMBER_CELL: usize = 9;

/// Appends one served input cell, as the row's JSON would read back: a number that is not
/// finite is a null (JSON has none).
#[inline]
pub(crate) fn push_raw_cell(out: &mut Vec<u8>, value: &RawValue<'_>) {
    match value {
        RawValue::Number(n) if n.is_finite() => {
            let mut cell = [tag::NUMBER; NUMBER_CELL];
            cell[1..].copy_from_slice(&n.to_le_bytes());
            out.extend_from_slice(&cell);
        }
        RawValue::Missing | RawValue::Number(_) => out.push(tag::NULL),
        RawValue::Bool(b) => out.push(if *b { tag::TRUE } else { tag::FALSE }),
        RawValue::Text(text) => push_text(out, text),
    }
}

/// Appends a row's served input cells. Numbers, the common case, are written in place into
/// room made once for the row; the first other cell hands the rest to [`push_raw_cell`].
pub(crate) fn push_raw_cells(out: &mut Vec<u8>, cells: &[RawValue<'_>]) {
    let start = out.len();
    out.resize(start + cells.len() * NUMBER_CELL, 0);
    let mut at = start;
    for (i, value) in cells.iter().enumerate() {
        match value {
            RawValue::Number(n) if n.is_finite() => {
                if let Some(slot) = out.get_mut(at..at + NUMBER_CELL) {
                    slot[0] = tag::NUMBER;
                    slot[1..].copy_from_slice(&n.to_le_bytes());
                }
                at += NUMBER_CELL;
            }
            _ => {
                out.truncate(at);
                for value in &cells[i..] {
                    push_raw_cell(out, value);
                }
                return;
            }
        }
    }
    out.truncate(at);
}

/// Appends a decoded cell (a migrated row's).
pub(crate) fn push_cell(out: &mut Vec<u8>, cell: BlockCell<'_>) {
    match cell {
        BlockCell::Null => out.push(tag::NULL),
        BlockCell::Number(n) => push_raw_cell(out, &RawValue::Number(n)),
        BlockCell::Bool(b) => push_raw_cell(out, &RawValue::Bool(b)),
        BlockCell::Text(text) => push_text(out, text),
        BlockCell::Unsupported => out.push(tag::UNSUPPORTED),
    }
}

fn push_text(out: &mut Vec<u8>, text: &str) {
    // A cell longer than 4 GiB cannot come through a request body; cut rather than wrap.
    let length = u32::try_from(text.len()).unwrap_or(u32::MAX);
    out.push(tag::TEXT);
    out.extend_from_slice(&length.to_le_bytes());
    out.extend_from_slice(&text.as_bytes()[..length as usize]);
}

/// A decoded row head; `cells` starts at the row's first cell.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RowHead {
    pub(crate) id: i64,
    pub(crate) time_ms: i64,
    pub(crate) schema: u32,
    pub(crate) kind: RowKind,
    /// The positive-class probability, if the row has one.
    pub(crate) positive: Option<f64>,
}

/// Why a block cannot be decoded.
pub(crate) type BlockProblem = &'static str;

/// Reads a block row by row. Every length is checked against the bytes left, so a damaged
/// block is an error, never a panic or an oversized allocation.
pub(crate) struct BlockReader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> BlockReader<'a> {
    /// Checks the format byte.
    pub(crate) fn new(block: &'a [u8]) -> Result<Self, BlockProblem> {
        match block.first() {
            Some(&BLOCK_FORMAT) => Ok(Self {
                bytes: block,
                at: 1,
            }),
            Some(_) => Err("unknown input block format"),
            None => Err("empty input block"),
        }
    }

    /// Where the next row starts (a row's bytes are `start..end` of two calls).
    pub(crate) fn position(&self) -> usize {
        self.at
    }

    pub(crate) fn bytes(&self) -> &'a [u8] {
        self.bytes
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], BlockProblem> {
        let end = self
            .at
            .checked_add(n)
            .filter(|&end| end <= self.bytes.len())
            .ok_or("truncated input block")?;
        let taken = &self.bytes[self.at..end];
        self.at = end;
        Ok(taken)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], BlockProblem> {
        let mut out = [0; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    /// The next row's head, or `None` at the end of the block.
    pub(crate) fn next_row(&mut self) -> Result<Option<RowHead>, BlockProblem> {
        if self.at == self.bytes.len() {
            return Ok(None);
        }
        let head = self.take(ROW_HEAD)?;
        let word = |range: std::ops::Range<usize>| {
            let mut out = [0; 8];
            out[..range.len()].copy_from_slice(&head[range]);
            out
        };
        let positive = f64::from_le_bytes(word(21..29));
        Ok(Some(RowHead {
            id: i64::from_le_bytes(word(0..8)),
            time_ms: i64::from_le_bytes(word(8..16)),
            schema: u32::from_le_bytes([head[16], head[17], head[18], head[19]]),
            kind: RowKind::from_byte(head[20]).ok_or("unknown row kind in an input block")?,
            positive: (!positive.is_nan()).then_some(positive),
        }))
    }

    /// The next cell of the current row.
    pub(crate) fn next_cell(&mut self) -> Result<BlockCell<'a>, BlockProblem> {
        let [t] = self.array::<1>()?;
        Ok(match t {
            tag::NULL => BlockCell::Null,
            tag::NUMBER => BlockCell::Number(f64::from_le_bytes(self.array()?)),
            tag::FALSE => BlockCell::Bool(false),
            tag::TRUE => BlockCell::Bool(true),
            tag::TEXT => {
                let length = u32::from_le_bytes(self.array()?) as usize;
                let bytes = self.take(length)?;
                BlockCell::Text(std::str::from_utf8(bytes).map_err(|_| "text cell is not UTF-8")?)
            }
            tag::UNSUPPORTED => BlockCell::Unsupported,
            _ => return Err("unknown cell tag in an input block"),
        })
    }

    /// Skips `n` cells.
    pub(crate) fn skip_cells(&mut self, n: usize) -> Result<(), BlockProblem> {
        for _ in 0..n {
            self.next_cell()?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::borrow::Cow;

    #[test]
    fn rows_and_cells_read_back_as_written() {
        let mut block = vec![BLOCK_FORMAT];
        push_row_head(&mut block, 7, 1_000, 2, RowKind::Scored, Some(0.25), 5);
        for value in [
            RawValue::Number(1.5),
            RawValue::Number(f64::NAN),
            RawValue::Missing,
            RawValue::Bool(true),
            RawValue::Text(Cow::Borrowed("Oslo")),
        ] {
            push_raw_cell(&mut block, &value);
        }
        // The row writer's path gives the same bytes, numbers first or not.
        let cells = [
            RawValue::Number(1.5),
            RawValue::Number(f64::NAN),
            RawValue::Missing,
            RawValue::Bool(true),
            RawValue::Text(Cow::Borrowed("Oslo")),
        ];
        let mut one_by_one = Vec::new();
        cells.iter().for_each(|c| push_raw_cell(&mut one_by_one, c));
        let mut together = Vec::new();
        push_raw_cells(&mut together, &cells);
        assert_eq!(together, one_by_one);
        let mut numbers = Vec::new();
        push_raw_cells(&mut numbers, &cells[..1]);
        assert_eq!(numbers, one_by_one[..9]);
        push_row_head(&mut block, 8, 1_001, 0, RowKind::RefusedInput, None, 0);
        let mut reader = BlockReader::new(&block).unwrap();
        let head = reader.next_row().unwrap().unwrap();
        assert_eq!(
            (head.id, head.time_ms, head.schema, head.kind, head.positive),
            (7, 1_000, 2, RowKind::Scored, Some(0.25))
        );
        let cells: Vec<BlockCell<'_>> = (0..5).map(|_| reader.next_cell().unwrap()).collect();
        assert_eq!(
            cells,
            [
                BlockCell::Number(1.5),
                BlockCell::Null,
                BlockCell::Null,
                BlockCell::Bool(true),
                BlockCell::Text("Oslo")
            ]
        );
        let head = reader.next_row().unwrap().unwrap();
        assert_eq!(
            (head.id, head.kind, head.positive),
            (8, RowKind::RefusedInput, None)
        );
        assert!(reader.next_row().unwrap().is_none());
    }

    #[test]
    fn a_damaged_block_is_an_error_not_a_panic() {
        let mut block = vec![BLOCK_FORMAT];
        push_row_head(&mut block, 1, 1, 1, RowKind::Scored, None, 1);
        push_raw_cell(&mut block, &RawValue::Text(Cow::Borrowed("long text")));
        for cut in 0..block.len() {
            let Ok(mut reader) = BlockReader::new(&block[..cut]) else {
                continue;
            };
            let read = reader.next_row().and_then(|_| reader.next_cell());
            assert!(read.is_err(), "cut at {cut}");
        }
        // A length far past the end asks for no allocation.
        let mut huge = vec![BLOCK_FORMAT];
        push_row_head(&mut huge, 1, 1, 1, RowKind::Scored, None, 0);
        huge.push(tag::TEXT);
        huge.extend_from_slice(&u32::MAX.to_le_bytes());
        let mut reader = BlockReader::new(&huge).unwrap();
        reader.next_row().unwrap();
        assert_eq!(reader.next_cell(), Err("truncated input block"));
        assert!(BlockReader::new(&[9]).is_err());
    }
}
