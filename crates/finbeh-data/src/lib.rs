//! finbeh-data: from a financial-behaviour CSV to a validated numeric matrix (in progress).
//!
//! ```
//! use finbeh_data::{ColumnKind, InputColumn};
//! let col = InputColumn { name: "Age".into(), kind: ColumnKind::Numeric };
//! assert_eq!(col.kind, ColumnKind::Numeric);
//! ```

mod raw;

pub use raw::{ColumnKind, InputColumn, RawValue};
