//! A streaming decoder for the commonest body, `{"data": [[number, ...], ...]}`, that writes
//! cells straight into the rows buffer without building a JSON tree.
//!
//! It only ever succeeds on bodies the general decoder would accept with the very same values:
//! one top-level key `data`, an array of 1..=`max_rows` rows, each an array of exactly one cell
//! per model column, each cell a number (not for date columns) or `null`. Numbers go through the
//! same `serde_json` `deserialize_any` path as the general decoder, so they are bit-identical.
//! On anything else it gives up (`None`) and the caller runs the general decoder, which also
//! produces every error message; the fast path never decides an error.

use std::fmt;

use finbeh_data::{ColumnKind, InputColumn, RawValue};
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

/// Decodes `body` into `rows` when it is the positional numeric form; `None` leaves `rows` as
/// it was and means "use the general decoder".
pub(crate) fn decode_positional_numbers(
    body: &[u8],
    columns: &[InputColumn],
    max_rows: usize,
    rows: &mut Vec<RawValue<'_>>,
) -> Option<usize> {
    // A model column named `data` turns `{"data": ..}` into a record: not this form.
    if columns.is_empty() || columns.iter().any(|c| c.name == "data") {
        return None;
    }
    let start = rows.len();
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    let seed = Body {
        columns,
        max_rows,
        rows: &mut *rows,
    };
    let decoded = seed
        .deserialize(&mut deserializer)
        .and_then(|n_rows| deserializer.end().map(|()| n_rows));
    match decoded {
        Ok(n_rows) => Some(n_rows),
        Err(_) => {
            rows.truncate(start);
            None
        }
    }
}

/// Any reason to leave the fast path; the general decoder will say what, if anything, is wrong.
fn give_up<E: de::Error>() -> E {
    E::custom("not the positional numeric form")
}

struct Body<'c, 'r, 'v> {
    columns: &'c [InputColumn],
    max_rows: usize,
    rows: &'r mut Vec<RawValue<'v>>,
}

impl<'de> DeserializeSeed<'de> for Body<'_, '_, '_> {
    type Value = usize;
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<usize, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Body<'_, '_, '_> {
    type Value = usize;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(r#"{"data": [[...]]}"#)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<usize, A::Error> {
        if map.next_key_seed(DataKey)?.is_none() {
            return Err(give_up());
        }
        let n_rows = map.next_value_seed(Rows {
            columns: self.columns,
            max_rows: self.max_rows,
            rows: self.rows,
        })?;
        // A second top-level key is an error the general decoder words.
        if map.next_key::<IgnoredAny>()?.is_some() {
            return Err(give_up());
        }
        Ok(n_rows)
    }
}

/// The one top-level key, which must be `data` (escapes are decoded as the general path does).
struct DataKey;

impl<'de> DeserializeSeed<'de> for DataKey {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl Visitor<'_> for DataKey {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the key `data`")
    }
    fn visit_str<E: de::Error>(self, key: &str) -> Result<(), E> {
        if key == "data" {
            Ok(())
        } else {
            Err(give_up())
        }
    }
}

struct Rows<'c, 'r, 'v> {
    columns: &'c [InputColumn],
    max_rows: usize,
    rows: &'r mut Vec<RawValue<'v>>,
}

impl<'de> DeserializeSeed<'de> for Rows<'_, '_, '_> {
    type Value = usize;
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<usize, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Rows<'_, '_, '_> {
    type Value = usize;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array of rows")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<usize, A::Error> {
        let mut n_rows = 0usize;
        while seq
            .next_element_seed(Row {
                columns: self.columns,
                rows: &mut *self.rows,
            })?
            .is_some()
        {
            n_rows += 1;
            if n_rows > self.max_rows {
                return Err(give_up());
            }
        }
        if n_rows == 0 {
            return Err(give_up());
        }
        Ok(n_rows)
    }
}

struct Row<'c, 'r, 'v> {
    columns: &'c [InputColumn],
    rows: &'r mut Vec<RawValue<'v>>,
}

impl<'de> DeserializeSeed<'de> for Row<'_, '_, '_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Row<'_, '_, '_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array of numbers")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        for column in self.columns {
            match seq.next_element_seed(Cell(column.kind))? {
                Some(value) => self.rows.push(value),
                None => return Err(give_up()),
            }
        }
        if seq.next_element::<IgnoredAny>()?.is_some() {
            return Err(give_up());
        }
        Ok(())
    }
}

/// One cell: a number for a non-date column, or `null`; the same conversions as the general
/// decoder (`i64`/`u64` as `f64`, but as exact text in a categorical column beyond 2^53).
struct Cell(ColumnKind);

impl<'de> DeserializeSeed<'de> for Cell {
    type Value = RawValue<'static>;
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl Cell {
    /// An integer: exact text for a categorical column (see [`request::integer_category`]).
    fn integer<E: de::Error>(&self, integer: i128) -> Result<RawValue<'static>, E> {
        match self.0 {
            ColumnKind::Categorical => Ok(crate::request::integer_category(integer)),
            _ => self.number(integer as f64),
        }
    }

    fn number<E: de::Error>(&self, number: f64) -> Result<RawValue<'static>, E> {
        match self.0 {
            ColumnKind::Date => Err(give_up()),
            ColumnKind::Numeric | ColumnKind::Categorical | ColumnKind::Boolean => {
                Ok(RawValue::Number(number))
            }
        }
    }
}

impl Visitor<'_> for Cell {
    type Value = RawValue<'static>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a number or null")
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        self.integer(i128::from(v))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        self.integer(i128::from(v))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
        self.number(v)
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(RawValue::Missing)
    }
    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(RawValue::Missing)
    }
}

#[cfg(test)]
mod tests {
    use finbeh_data::{ColumnKind, InputColumn, RawValue};
    use proptest::prelude::*;

    use crate::request::{self, Json, Scratch};

    fn columns(kinds: &[ColumnKind], names: &[&str]) -> Vec<InputColumn> {
        kinds
            .iter()
            .zip(names)
            .map(|(&kind, &name)| InputColumn {
                name: name.to_owned(),
                kind,
            })
            .collect()
    }

    /// What a body decodes to, with floats as bits so `-0.0` and `0.0` differ.
    #[derive(Debug, PartialEq)]
    enum Bits {
        Missing,
        Number(u64),
        Bool(bool),
        Text(String),
    }

    fn bits(rows: &[RawValue<'_>]) -> Vec<Bits> {
        rows.iter()
            .map(|value| match value {
                RawValue::Missing => Bits::Missing,
                RawValue::Number(x) => Bits::Number(x.to_bits()),
                RawValue::Bool(b) => Bits::Bool(*b),
                RawValue::Text(t) => Bits::Text(t.to_string()),
            })
            .collect()
    }

    /// The server's decoding (fast path first) and the general decoder alone, side by side.
    fn both(body: &str, columns: &[InputColumn], max_rows: usize) -> (String, String) {
        let mut rows = Vec::new();
        let served = request::decode_body(
            body.as_bytes(),
            &request::ModelColumns::new(columns, &[]),
            max_rows,
            &mut rows,
            &mut Scratch::default(),
        )
        .map(|n| (n, bits(&rows)));
        let mut general_rows = Vec::new();
        let general = serde_json::from_slice::<Json<'_>>(body.as_bytes())
            .map_err(request::BodyError::Malformed)
            .and_then(|json| {
                request::decode_for_tests(
                    json,
                    &request::ModelColumns::new(columns, &[]),
                    max_rows,
                    &mut general_rows,
                    &mut Scratch::default(),
                )
                .map_err(request::BodyError::Decode)
            })
            .map(|n| (n, bits(&general_rows)));
        (format!("{served:?}"), format!("{general:?}"))
    }

    fn fast(body: &str, columns: &[InputColumn], max_rows: usize) -> Option<usize> {
        let mut rows = vec![RawValue::Missing]; // the fast path must leave earlier content alone
        let decoded =
            super::decode_positional_numbers(body.as_bytes(), columns, max_rows, &mut rows);
        if decoded.is_none() {
            assert_eq!(rows, vec![RawValue::Missing], "{body}");
        }
        decoded
    }

    /// Categories are compared by text: an integer beyond 2^53 keeps its exact digits (as `f64`
    /// it would round to a neighbour's and be "unseen"), on the fast path and the general one.
    #[test]
    fn large_integer_identifiers_keep_their_exact_text() {
        let cols = columns(
            &[ColumnKind::Categorical, ColumnKind::Numeric],
            &["id", "x"],
        );
        let body = r#"{"data": [[12345678901234567891, 12345678901234567891],
                                [-9007199254740993, 1], [9007199254740992, 2], [7, 3]]}"#;
        let (served, general) = both(body, &cols, 10);
        assert_eq!(served, general);
        let expected = Ok::<_, ()>((
            4,
            vec![
                Bits::Text("12345678901234567891".into()),
                Bits::Number((12345678901234567891_u64 as f64).to_bits()),
                Bits::Text("-9007199254740993".into()),
                Bits::Number(1.0_f64.to_bits()),
                Bits::Number(9007199254740992.0_f64.to_bits()),
                Bits::Number(2.0_f64.to_bits()),
                Bits::Number(7.0_f64.to_bits()),
                Bits::Number(3.0_f64.to_bits()),
            ],
        ));
        assert_eq!(served, format!("{expected:?}"));
        let named = r#"{"dataframe_records": [{"id": 12345678901234567891, "x": 1}]}"#;
        let (served, _) = both(named, &cols, 10);
        assert!(
            served.contains(r#"Text("12345678901234567891")"#),
            "{served}"
        );
    }

    #[test]
    fn the_fast_path_takes_only_the_positional_numeric_form() {
        let numeric = columns(&[ColumnKind::Numeric; 2], &["a", "b"]);
        let with_date = columns(&[ColumnKind::Numeric, ColumnKind::Date], &["a", "b"]);
        let named_data = columns(&[ColumnKind::Numeric; 2], &["data", "b"]);
        assert_eq!(
            fast(r#"{"data": [[1, 2.5], [null, -3e2]]}"#, &numeric, 10),
            Some(2)
        );
        assert_eq!(fast(r#" {"d\u0061ta":[[1,2]]} "#, &numeric, 10), Some(1));
        for body in [
            r#"{"data": [[1, "2"]]}"#,       // a string cell
            r#"{"data": [[1, true]]}"#,      // a boolean cell
            r#"{"data": [[1, 2, 3]]}"#,      // too many cells
            r#"{"data": [[1]]}"#,            // too few
            r#"{"data": []}"#,               // no rows
            r#"{"data": [[1, 2]], "x": 1}"#, // a second key
            r#"{"data": [{"a": 1, "b": 2}]}"#,
            r#"{"input_data": {"data": [[1, 2]]}}"#,
            r#"[[1, 2]]"#,
            r#"{"data": [[1, 2]]} x"#,               // trailing garbage
            r#"{"data": [[1, 1e999]]}"#,             // out of range
            r#"{"data": [[1, 2], [3, 4], [5, 6]]}"#, // over max_rows = 2 below
        ] {
            assert_eq!(fast(body, &numeric, 2), None, "{body}");
        }
        assert_eq!(
            fast(r#"{"data": [[1, "2020-01-01"]]}"#, &with_date, 10),
            None
        );
        assert_eq!(fast(r#"{"data": [[1, 2]]}"#, &with_date, 10), None);
        assert_eq!(fast(r#"{"data": [[1, null]]}"#, &with_date, 10), Some(1));
        assert_eq!(fast(r#"{"data": [[1, 2]]}"#, &named_data, 10), None);
    }

    #[test]
    fn edge_numbers_decode_identically() {
        let numeric = columns(&[ColumnKind::Numeric; 3], &["a", "b", "c"]);
        for body in [
            r#"{"data": [[18446744073709551615, -9223372036854775808, -0]]}"#,
            r#"{"data": [[-0.0, 1e-320, 2.2250738585072014e-308]]}"#,
            r#"{"data": [[0.1, 0.30000000000000004, 9007199254740993]]}"#,
            r#"{"data": [[1.7976931348623157e308, 5e-324, 123456789012345678901234567890]]}"#,
        ] {
            let (served, general) = both(body, &numeric, 10);
            assert_eq!(served, general, "{body}");
            assert!(served.starts_with("Ok"), "{served}");
        }
    }

    fn cell() -> impl Strategy<Value = String> {
        prop_oneof![
            30 => any::<f64>().prop_filter("finite", |x| x.is_finite()).prop_map(|x| format!("{x:?}")),
            15 => any::<f64>().prop_filter("finite", |x| x.is_finite()).prop_map(|x| format!("{x:e}")),
            15 => any::<i64>().prop_map(|x| x.to_string()),
            5 => any::<u64>().prop_map(|x| x.to_string()),
            5 => Just("null".to_owned()),
            1 => Just("true".to_owned()),
            1 => Just("\"7\"".to_owned()),
            1 => Just("\"2020-01-02\"".to_owned()),
            1 => Just("[1]".to_owned()),
            1 => Just("1e999".to_owned()),
            1 => Just("01".to_owned()),
            1 => Just("-".to_owned()),
        ]
    }

    fn body() -> impl Strategy<Value = String> {
        // Mostly well-formed rows of 3 cells, so the fast path is taken often.
        let width = prop_oneof![8 => Just(3usize), 1 => Just(2usize), 1 => Just(4usize)];
        let row = width
            .prop_flat_map(|n| prop::collection::vec(cell(), n))
            .prop_map(|cells| cells.join(","));
        let rows = prop::collection::vec(row, 0..=4);
        (
            rows,
            prop_oneof![6 => Just("data"), 1 => Just("d\\u0061ta"), 1 => Just("dataframe_records")],
            prop_oneof![4 => Just(""), 1 => Just(", \"x\": 1"), 1 => Just(" "), 1 => Just("\n")],
            any::<prop::sample::Index>(),
            prop::bool::weighted(0.2),
        )
            .prop_map(|(rows, key, extra, cut, truncate)| {
                let rows: Vec<String> = rows.iter().map(|r| format!("[{r}]")).collect();
                let text = format!("{{\"{key}\": [{}]{extra}}}", rows.join(", "));
                if truncate {
                    let at = cut.index(text.len() + 1);
                    text.get(..at).unwrap_or(&text).to_owned()
                } else {
                    text
                }
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]
        #[test]
        fn fast_and_general_decoding_agree_on_results_and_errors(
            body in body(),
            kinds in prop::collection::vec(
                prop_oneof![
                    12 => Just(ColumnKind::Numeric),
                    1 => Just(ColumnKind::Categorical),
                    1 => Just(ColumnKind::Boolean),
                    1 => Just(ColumnKind::Date),
                ],
                3,
            ),
            first_is_data in prop::bool::weighted(0.1),
            max_rows in 1usize..=4,
        ) {
            let names = [if first_is_data { "data" } else { "a" }, "b", "c"];
            let columns = columns(&kinds, &names);
            let (served, general) = both(&body, &columns, max_rows);
            prop_assert_eq!(served, general, "body: {}", body);
        }
    }
}
