//! finbeh-serve: an HTTP scoring server that can stand where Azure ML's inference server stood.
//!
//! It serves one model behind a small [`Scorer`] abstraction — [`ArtifactScorer`] over a
//! finbeh-train [`ModelArtifact`](finbeh_train::ModelArtifact), loaded and verified by
//! [`artifact_loader`] — with Azure ML's and MLflow's request forms on `POST /score`, health
//! probes, an OpenAPI document, Prometheus metrics, bearer keys, hot reload on SIGHUP and graceful
//! shutdown. [`run`] serves it thread per core; settings come from finbeh-config's `[serve]`
//! section (`ServerParams::from(settings.serve())`).
//! Each scored request can be handed to a [`PredictionSink`] (finbeh-monitor's prediction log)
//! with [`AppState::set_prediction_sink`], and ground-truth labels sent to `POST /labels` to a
//! [`LabelSink`] with [`AppState::set_label_sink`].
//! A body with `"explain": true` (or `{"top": k}`) next to its rows also gets exact TreeSHAP
//! `"explanations"` per row ([`Scorer::explain`] into an [`ExplainBuffer`]; a scorer that cannot
//! explain answers 400 with its [`ExplainRefusal`]).
//! Every client mistake is a JSON 4xx naming the row and field; nothing a client sends panics
//! the process.
//!
//! A stand-in scorer shows the contract without training a model:
//!
//! ```
//! use std::sync::Arc;
//! use axum::body::Body;
//! use axum::http::Request;
//! use finbeh_data::{ColumnKind, InputColumn, RawValue};
//! use finbeh_serve::{AppState, LoadFn, ModelInfo, RowError, ScoreBuffer, Scorer, ServerParams, app};
//! use tower::ServiceExt;
//!
//! /// Says "yes" with probability 0.7 to everybody.
//! struct Constant(ModelInfo);
//! impl Scorer for Constant {
//!     fn info(&self) -> &ModelInfo { &self.0 }
//!     fn score(&self, _rows: &[RawValue<'_>], n_rows: usize, out: &mut ScoreBuffer)
//!         -> Result<(), RowError> {
//!         for _ in 0..n_rows { out.push(1, &[0.3, 0.7]); }
//!         Ok(())
//!     }
//! }
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let loader: LoadFn = Arc::new(|_path| {
//!     let info = ModelInfo {
//!         name: "constant".into(),
//!         version: "1".into(),
//!         input_columns: vec![InputColumn { name: "Age".into(), kind: ColumnKind::Numeric }],
//!         classes: vec!["0".into(), "1".into()],
//!         target: Some("Churn".into()),
//!         ignored_columns: vec!["Customer_ID".into()],
//!     };
//!     Ok(Arc::new(Constant(info)) as Arc<dyn Scorer>)
//! });
//! let state = AppState::new(ServerParams::default().check()?, loader);
//! let dir = tempfile::tempdir()?;
//! std::fs::write(dir.path().join("model.finbeh"), b"")?;
//! state.load(None, Some(dir.path()))?; // as with AZUREML_MODEL_DIR
//!
//! let request = Request::post("/score")
//!     .header("content-type", "application/json")
//!     .body(Body::from(r#"{"data": [[42]]}"#))?;
//! let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
//! let response = runtime.block_on(app(state).oneshot(request))?;
//! assert_eq!(response.status(), 200);
//! let body = runtime.block_on(axum::body::to_bytes(response.into_body(), 1 << 20))?;
//! assert_eq!(
//!     &body[..],
//!     br#"{"predictions":[1],"probabilities":[0.7],"model":{"name":"constant","version":"1"}}"#
//! );
//! # Ok(())
//! # }
//! ```

#![deny(missing_docs)]

mod artifact_scorer;
mod config;
mod connection;
mod error;
mod fast_head;
mod fast_path;
mod front;
mod http;
mod metrics;
mod model;
mod openapi;
mod plain_numbers;
mod request;
mod response;
mod server;
mod sink;
mod state;
mod wire;

mod labels;
mod labels_http;

mod explain;
mod explain_batch;
mod explanation;
pub use explain_batch::ExplainBatcher;
pub use explanation::{ExplainBuffer, ExplainRefusal};

pub use artifact_scorer::{ArtifactScorer, artifact_loader};
pub use config::{DEFAULT_MAX_BODY_BYTES, ServerConfig, ServerParams};
pub use error::{RowError, ServeError, TriedPath};
pub use http::{MAX_REQUEST_ID_LEN, app};
pub use model::{
    AZUREML_MODEL_DIR_ENV, LoadFn, MODEL_SEARCH_DEPTH, ModelInfo, ScoreBuffer, Scorer,
    model_path_or_output_dir, resolve_model_paths,
};
pub use server::{run, run_on, serve};
pub use sink::{InputsJson, PredictionRecord, PredictionSink};
pub use state::AppState;

pub use labels::{
    LabelProblem, LabelRecord, LabelSink, LabelsCsv, MAX_LABEL_BYTES, MAX_LABEL_LINE_BYTES,
    check_label, labels_from_json,
};
