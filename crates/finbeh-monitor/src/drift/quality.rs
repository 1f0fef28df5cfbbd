//! Data quality of a current column against its reference: null rate and out-of-range rate.

/// Null rate and out-of-range rate of one current column.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Quality {
    /// Share of current rows that are null.
    pub null_rate: f64,
    /// Share of the current rows that are not null yet fall outside the reference: below its
    /// minimum or above its maximum (numeric), or in no reference category (categorical,
    /// boolean). 0 when every current row is null.
    pub out_of_range_rate: f64,
}

/// Quality of a numeric current column (NaN is null) against the reference range `[min, max]`
/// of the non-null reference values; with no reference values every current value is out of
/// range. `None` when the current column has no rows.
pub fn numeric_quality(reference_non_null: &[f64], current: &[f64]) -> Option<Quality> {
    if current.is_empty() {
        return None;
    }
    let (min, max) = reference_non_null
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
            (lo.min(*v), hi.max(*v))
        });
    let nulls = current.iter().filter(|v| v.is_nan()).count();
    let outside = current
        .iter()
        .filter(|v| !v.is_nan() && !(min..=max).contains(*v))
        .count();
    Some(rates(current.len(), nulls, outside))
}

/// Quality of a categorical or boolean current column from its counts: rows, null rows, and
/// non-null rows whose category the reference never holds. `None` when there are no rows.
pub fn category_quality(
    current_rows: usize,
    nulls: usize,
    outside_reference: usize,
) -> Option<Quality> {
    (current_rows > 0).then(|| rates(current_rows, nulls, outside_reference))
}

fn rates(rows: usize, nulls: usize, outside: usize) -> Quality {
    let non_null = rows - nulls.min(rows);
    Quality {
        null_rate: nulls as f64 / rows as f64,
        out_of_range_rate: if non_null == 0 {
            0.0
        } else {
            outside as f64 / non_null as f64
        },
    }
}
