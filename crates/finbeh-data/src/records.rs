//! Splits a CSV stream into records with their starting line numbers, and stops a quoted field
//! that runs on too long: a stray `"` would otherwise swallow the rest of the file as one field.
//!
//! Input is read one physical line at a time and fed to `csv_core`, so a record still open at
//! the end of a line is inside a quoted field. When that field has spanned more than the
//! configured lines or bytes (or reaches the end of the file), the reader reports an
//! [`UnterminatedQuote`] at the record's first line and, so that lenient mode can go on, replays
//! the lines after it as fresh input. Memory is bounded by the longest line plus the limits.

use std::collections::VecDeque;
use std::io::{self, BufRead};

/// How far a quoted field may run on before it counts as an unterminated quote.
#[derive(Debug, Clone, Copy)]
pub(crate) struct QuoteLimits {
    /// Physical lines a still-open record may span.
    pub max_lines: usize,
    /// Bytes a still-open record may span.
    pub max_bytes: usize,
}

/// One record: its fields (unquoted) and the physical line it starts on.
#[derive(Debug, Clone, Default)]
pub(crate) struct Record {
    /// Field bytes back to back; `ends[i]` is the end of field `i`.
    bytes: Vec<u8>,
    ends: Vec<usize>,
    line: u64,
}

impl Record {
    /// Number of fields.
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    /// Field `i`.
    pub fn get(&self, i: usize) -> Option<&[u8]> {
        let end = *self.ends.get(i)?;
        let start = match i.checked_sub(1) {
            Some(prev) => *self.ends.get(prev)?,
            None => 0,
        };
        self.bytes.get(start..end)
    }

    /// The fields in order.
    pub fn iter(&self) -> impl Iterator<Item = &[u8]> {
        (0..self.len()).filter_map(|i| self.get(i))
    }

    /// 1-based physical line of the record's first byte (the header is line 1).
    pub fn line(&self) -> u64 {
        self.line
    }

    /// A copy holding only the record's bytes (the working buffer keeps its largest capacity).
    pub fn compact(&self) -> Record {
        let used = self.ends.last().copied().unwrap_or(0);
        Record {
            bytes: self.bytes.get(..used).unwrap_or_default().to_vec(),
            ends: self.ends.clone(),
            line: self.line,
        }
    }
}

/// A quoted field still open after the limits (or at the end of the file).
#[derive(Debug, Clone)]
pub(crate) struct UnterminatedQuote {
    /// The record's first line.
    pub line: u64,
    /// Index of the field that is still open.
    pub field: usize,
    /// The fields of the first line alone, the open field running to the end of that line.
    pub first_line: Record,
    /// Lines and bytes the record had spanned when it was given up.
    pub lines: usize,
    /// See `lines`.
    pub bytes: usize,
    /// True when the field was still open at the end of the file.
    pub at_end_of_file: bool,
}

/// What [`RecordReader::read`] found.
pub(crate) enum Read {
    /// A record was read into the caller's buffer.
    Record,
    /// A quoted field never closed; the lines after its first line will be read again.
    Unterminated(UnterminatedQuote),
    /// No more input.
    End,
}

/// A CSV record reader over physical lines.
pub(crate) struct RecordReader<R> {
    input: R,
    core: csv_core::Reader,
    delimiter: u8,
    limits: QuoteLimits,
    /// Lines to read again after an unterminated quote, with their line numbers.
    replay: VecDeque<(u64, Vec<u8>)>,
    line: Vec<u8>,
    line_pos: usize,
    line_number: u64,
    lines_read: u64,
    /// The still-open record's pieces (line number, start in `span_bytes`).
    span: Vec<(u64, usize)>,
    span_bytes: Vec<u8>,
}

const START_CAPACITY: usize = 1024;

impl<R: BufRead> RecordReader<R> {
    /// A reader with the given field delimiter.
    pub fn new(input: R, delimiter: u8, limits: QuoteLimits) -> Self {
        RecordReader {
            input,
            core: Self::parser(delimiter),
            delimiter,
            limits,
            replay: VecDeque::new(),
            line: Vec::new(),
            line_pos: 0,
            line_number: 0,
            lines_read: 0,
            span: Vec::new(),
            span_bytes: Vec::new(),
        }
    }

    fn parser(delimiter: u8) -> csv_core::Reader {
        csv_core::ReaderBuilder::new().delimiter(delimiter).build()
    }

    /// Physical lines read from the input so far.
    pub fn lines_read(&self) -> u64 {
        self.lines_read
    }

    /// Loads the next physical line (replayed lines first); false at the end of the input.
    fn next_line(&mut self) -> io::Result<bool> {
        self.line_pos = 0;
        if let Some((number, bytes)) = self.replay.pop_front() {
            self.line = bytes;
            self.line_number = number;
            return Ok(true);
        }
        self.line.clear();
        if self.input.read_until(b'\n', &mut self.line)? == 0 {
            return Ok(false);
        }
        // A record still open after a whole line is then always inside a quoted field.
        if !self.line.ends_with(b"\n") {
            self.line.push(b'\n');
        }
        self.lines_read += 1;
        self.line_number = self.lines_read;
        Ok(true)
    }

    /// Reads the next record into `rec`.
    pub fn read(&mut self, rec: &mut Record) -> io::Result<Read> {
        rec.ends.clear();
        if rec.bytes.len() < START_CAPACITY {
            rec.bytes.resize(START_CAPACITY, 0);
        }
        if rec.ends.capacity() < 16 {
            rec.ends.reserve(16);
        }
        rec.ends.resize(rec.ends.capacity(), 0);
        self.span.clear();
        self.span_bytes.clear();
        let (mut out_len, mut ends_len) = (0usize, 0usize);
        loop {
            if self.line_pos >= self.line.len() && !self.next_line()? {
                rec.ends.truncate(ends_len);
                return Ok(if self.span.is_empty() {
                    Read::End
                } else {
                    Read::Unterminated(self.give_up(ends_len, true))
                });
            }
            if self.span.is_empty() {
                rec.line = self.line_number;
            }
            let piece_start = self.line_pos;
            loop {
                let input = self.line.get(self.line_pos..).unwrap_or_default();
                let output = rec.bytes.get_mut(out_len..).unwrap_or_default();
                let ends = rec.ends.get_mut(ends_len..).unwrap_or_default();
                let (result, n_in, n_out, n_ends) = self.core.read_record(input, output, ends);
                self.line_pos += n_in;
                out_len += n_out;
                ends_len += n_ends;
                match result {
                    csv_core::ReadRecordResult::InputEmpty => break,
                    csv_core::ReadRecordResult::OutputFull => grow(&mut rec.bytes)?,
                    csv_core::ReadRecordResult::OutputEndsFull => grow(&mut rec.ends)?,
                    csv_core::ReadRecordResult::Record => {
                        rec.ends.truncate(ends_len);
                        return Ok(Read::Record);
                    }
                    csv_core::ReadRecordResult::End => {
                        rec.ends.truncate(ends_len);
                        return Ok(Read::End);
                    }
                }
            }
            if out_len == 0 && ends_len == 0 {
                continue; // a blank line: nothing is open
            }
            let piece = self.line.get(piece_start..).unwrap_or_default();
            self.span.push((self.line_number, self.span_bytes.len()));
            self.span_bytes.extend_from_slice(piece);
            if self.span.len() > self.limits.max_lines
                || self.span_bytes.len() > self.limits.max_bytes
            {
                rec.ends.truncate(ends_len);
                return Ok(Read::Unterminated(self.give_up(ends_len, false)));
            }
        }
    }

    /// Reports the open record at its first line and queues its later lines to be read again.
    fn give_up(&mut self, open_field: usize, at_end_of_file: bool) -> UnterminatedQuote {
        let lines = self.span.len();
        let bytes = self.span_bytes.len();
        let piece = |i: usize| -> &[u8] {
            let start = self.span.get(i).map_or(bytes, |s| s.1);
            let end = self.span.get(i + 1).map_or(bytes, |s| s.1);
            self.span_bytes.get(start..end).unwrap_or_default()
        };
        let first_line = parse_alone(trim_line_end(piece(0)), self.delimiter);
        let line = self.span.first().map_or(self.line_number, |s| s.0);
        // Lines after the first, then the rest of the current line, are read again in order.
        let mut again: Vec<(u64, Vec<u8>)> = (1..lines)
            .filter_map(|i| Some((self.span.get(i)?.0, piece(i).to_vec())))
            .collect();
        if let Some(rest) = self.line.get(self.line_pos..).filter(|r| !r.is_empty()) {
            again.push((self.line_number, rest.to_vec()));
        }
        self.line_pos = self.line.len();
        for entry in again.into_iter().rev() {
            self.replay.push_front(entry);
        }
        self.core = Self::parser(self.delimiter);
        self.span.clear();
        self.span_bytes.clear();
        UnterminatedQuote {
            line,
            field: open_field,
            first_line: Record { line, ..first_line },
            lines,
            bytes,
            at_end_of_file,
        }
    }
}

fn trim_line_end(mut bytes: &[u8]) -> &[u8] {
    while let [rest @ .., b'\n' | b'\r'] = bytes {
        bytes = rest;
    }
    bytes
}

/// The fields of `bytes` read as a whole file (an open quote closes at its end).
fn parse_alone(bytes: &[u8], delimiter: u8) -> Record {
    let mut core = RecordReader::<&[u8]>::parser(delimiter);
    let mut output = vec![0u8; bytes.len() + 1];
    let mut ends = vec![0usize; bytes.len() + 1];
    let (mut pos, mut out_len, mut ends_len) = (0usize, 0usize, 0usize);
    // Each call consumes input or finishes the record; two rounds past the end always finish.
    for _ in 0..=bytes.len() + 2 {
        let input = bytes.get(pos..).unwrap_or_default();
        let (result, n_in, n_out, n_ends) = core.read_record(
            input,
            output.get_mut(out_len..).unwrap_or_default(),
            ends.get_mut(ends_len..).unwrap_or_default(),
        );
        pos += n_in;
        out_len += n_out;
        ends_len += n_ends;
        if matches!(
            result,
            csv_core::ReadRecordResult::Record | csv_core::ReadRecordResult::End
        ) {
            break;
        }
    }
    ends.truncate(ends_len);
    output.truncate(out_len);
    Record {
        bytes: output,
        ends,
        line: 0,
    }
}

/// Doubles a working buffer (checked: a record larger than memory is an error, not a panic).
fn grow<T: Default + Clone>(buffer: &mut Vec<T>) -> io::Result<()> {
    let new_len = buffer
        .len()
        .max(1)
        .checked_mul(2)
        .ok_or_else(|| io::Error::new(io::ErrorKind::OutOfMemory, "CSV record too large"))?;
    buffer
        .try_reserve_exact(new_len - buffer.len())
        .map_err(|_| io::Error::new(io::ErrorKind::OutOfMemory, "CSV record too large"))?;
    buffer.resize(new_len, T::default());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: QuoteLimits = QuoteLimits {
        max_lines: 3,
        max_bytes: 1_000,
    };

    /// A record (line, fields), or an unterminated quote (line, open field, first-line fields).
    type Item = Result<(u64, Vec<String>), (u64, usize, Vec<String>)>;

    fn read_all(text: &str) -> Vec<Item> {
        let mut reader = RecordReader::new(text.as_bytes(), b',', LIMITS);
        let mut rec = Record::default();
        let mut out = Vec::new();
        let fields = |r: &Record| {
            r.iter()
                .map(|f| String::from_utf8_lossy(f).into_owned())
                .collect::<Vec<_>>()
        };
        loop {
            match reader.read(&mut rec).unwrap() {
                Read::Record => out.push(Ok((rec.line(), fields(&rec)))),
                Read::Unterminated(q) => out.push(Err((q.line, q.field, fields(&q.first_line)))),
                Read::End => return out,
            }
        }
    }

    #[test]
    fn records_with_line_numbers_blank_lines_crlf_and_quoted_newlines() {
        let got = read_all("a,b\r\n\n1,\"x\ny\"\n2,\"q\"\"\"\n3,z");
        assert_eq!(
            got,
            vec![
                Ok((1, vec!["a".into(), "b".into()])),
                Ok((3, vec!["1".into(), "x\ny".into()])),
                Ok((5, vec!["2".into(), "q\"".into()])),
                Ok((6, vec!["3".into(), "z".into()])),
            ]
        );
    }

    #[test]
    fn a_stray_quote_is_reported_at_its_line_and_the_next_lines_are_read_again() {
        let got = read_all("a,b\n1,\"oops\n2,x\n3,y\n4,z\n5,w\n");
        assert_eq!(
            got,
            vec![
                Ok((1, vec!["a".into(), "b".into()])),
                Err((2, 1, vec!["1".into(), "oops".into()])),
                Ok((3, vec!["2".into(), "x".into()])),
                Ok((4, vec!["3".into(), "y".into()])),
                Ok((5, vec!["4".into(), "z".into()])),
                Ok((6, vec!["5".into(), "w".into()])),
            ]
        );
    }

    #[test]
    fn a_quote_open_at_the_end_of_the_file_is_unterminated() {
        let got = read_all("a,b\n1,x\n2,\"y\n3,z\n");
        assert_eq!(
            got,
            vec![
                Ok((1, vec!["a".into(), "b".into()])),
                Ok((2, vec!["1".into(), "x".into()])),
                Err((3, 1, vec!["2".into(), "y".into()])),
                Ok((4, vec!["3".into(), "z".into()])),
            ]
        );
    }

    #[test]
    fn the_byte_limit_applies_too() {
        let long = "x".repeat(1_100);
        let text = format!("a,b\n1,\"{long}\nmore\"\n2,y\n");
        let got = read_all(&text);
        assert!(matches!(got.get(1), Some(Err((2, 1, _)))), "{got:?}");
        // The second half of the field is read again as a record of its own.
        assert!(
            matches!(got.get(2), Some(Ok((3, f))) if f.len() == 1),
            "{got:?}"
        );
    }
}
