//! The OpenAPI 3 document served at `/swagger.json`, rendered once per loaded model.

use finbeh_data::{ColumnKind, InputColumn};
use serde_json::{Map, Value, json};

use crate::model::ModelInfo;

fn cell_schema(column: &InputColumn) -> Value {
    let (schema, description) = match column.kind {
        ColumnKind::Numeric => (
            json!({"type": "number"}),
            "numeric; a finite number (a numeric string is accepted, NaN/inf are not); null = missing",
        ),
        ColumnKind::Categorical => (
            json!({"oneOf": [{"type": "string"}, {"type": "number"}]}),
            "categorical label, matched by its text (a JSON integer by its exact digits, even beyond 2^53); null = missing",
        ),
        ColumnKind::Boolean => (
            json!({"oneOf": [{"type": "boolean"}, {"type": "string"}, {"type": "number"}]}),
            "boolean: true/false, yes/no, 1/0; null = missing",
        ),
        ColumnKind::Date => (
            json!({"type": "string", "format": "date"}),
            "calendar date; null = missing",
        ),
    };
    let mut schema = schema;
    if let Value::Object(map) = &mut schema {
        map.insert("nullable".into(), Value::Bool(true));
        map.insert("description".into(), Value::String(description.into()));
    }
    schema
}

/// The OpenAPI 3.0 document describing `/score` for this model's input columns.
pub(crate) fn document(info: &ModelInfo, auth_required: bool) -> Vec<u8> {
    let mut properties = Map::new();
    for column in &info.input_columns {
        properties.insert(column.name.clone(), cell_schema(column));
    }
    let names: Vec<&str> = info.input_columns.iter().map(|c| c.name.as_str()).collect();
    let positional: Vec<Value> = info.input_columns.iter().map(cell_schema).collect();
    let n_cols = positional.len();
    let binary = info.classes.len() == 2;
    let probabilities = if binary {
        let positive = info.classes.get(1).map_or("", String::as_str);
        let meaning = finbeh_train::positive_probability_meaning(info.target.as_deref(), positive);
        json!({"type": "array", "items": {"type": "number"},
               "description": format!("Per row, the {meaning} (the positive class).")})
    } else {
        json!({"type": "array", "items": {"type": "array", "items": {"type": "number"}},
               "description": format!("per row, the probability of each class in order {:?}", info.classes)})
    };
    let contribution_number = if binary {
        json!({"type": "number"})
    } else {
        json!({"type": "array", "items": {"type": "number"}, "description": format!("one per class, in order {:?}", info.classes)})
    };
    let explanations = json!({
        "type": "array",
        "description": "Only with `explain`: one per row, in row order. `base + Σ contribution` equals the row's \
            `probabilities` entry (within 1e-9); contributions are sorted by decreasing |contribution| \
            (summed over classes for a multi-class model).",
        "items": {"type": "object", "required": ["base", "contributions"], "properties": {
            "base": {"description": "Expected probability over the training cover.", "allOf": [contribution_number.clone()]},
            "contributions": {"type": "array", "items": {"type": "object",
                "required": ["column", "value", "contribution"],
                "properties": {
                    "column": {"type": "string", "enum": names},
                    "value": {"description": "The value sent for the column (numbers as numbers, labels and dates as strings, null when missing)."},
                    "contribution": contribution_number
                }}}
        }}
    });
    let error_response = |description: &str| {
        json!({"description": description,
               "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}})
    };
    let mut responses = json!({
        "200": {
            "description": "One prediction and probability per row, in request order.",
            "headers": {
                "x-request-id": {"schema": {"type": "string"}, "description": "Echoed or generated request id."},
                "x-ms-run-fn-exec-ms": {"schema": {"type": "string"}, "description": "Scoring time in milliseconds."}
            },
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ScoreResponse"}}}
        },
        "400": error_response("Malformed JSON, unknown shape, missing/unknown columns, wrong types, non-finite numbers, empty data or too many rows (`details` lists each problem); a bad `explain` value (`invalid_explain`), or `explain` on a model that stores no node cover (`explanations_unavailable`)."),
        "405": error_response("Method not allowed."),
        "408": error_response("The request body did not arrive in time."),
        "413": error_response("The body is larger than the configured limit."),
        "415": error_response("Content-Type is not application/json, or the body is compressed (only `identity` Content-Encoding is read)."),
        "429": error_response("Too many scoring requests in flight."),
        "431": error_response("x-request-id is longer than 100 characters."),
        "503": error_response("No verified model is loaded yet.")
    });
    if auth_required && let Value::Object(map) = &mut responses {
        map.insert("401".into(), error_response("Missing or wrong bearer key."));
    }
    let mut operation = json!({
        "summary": format!("Score records with model {} {}", info.name, info.version),
        "operationId": "score",
        "requestBody": {
            "required": true,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ScoreRequest"}}}
        },
        "responses": responses
    });
    if auth_required && let Value::Object(map) = &mut operation {
        map.insert("security".into(), json!([{"bearerAuth": []}]));
    }
    let mut labels_operation = json!({
        "summary": "Ground-truth labels for scored rows, joined to the prediction log",
        "description": format!("Each label names the `x-request-id` a `/score` answer carried and the row (from 0) \
            within that request. A label must be one of the model's classes {:?}, as exact text (an integer class may \
            be sent as a JSON number). Sending a label again for the same request id and row replaces it. Accepted \
            labels are written with the prediction log's next batch. At most `serve.max_rows_per_request` labels per \
            request; the body limit is `/score`'s.", info.classes),
        "operationId": "labels",
        "requestBody": {
            "required": true,
            "content": {
                "application/json": {"schema": {"$ref": "#/components/schemas/LabelsRequest"}},
                "text/csv": {"schema": {"type": "string",
                    "description": "A header naming request_id, row and label (any order), then one label per line."}}
            }
        },
        "responses": {
            "202": {"description": "Labels accepted; the body gives their count.",
                    "content": {"application/json": {"schema": {"type": "object",
                        "properties": {"received": {"type": "integer"}}}}}},
            "400": error_response("Malformed body, a missing or wrong field, a label that is not one of the model's classes, no labels or too many; `details` gives each entry (JSON, from 0) or line (CSV, from 1) as `row`, and the field."),
            "404": error_response("This server keeps no prediction log (monitor.enabled is false)."),
            "413": error_response("The body is larger than the configured limit."),
            "415": error_response("Content-Type is neither application/json nor text/csv, or the body is compressed."),
            "503": error_response("No model loaded yet, or the prediction log cannot take labels now (retry).")
        }
    });
    if auth_required && let Value::Object(map) = &mut labels_operation {
        map.insert("security".into(), json!([{"bearerAuth": []}]));
        if let Some(Value::Object(responses)) = map.get_mut("responses") {
            responses.insert("401".into(), error_response("Missing or wrong bearer key."));
        }
    }
    let split = json!({
        "type": "object",
        "required": ["data"],
        "properties": {
            "columns": {"type": "array", "items": {"type": "string", "enum": names},
                        "description": "Column names of `data`, in any order; every input column exactly once. Without it, rows are positional."},
            "index": {"type": "array", "description": "Ignored row labels; as many as rows."},
            "data": {"type": "array", "items": {"type": "array"}}
        },
        "additionalProperties": false
    });
    let mut components = json!({
        "schemas": {
            "Record": {
                "type": "object",
                "description": "One record keyed by input column; keys in any order; unknown keys are an error.",
                "properties": properties,
                "required": names,
                "additionalProperties": false
            },
            "PositionalRow": {
                "type": "array",
                "description": format!("Values in the model's input column order: {}", names.join(", ")),
                "items": positional,
                "minItems": n_cols,
                "maxItems": n_cols
            },
            "ScoreRequest": {
                "oneOf": [
                    {"type": "object", "required": ["data"], "additionalProperties": false,
                     "properties": {"data": {"type": "array", "items": {"oneOf": [
                        {"$ref": "#/components/schemas/PositionalRow"},
                        {"$ref": "#/components/schemas/Record"}]}},
                        "explain": {"$ref": "#/components/schemas/Explain"}}},
                    {"allOf": [{"$ref": "#/components/schemas/Record"}], "properties": {"explain": {"$ref": "#/components/schemas/Explain"}}},
                    {"type": "array", "items": {"$ref": "#/components/schemas/Record"}},
                    {"type": "object", "required": ["input_data"], "additionalProperties": false,
                     "properties": {"input_data": split.clone(), "explain": {"$ref": "#/components/schemas/Explain"}}},
                    {"type": "object", "required": ["dataframe_split"], "additionalProperties": false,
                     "properties": {"dataframe_split": split, "explain": {"$ref": "#/components/schemas/Explain"}}},
                    {"type": "object", "required": ["dataframe_records"], "additionalProperties": false,
                     "properties": {"dataframe_records": {"type": "array", "items": {"$ref": "#/components/schemas/Record"}},
                                    "explain": {"$ref": "#/components/schemas/Explain"}}}
                ]
            },
            "Explain": {
                "description": "Ask for explanations next to the rows (in any object form): `true` for every input column, \
                    `{\"top\": k}` for the k largest per row, `false` or absent for none. Exact TreeSHAP of the served probability \
                    from the model's own trees and training cover, per raw input column (one-hot levels, date parts and missing \
                    indicators summed back to their column; a date difference split evenly between its two dates). A model \
                    without node cover (artifact format before 1.3.0) answers 400 `explanations_unavailable`; any other value \
                    is 400 `invalid_explain`.",
                "oneOf": [
                    {"type": "boolean"},
                    {"type": "object", "required": ["top"], "additionalProperties": false,
                     "properties": {"top": {"type": "integer", "minimum": 1}}}
                ]
            },
            "LabelsRequest": {
                "type": "object",
                "required": ["labels"],
                "additionalProperties": false,
                "properties": {"labels": {"type": "array", "items": {
                    "type": "object",
                    "required": ["request_id", "row", "label"],
                    "additionalProperties": false,
                    "properties": {
                        "request_id": {"type": "string", "maxLength": 100},
                        "row": {"type": "integer", "minimum": 0},
                        "label": {"oneOf": [{"type": "string", "enum": info.classes}, {"type": "integer"}]}
                    }
                }}}
            },
            "ScoreResponse": {
                "type": "object",
                "required": ["predictions", "probabilities", "model"],
                "properties": {
                    "predictions": {"type": "array", "items": {"oneOf": [{"type": "integer"}, {"type": "string"}]},
                                    "description": format!("Predicted class label per row, exactly as written in the training file: \
                                        a label that is an integer written plainly (-1, 0, 42) is a JSON number, \
                                        any other (\"007\", \"1.50\", \"1e3\", \"abc\") a JSON string; classes: {:?}", info.classes)},
                    "probabilities": probabilities,
                    "explanations": explanations,
                    "model": {"type": "object", "properties": {"name": {"type": "string"}, "version": {"type": "string"}}}
                }
            },
            "Error": {
                "type": "object",
                "required": ["error"],
                "properties": {"error": {
                    "type": "object",
                    "required": ["code", "message", "details"],
                    "properties": {
                        "code": {"type": "string"},
                        "message": {"type": "string"},
                        "details": {"type": "array", "items": {
                            "type": "object",
                            "properties": {
                                "row": {"type": "integer", "nullable": true},
                                "field": {"type": "string", "nullable": true},
                                "problem": {"type": "string"}
                            }
                        }}
                    }
                }}
            }
        }
    });
    if auth_required && let Value::Object(map) = &mut components {
        map.insert(
            "securitySchemes".into(),
            json!({"bearerAuth": {"type": "http", "scheme": "bearer"}}),
        );
    }
    let document = json!({
        "openapi": "3.0.3",
        "info": {
            "title": format!("finbeh scoring: {}", info.name),
            "version": info.version,
            "description": "Scores raw records through the model's feature pipeline and forest."
        },
        "paths": {
            "/score": {"post": operation},
            "/labels": {"post": labels_operation},
            "/": {"get": {"summary": "Liveness (answers `Healthy`)", "responses": {"200": {"description": "Healthy"}}}},
            "/health/live": {"get": {"summary": "Liveness", "responses": {"200": {"description": "Alive"}}}},
            "/health/ready": {"get": {"summary": "Readiness", "responses": {
                "200": {"description": "A verified model is serving (the body reports a failed reload, if any)."},
                "503": {"description": "No verified model yet; the body says why."}}}},
            "/metrics": {"get": {"summary": "Prometheus metrics", "responses": {"200": {"description": "Text exposition format"}}}}
        },
        "components": components
    });
    serde_json::to_vec_pretty(&document).unwrap_or_default()
}
