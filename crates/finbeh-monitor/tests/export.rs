//! `monitor export` over the prediction log: JSONL, CSV, and Azure ML's data-collector layout.
#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions

use std::path::{Path, PathBuf};

use finbeh_monitor::{ExportFormat, ExportRequest, export_log};
use serde_json::Value;

mod common;
use common::{T0, record, write_log};

const HOUR: i64 = 3_600_000;

/// Before `since` (left out), two scored requests (one of two rows), a refused one, and one an
/// hour later.
fn log(path: &Path) {
    write_log(
        path,
        vec![
            record(T0 - 1, 1.0, 200, &[(0, 0.1)]),
            record(T0 + 1_000, 2.0, 200, &[(1, 0.9), (0, 0.2)]),
            record(T0 + 2_000, 3.0, 400, &[]),
            record(T0 + HOUR + 5, 4.0, 200, &[(1, 0.6)]),
        ],
    );
}

fn request(databases: Vec<PathBuf>, format: ExportFormat, out_dir: &Path) -> ExportRequest {
    ExportRequest {
        databases,
        since_ms: T0,
        until_ms: T0 + 10 * HOUR,
        format,
        out_dir: out_dir.to_path_buf(),
        azure_source_prefix: "/subscriptions/S/resourceGroups/G/providers/Microsoft.MachineLearningServices/workspaces/W".into(),
    }
}

fn lines(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn jsonl_has_one_line_per_logged_row_since_the_start() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("replica-a.sqlite");
    log(&db);
    let out = dir.path().join("out");
    let summary = export_log(&request(vec![db], ExportFormat::Jsonl, &out)).unwrap();
    assert_eq!(summary.rows, 4);
    assert_eq!(summary.files, vec![out.join("predictions.jsonl")]);
    let rows = lines(&out.join("predictions.jsonl"));
    assert_eq!(rows.len(), 4);
    assert_eq!(rows[0]["instance"], "replica-a");
    assert_eq!(rows[0]["time"], "2027-01-15T08:00:01.000Z");
    assert_eq!(rows[0]["row_index"], 0);
    assert_eq!(rows[0]["inputs"]["Age"], 0);
    assert_eq!(rows[1]["inputs"]["City"], "c1");
    assert_eq!(rows[1]["probabilities"][1], 0.2);
    assert_eq!(rows[1]["predicted_class"], "no");
    assert_eq!(rows[2]["http_status"], 400);
    assert_eq!(rows[2]["error_code"], "invalid_input");
    assert_eq!(rows[2]["inputs"], Value::Null);
    assert_eq!(rows[3]["model_version"], "3");
    assert_eq!(rows[3]["endpoint"], "churn");
}

#[test]
fn csv_spreads_inputs_into_columns() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("log.sqlite");
    log(&db);
    let out = dir.path().join("out");
    export_log(&request(vec![db], ExportFormat::Csv, &out)).unwrap();
    let mut reader = csv::Reader::from_path(out.join("predictions.csv")).unwrap();
    let header: Vec<String> = reader
        .headers()
        .unwrap()
        .iter()
        .map(str::to_owned)
        .collect();
    assert_eq!(&header[..4], ["instance", "time", "time_ms", "request_id"]);
    assert_eq!(&header[header.len() - 2..], ["input.Age", "input.City"]);
    let records: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(records.len(), 4);
    let column = |name: &str| header.iter().position(|h| h == name).unwrap();
    assert_eq!(&records[1][column("input.Age")], "1");
    assert_eq!(&records[1][column("input.City")], "c1");
    assert_eq!(&records[1][column("probabilities")], "[0.8,0.2]");
    assert_eq!(&records[2][column("input.Age")], "");
    assert_eq!(&records[2][column("http_status")], "400");
    assert_eq!(&records[2][column("row_index")], "");
}

#[test]
fn azureml_writes_the_data_collector_layout_for_each_replica() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (
        dir.path().join("blue-1.sqlite"),
        dir.path().join("blue-2.sqlite"),
    );
    log(&a);
    write_log(&b, vec![record(T0 + 30_000, 5.0, 200, &[(1, 0.7)])]);
    let out = dir.path().join("out");
    let summary = export_log(&request(vec![a, b], ExportFormat::AzureMl, &out)).unwrap();
    let base = out.join("churn/blue");
    let file = |collection: &str, hour: &str, instance: &str| {
        base.join(format!("{collection}/2027/01/15/{hour}/{instance}.jsonl"))
    };
    let mut expected = vec![
        file("model_inputs", "08", "blue-1"),
        file("model_inputs", "08", "blue-2"),
        file("model_inputs", "09", "blue-1"),
        file("model_outputs", "08", "blue-1"),
        file("model_outputs", "08", "blue-2"),
        file("model_outputs", "09", "blue-1"),
    ];
    expected.sort();
    assert_eq!(summary.files, expected);
    // Requests with a model input: two in replica 1 (the refused one has none), one in 2.
    assert_eq!(summary.lines, 6);

    let inputs = lines(&file("model_inputs", "08", "blue-1"));
    let outputs = lines(&file("model_outputs", "08", "blue-1"));
    assert_eq!((inputs.len(), outputs.len()), (1, 1));
    let (input, output) = (&inputs[0], &outputs[0]);
    for field in [
        "specversion",
        "id",
        "source",
        "type",
        "datacontenttype",
        "time",
        "data",
        "correlationid",
        "xrequestid",
        "modelversion",
        "collectdatatype",
        "agent",
        "contentrange",
    ] {
        assert!(
            input.get(field).is_some() && output.get(field).is_some(),
            "{field}"
        );
    }
    assert_eq!(input["specversion"], "1.0");
    assert_eq!(input["type"], "azureml.inference.model_inputs");
    assert_eq!(output["type"], "azureml.inference.model_outputs");
    assert_eq!(input["datacontenttype"], "application/json");
    assert_eq!(input["time"], "2027-01-15T08:00:01.000Z");
    assert_eq!(
        input["source"],
        "/subscriptions/S/resourceGroups/G/providers/Microsoft.MachineLearningServices/workspaces/W/onlineEndpoints/churn/deployments/blue"
    );
    assert_eq!(
        input["data"],
        serde_json::json!([{"Age": 0, "City": "c0"}, {"Age": 1, "City": "c1"}])
    );
    assert_eq!(output["data"][0]["predicted_class"], "yes");
    assert_eq!(
        output["data"][1]["probabilities"],
        serde_json::json!([0.8, 0.2])
    );
    assert_eq!(input["correlationid"], input["xrequestid"]);
    assert_eq!(input["correlationid"], output["correlationid"]);
    assert_eq!(input["modelversion"], "3");
    assert_eq!(input["collectdatatype"], "pandas.core.frame.DataFrame");
    assert_ne!(input["id"], output["id"]);
    assert_eq!(input["id"].as_str().unwrap().len(), 36);
    let data_length = input["data"].to_string().len();
    assert_eq!(
        input["contentrange"],
        format!("bytes 0-{}/{data_length}", data_length - 1)
    );

    // Exporting again replaces the files rather than appending to them.
    export_log(&request(
        vec![dir.path().join("blue-1.sqlite")],
        ExportFormat::AzureMl,
        &out,
    ))
    .unwrap();
    assert_eq!(lines(&file("model_inputs", "08", "blue-1")).len(), 1);
}

#[test]
fn formats_are_named_and_a_missing_database_is_refused() {
    assert_eq!("azureml".parse::<ExportFormat>(), Ok(ExportFormat::AzureMl));
    let message = "parquet".parse::<ExportFormat>().unwrap_err();
    assert!(
        message.contains("\"parquet\"") && message.contains("azureml"),
        "{message}"
    );
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope.sqlite");
    let error = export_log(&request(vec![missing], ExportFormat::Jsonl, dir.path())).unwrap_err();
    assert!(error.to_string().contains("nope.sqlite"), "{error}");
}
