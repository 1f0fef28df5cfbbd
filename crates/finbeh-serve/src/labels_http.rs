//! `POST /labels`: ground-truth labels for scored rows, as JSON or CSV, handed to the
//! [`LabelSink`](crate::LabelSink).

use std::time::{SystemTime, UNIX_EPOCH};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::error::{RowError, ServeError};
use crate::http::{authorize, read_body};
use crate::labels::{LabelProblem, LabelRecord, LabelsCsv, check_label, labels_from_json};
use crate::request::MAX_DETAILS;
use crate::response::{self, ApiError, json_response, static_error};
use crate::state::AppState;

/// The two bodies `/labels` reads.
#[derive(Clone, Copy)]
enum LabelsFormat {
    Json,
    Csv,
}

fn labels_format(headers: &HeaderMap) -> Option<LabelsFormat> {
    let essence = headers
        .get(header::CONTENT_TYPE)?
        .to_str()
        .ok()?
        .split(';')
        .next()?
        .trim();
    if essence.eq_ignore_ascii_case("application/json") {
        Some(LabelsFormat::Json)
    } else if essence.eq_ignore_ascii_case("text/csv") {
        Some(LabelsFormat::Csv)
    } else {
        None
    }
}

pub(crate) async fn labels(State(state): State<AppState>, request: Request) -> Response {
    let inner = &*state.inner;
    if let Some(refusal) = authorize(
        inner,
        request
            .headers()
            .get(axum::http::header::AUTHORIZATION)
            .map(axum::http::HeaderValue::as_bytes),
    ) {
        return refusal;
    }
    let Some(sink) = inner.label_sink.get().cloned() else {
        return ApiError::new(
            StatusCode::NOT_FOUND,
            "labels_not_enabled",
            "this server keeps no prediction log to join labels with; enable it with \
             monitor.enabled = true",
        )
        .into_response();
    };
    let Some(model) = state.current() else {
        return static_error(StatusCode::SERVICE_UNAVAILABLE, response::NOT_READY);
    };
    let Some(format) = labels_format(request.headers()) else {
        return ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send labels as application/json ({\"labels\": [{\"request_id\", \"row\", \"label\"}]}) \
             or as text/csv (header request_id,row,label)",
        )
        .into_response();
    };
    let body = match read_body(inner, request).await {
        Ok(body) => body,
        Err(refusal) => return refusal,
    };
    let classes = &model.info.classes;
    let decoded = match format {
        LabelsFormat::Json => {
            labels_from_json(&body).and_then(|labels| in_classes(labels, classes))
        }
        LabelsFormat::Csv => labels_from_csv(&body, classes),
    };
    let labels = match decoded {
        Ok(labels) => labels,
        Err(problems) => return invalid_labels(&problems, format),
    };
    if labels.is_empty() {
        return ApiError::new(
            StatusCode::BAD_REQUEST,
            "empty_labels",
            "the body holds no labels",
        )
        .into_response();
    }
    let limit = inner.config.max_rows_per_request();
    if labels.len() > limit {
        return ApiError::new(
            StatusCode::BAD_REQUEST,
            "too_many_labels",
            format!(
                "the body holds {} labels; at most {limit} are taken per request \
                 (serve.max_rows_per_request)",
                labels.len()
            ),
        )
        .into_response();
    }
    let received = labels.len();
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
    match sink.record_labels(labels, now_ms) {
        Ok(()) => json_response(
            StatusCode::ACCEPTED,
            Body::from(format!(r#"{{"received":{received}}}"#)),
        ),
        Err(error) => {
            tracing::warn!(%error, "labels refused by the label store");
            let message = match &error {
                ServeError::LabelsUnavailable(reason) => reason.clone(),
                other => other.to_string(),
            };
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "labels_unavailable",
                message,
            )
            .into_response()
        }
    }
}

/// The JSON entries whose label is one of `classes`, or every entry that is not (by index).
fn in_classes(
    labels: Vec<LabelRecord>,
    classes: &[String],
) -> Result<Vec<LabelRecord>, Vec<LabelProblem>> {
    let problems: Vec<LabelProblem> = (0u64..)
        .zip(&labels)
        .filter_map(|(at, label)| {
            let (field, problem) = check_label(label, Some(classes)).err()?;
            Some(LabelProblem { at, field, problem })
        })
        .collect();
    if problems.is_empty() {
        Ok(labels)
    } else {
        Err(problems)
    }
}

/// The CSV body's labels, each checked against `classes` on its own line.
fn labels_from_csv(body: &[u8], classes: &[String]) -> Result<Vec<LabelRecord>, Vec<LabelProblem>> {
    let body = body.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(body);
    let reader = LabelsCsv::new(body)
        .map_err(|problem| vec![problem])?
        .with_classes(classes.to_vec());
    let mut labels = Vec::new();
    let mut problems = Vec::new();
    for label in reader {
        match label {
            Ok(label) => labels.push(label),
            Err(problem) => problems.push(problem),
        }
    }
    if problems.is_empty() {
        Ok(labels)
    } else {
        Err(problems)
    }
}

/// 400 listing the first problems: the entry (JSON) or line (CSV) as `row`, and the field.
fn invalid_labels(problems: &[LabelProblem], format: LabelsFormat) -> Response {
    let place = match format {
        LabelsFormat::Json => "entry of `labels` (from 0)",
        LabelsFormat::Csv => "line of the CSV (from 1, the header)",
    };
    let message = format!(
        "{} problem(s) in the labels; `row` in details is the {place}",
        problems.len()
    );
    let details = problems
        .iter()
        .take(MAX_DETAILS)
        .map(|p| {
            RowError::cell(
                usize::try_from(p.at).unwrap_or(usize::MAX),
                p.field,
                &p.problem,
            )
        })
        .collect();
    ApiError::new(StatusCode::BAD_REQUEST, "invalid_labels", message)
        .with_details(details)
        .into_response()
}
