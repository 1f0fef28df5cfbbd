//! finbeh-data: from a financial-behaviour CSV to a validated numeric matrix.
//!
//! * [`load_dataset`] reads a CSV file into a typed columnar [`Table`] (numbers as `f64`,
//!   categoricals dictionary-encoded, dates as day counts; ids, personal data and ignored
//!   columns are never stored), infers a [`Schema`] (kind and role of every column, with the
//!   reason) from the first [`INFERENCE_SAMPLE_ROWS`] rows, builds the class labels (a column or a
//!   [`DeriveRule`]) and a [`ValidationReport`] including a leakage check.
//! * [`fit_pipeline`] fits a [`FittedPipeline`] on training rows only; it turns raw records
//!   ([`RawValue`]s, one per [`InputColumn`]) into `f32` feature rows, one by one
//!   ([`FittedPipeline::transform_row`]) or in batch ([`FittedPipeline::transform_table`]) with
//!   bit-identical results. It is serde-serializable and versioned, so a model artifact carries it.
//! * [`stratified_split`], [`stratified_kfold`] (seeded by the crate's own [`Rng`]),
//!   [`DatasetProfile`] (the drift baseline) and [`generate_banking_csv`] (synthetic data in the
//!   layout of the "Comprehensive Banking Database").
//!
//! Row numbers in errors and reject files are 1-based physical line numbers (header = line 1).
//!
//! **Positive class** of a binary target (class index 1): `data.positive_class` if set; else the
//! natural positive of the label pair (`1` of {0, 1}, `true`, `yes`, `y`, `t`, `positive`, any
//! case); else the minority class (on a tie, the later label in sorted order). A {−1, 1} target
//! takes the minority class: conventions disagree (outlier detectors mark the anomaly −1), and
//! the rare class is the one worth detecting. The validation report warns when the positive class
//! is the majority and when the minority class is under [`IMBALANCE_SHARE`] of the rows.
//! A derived target's positive class is `1` (the rule holds). Multi-class labels are sorted
//! (numerically when all labels are numbers).
//!
//! ```
//! use finbeh_data::{DataParams, RawValue, fit_pipeline, generate_banking_csv, load_dataset, stratified_split};
//!
//! let dir = tempfile::tempdir()?;
//! let path = dir.path().join("bank.csv");
//! generate_banking_csv(std::fs::File::create(&path)?, 2_000, 7)?;
//!
//! let params = DataParams::default().with_target("Anomaly").check()?;
//! let data = load_dataset(&path, &params)?;
//! assert!(!data.report.has_errors(), "{}", data.report);
//!
//! let (train, test) = stratified_split(&data.y, 0.2, 42);
//! let pipeline = fit_pipeline(&data.table, &data.schema, &train, &params)?;
//! let x_test = pipeline.transform_table(&data.table, Some(&test))?;
//! assert_eq!(x_test.ncols(), pipeline.n_features());
//!
//! // One raw record through the pipeline gives exactly the batch row.
//! let record: Vec<RawValue<'_>> = pipeline.raw_record(&data.table, test[0])?;
//! let mut row = vec![0.0f32; pipeline.n_features()];
//! pipeline.transform_row(&record, &mut row)?;
//! assert_eq!(row.as_slice(), x_test.row(0).as_slice().unwrap());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![deny(missing_docs)]

mod balance;
mod dataset;
mod date;
mod error;
mod excerpt;
mod generate;
mod ingest;
mod kept_columns;
mod leakage;
mod numeric_rows;
mod params;
mod pipeline;
mod profile;
mod raw;
mod records;
mod report;
mod rng;
mod schema;
mod separability;
mod split;
mod table;
mod text;
mod value_signature;

pub use balance::IMBALANCE_SHARE;
pub use dataset::{LoadedDataset, load_dataset};
pub use date::{DateFormat, civil_from_days, days_from_civil, parse_date};
pub use error::DataError;
pub use generate::{BANKING_COLUMNS, generate_banking_csv};
pub use ingest::{INFERENCE_SAMPLE_ROWS, load_records};
pub use kept_columns::{KeepColumns, KeptColumns, read_kept_columns};
pub use params::{
    DataParams, DataValidParams, DateDifference, DeriveRule, DeriveRuleKind, DeriveValue,
};
pub use pipeline::{FeatureOrigin, FittedPipeline, PIPELINE_FORMAT_VERSION, fit_pipeline};
pub use profile::{
    ColumnProfile, DatasetProfile, PROFILE_BINS, PROFILE_FORMAT_VERSION, PROFILE_TOP_CATEGORIES,
};
pub use raw::{ColumnKind, InputColumn, RawValue};
pub use report::{
    ClassCount, ColumnReport, FeatureAuc, Issue, LeakageFinding, LeakageKind,
    REPORT_FORMAT_VERSION, Severity, TargetReport, ValidationReport, ValueSignature,
};
pub use rng::{Rng, splitmix64};
pub use schema::{ColumnSchema, Role, Schema, ValueKind};
pub use split::{stratified_kfold, stratified_split};
pub use table::{Column, Table};
