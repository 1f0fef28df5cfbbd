//! `/score`'s `"explain"` option: reading it from the body, and writing the explanations.

use std::cmp::Ordering;
use std::sync::{Arc, OnceLock};

use finbeh_data::{InputColumn, RawValue};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::explanation::ExplainBuffer;
use crate::request::Json;

/// Integers up to 2^53 are exact as `f64`.
const MAX_EXACT_INTEGER: f64 = 9_007_199_254_740_992.0;

/// The top-level key that asks for explanations next to the rows.
pub(crate) const EXPLAIN_KEY: &str = "explain";

/// A permit to explain a request of many rows on the blocking pool. At most half the cores
/// (at least one) explain such requests at once, process-wide, so a burst of them leaves the
/// event loops, and the requests without `explain`, their CPU; the others wait here without
/// holding a thread. `None` only if the gate were closed, which it never is.
pub(crate) async fn heavy_explain_permit() -> Option<OwnedSemaphorePermit> {
    static GATE: OnceLock<Arc<Semaphore>> = OnceLock::new();
    let gate = GATE.get_or_init(|| {
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        Arc::new(Semaphore::new((cores / 2).max(1)))
    });
    Arc::clone(gate).acquire_owned().await.ok()
}

/// What a request asked to explain: every column, or the `top` largest per row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ExplainRequest {
    top: Option<usize>,
}

/// Reads the value of `"explain"`: `true` (every column), `false` (no explanations) or
/// `{"top": k}` with `k` a positive integer; anything else is the client's mistake, in words.
pub(crate) fn parse_explain(value: &Json<'_>) -> Result<Option<ExplainRequest>, String> {
    const EXPECTED: &str =
        "`explain` must be true, false or {\"top\": k} with k a positive integer";
    match value {
        Json::Bool(true) => Ok(Some(ExplainRequest { top: None })),
        Json::Bool(false) => Ok(None),
        Json::Object(entries) => match entries.as_slice() {
            [(key, Json::Integer(k))] if key == "top" => match usize::try_from(*k) {
                Ok(top) if top >= 1 => Ok(Some(ExplainRequest { top: Some(top) })),
                _ => Err(format!("{EXPECTED}; got \"top\": {k}")),
            },
            [(key, other)] if key == "top" => {
                Err(format!("{EXPECTED}; got \"top\" as {}", other.type_name()))
            }
            _ => Err(format!(
                "{EXPECTED}; got an object with key(s) {}",
                entries
                    .iter()
                    .map(|(key, _)| format!("`{key}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
        },
        other => Err(format!("{EXPECTED}; got {}", other.type_name())),
    }
}

/// Writes `,"explanations":[{"base":b,"contributions":[{"column","value","contribution"}..]}..]`:
/// per row, the columns by decreasing |contribution| (summed over outputs for multi-class;
/// ties keep the model's column order), at most `top` of them. Binary models write numbers;
/// multi-class models one number per class.
pub(crate) fn write_explanations(
    out: &mut Vec<u8>,
    request: ExplainRequest,
    explained: &ExplainBuffer,
    columns: &[InputColumn],
    rows: &[RawValue<'_>],
) {
    let k = explained.n_outputs().max(1);
    let n_cols = explained.n_columns();
    let width = n_cols * k;
    let keep = request.top.unwrap_or(n_cols).min(n_cols);
    let mut order: Vec<(usize, f64)> = Vec::with_capacity(n_cols);
    out.extend_from_slice(b",\"explanations\":[");
    let rows_iter = explained
        .base()
        .chunks(k)
        .zip(explained.contributions().chunks(width.max(1)))
        .zip(rows.chunks(n_cols.max(1)));
    for (r, ((base, contributions), record)) in rows_iter.enumerate() {
        if r > 0 {
            out.push(b',');
        }
        out.extend_from_slice(b"{\"base\":");
        write_outputs(out, base);
        out.extend_from_slice(b",\"contributions\":[");
        order.clear();
        order.extend(
            contributions
                .chunks(k)
                .map(|c| c.iter().map(|v| v.abs()).sum::<f64>())
                .enumerate(),
        );
        order.sort_by(|a, b| b.1.partial_cmp(&a.1).unwrap_or(Ordering::Equal));
        for (i, &(c, _)) in order.iter().take(keep).enumerate() {
            if i > 0 {
                out.push(b',');
            }
            out.extend_from_slice(b"{\"column\":");
            let name = columns.get(c).map_or("", |col| col.name.as_str());
            write_json(out, &name);
            out.extend_from_slice(b",\"value\":");
            write_value(out, record.get(c).unwrap_or(&RawValue::Missing));
            out.extend_from_slice(b",\"contribution\":");
            write_outputs(out, &contributions[c * k..c * k + k]);
            out.push(b'}');
        }
        out.extend_from_slice(b"]}");
    }
    out.push(b']');
}

/// One number for a single output, else a list.
fn write_outputs(out: &mut Vec<u8>, values: &[f64]) {
    match values {
        [one] => write_json(out, one),
        many => write_json(out, &many),
    }
}

/// The value as the decoder kept it: numbers as numbers, labels and dates as strings, booleans,
/// `null` when missing.
fn write_value(out: &mut Vec<u8>, value: &RawValue<'_>) {
    match value {
        RawValue::Missing => out.extend_from_slice(b"null"),
        // Integers the way clients write them (1200, not 1200.0); f64 holds them exactly.
        RawValue::Number(x) if x.fract() == 0.0 && x.abs() <= MAX_EXACT_INTEGER => {
            write_json(out, &(*x as i64))
        }
        RawValue::Number(x) if x.is_finite() => write_json(out, x),
        RawValue::Number(_) => out.extend_from_slice(b"null"),
        RawValue::Bool(b) => write_json(out, b),
        RawValue::Text(text) => write_json(out, &text.as_ref()),
    }
}

fn write_json<T: serde::Serialize + ?Sized>(out: &mut Vec<u8>, value: &T) {
    // Serializing numbers, strings and booleans into a Vec cannot fail; a non-finite number
    // (a model bug) is written as null by serde_json.
    let _ = serde_json::to_writer(&mut *out, value);
}
