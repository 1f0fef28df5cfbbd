//! Every count or length an artifact file carries is bounded before it sizes an allocation:
//! one test per field, each on the committed fixture with the field set huge and the checksum
//! recomputed, so the inner checks (not the SHA-256) must refuse it with an error naming it.

mod mutate;

use finbeh_train::{ModelArtifact, TrainError};
use mutate::{CALB, PIPE, SMPL, TREE, edit_json, edit_tree_bytes, seal, split};

const FIXTURE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/model-v1.1.0.finbeh"
);

/// Counts that crashed or exhausted the loader before it bounded them: 2^28 (a 2 GB
/// allocation), 2^40 (an abort) and 2^61 (a capacity overflow), plus the widest values.
const HUGE: [u64; 5] = [1 << 28, 1 << 40, 1 << 61, i64::MAX as u64, u64::MAX];

fn fixture() -> Vec<u8> {
    std::fs::read(FIXTURE).expect("the committed fixture is readable")
}

/// Loads `bytes` and returns the error text, which must contain every one of `words`.
fn refused(bytes: &[u8], words: &[&str]) -> TrainError {
    let err = match ModelArtifact::from_bytes(bytes) {
        Ok(_) => panic!("a file with {words:?} out of bounds loaded"),
        Err(err) => err,
    };
    let text = err.to_string();
    for word in words {
        assert!(text.contains(word), "{word:?} not in: {text}");
    }
    err
}

fn set_forest_field(field: &str, value: u64) -> Vec<u8> {
    edit_json(&fixture(), Some(TREE), |forest| {
        forest[field] = value.into()
    })
}

/// The crafted file of the report: one tree of a single split node (no leaf, so no leaf value
/// is read) and a huge class count. Unbounded, it sized `nodes * n_classes` floats.
fn split_only_forest(n_classes: u64) -> Vec<u8> {
    let bytes = edit_tree_bytes(&fixture(), |raw| {
        raw.clear();
        raw.extend_from_slice(&1u32.to_le_bytes());
        raw.extend_from_slice(&0u16.to_le_bytes());
        raw.extend_from_slice(&0.5f32.to_le_bytes());
    });
    edit_json(&bytes, Some(TREE), |forest| {
        forest["n_trees"] = 1.into();
        forest["n_classes"] = n_classes.into();
    })
}

#[test]
fn forest_n_classes_is_checked_against_the_header_before_any_allocation() {
    for huge in HUGE {
        for bytes in [split_only_forest(huge), set_forest_field("n_classes", huge)] {
            let err = refused(&bytes, &["n_classes", "header"]);
            assert!(matches!(err, TrainError::MalformedArtifact { .. }), "{err}");
        }
    }
}

#[test]
fn a_tree_without_leaves_is_refused_by_the_tree_decoder() {
    refused(&split_only_forest(2), &["tree 0", "subtrees missing"]);
}

#[test]
fn forest_n_classes_matching_a_forged_header_is_bounded() {
    // Header and forest agree on the class count: too many for a u16 class index, or more
    // values per leaf than the tree bytes hold.
    for (n, words) in [
        (1u64 << 20, ["n_classes 1048576", "exceeds"]),
        (60_000, ["n_trees", "tree bytes"]),
    ] {
        let classes: Vec<String> = (0..n).map(|i| format!("c{i}")).collect();
        let bytes = edit_json(&fixture(), None, |h| {
            h["classes"] = classes.clone().into();
            h["threshold"] = serde_json::Value::Null;
        });
        let bytes = edit_json(&bytes, Some(TREE), |f| f["n_classes"] = n.into());
        refused(&bytes, &words);
    }
}

#[test]
fn forest_n_features_is_bounded() {
    for huge in HUGE {
        refused(&set_forest_field("n_features", huge), &["n_features"]);
    }
}

#[test]
fn forest_n_trees_is_bounded_by_the_tree_bytes() {
    for huge in HUGE {
        refused(&set_forest_field("n_trees", huge), &["n_trees"]);
    }
}

#[test]
fn a_tree_node_count_is_bounded_by_the_remaining_bytes() {
    for huge in [u32::MAX, 1 << 28, 1 << 20] {
        let bytes = edit_tree_bytes(&fixture(), |raw| {
            raw[..4].copy_from_slice(&huge.to_le_bytes());
        });
        refused(&bytes, &["node count", "remaining bytes"]);
    }
}

#[test]
fn the_header_length_is_bounded_by_the_file() {
    for huge in [u32::MAX, 1 << 28] {
        let mut body = fixture();
        body.truncate(body.len() - mutate::CHECKSUM_LEN);
        body[8..12].copy_from_slice(&huge.to_le_bytes());
        refused(&seal(body), &["header needs", "bytes"]);
    }
}

#[test]
fn a_section_length_is_bounded_by_the_file() {
    let bytes = fixture();
    let header_len = split(&bytes).header.len();
    for huge in HUGE {
        let mut body = bytes[..bytes.len() - mutate::CHECKSUM_LEN].to_vec();
        let at = 12 + header_len + 4;
        body[at..at + 8].copy_from_slice(&huge.to_le_bytes());
        refused(&seal(body), &["section"]);
    }
}

fn first_step(pipeline: &mut serde_json::Value, step: &str) -> usize {
    pipeline["steps"]
        .as_array()
        .and_then(|s| s.iter().position(|s| s["step"] == step))
        .unwrap_or_else(|| panic!("the fixture has a {step} step"))
}

#[test]
fn pipeline_date_days_are_bounded_to_the_calendar() {
    for (field, value) in [
        ("median_day", i64::from(i32::MAX)),
        ("median_day", i64::from(i32::MIN)),
        ("reference_day", i64::from(i32::MAX)),
        ("reference_day", i64::from(i32::MIN)),
    ] {
        let bytes = edit_json(&fixture(), Some(PIPE), |p| {
            if field == "reference_day" {
                p[field] = value.into();
            } else {
                let i = first_step(p, "date");
                p["steps"][i][field] = value.into();
            }
        });
        refused(&bytes, &[field, "0001-01-01"]);
    }
}

#[test]
fn pipeline_categorical_mode_is_bounded_by_its_categories() {
    for huge in HUGE {
        let bytes = edit_json(&fixture(), Some(PIPE), |p| {
            let i = first_step(p, "categorical");
            p["steps"][i]["mode"] = huge.into();
        });
        refused(&bytes, &["pipeline section"]);
    }
}

#[test]
fn pipeline_date_difference_columns_are_bounded_by_the_inputs() {
    for huge in HUGE {
        let bytes = edit_json(&fixture(), Some(PIPE), |p| {
            p["date_differences"] = serde_json::json!([{
                "name": "gap", "start": huge, "end": 0, "median": 1.0, "indicator": false
            }]);
        });
        refused(&bytes, &["pipeline section"]);
    }
}

#[test]
fn golden_record_lengths_are_checked_against_the_model() {
    let bytes = edit_json(&fixture(), None, |h| {
        let record = h["golden_set"][0]["record"]
            .as_array_mut()
            .expect("a record");
        record.extend(std::iter::repeat_n(serde_json::Value::Null, 10_000));
    });
    refused(&bytes, &["golden record 0", "record"]);
    let bytes = edit_json(&fixture(), None, |h| {
        let expected = h["golden_set"][1]["expected"]
            .as_array_mut()
            .expect("values");
        expected.extend(std::iter::repeat_n(expected[0].clone(), 10_000));
    });
    refused(&bytes, &["golden record 1", "expected probabilities"]);
}

// Format 1.3.0: node cover, reference sample, calibration (on the committed 1.3.0 fixture).

const FIXTURE_V1_3: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/model-v1.3.0.finbeh"
);

fn fixture_v1_3() -> Vec<u8> {
    std::fs::read(FIXTURE_V1_3).expect("the committed 1.3.0 fixture is readable")
}

#[test]
fn node_cover_must_hold_exactly_one_weight_per_node() {
    let bytes = fixture_v1_3();
    ModelArtifact::from_bytes(&bytes).expect("the fixture loads");
    let short = mutate::edit_cover_bytes(&bytes, |raw| {
        raw.truncate(raw.len() - 8);
    });
    refused(&short, &["node_cover", "nodes need"]);
    let long = mutate::edit_cover_bytes(&bytes, |raw| raw.extend_from_slice(&[0; 8]));
    refused(&long, &["node_cover", "nodes need"]);
    for bad in [-1.0f64, f64::NAN, f64::INFINITY] {
        let edited = mutate::edit_cover_bytes(&bytes, |raw| {
            raw[8..16].copy_from_slice(&bad.to_le_bytes());
        });
        refused(&edited, &["node_cover of node 1"]);
    }
}

#[test]
fn reference_sample_lengths_labels_and_columns_are_checked() {
    let bytes = fixture_v1_3();
    let more_labels = edit_json(&bytes, Some(SMPL), |s| {
        s["labels"].as_array_mut().unwrap().push(0.into());
    });
    refused(&more_labels, &["reference sample", "41 labels"]);
    let short_column = edit_json(&bytes, Some(SMPL), |s| {
        s["cells"][2].as_array_mut().unwrap().pop();
    });
    refused(
        &short_column,
        &["reference sample", "has 39 cells for 40 rows"],
    );
    let bad_label = edit_json(&bytes, Some(SMPL), |s| s["labels"][3] = 2.into());
    refused(&bad_label, &["row 3 has class index 2"]);
    let renamed = edit_json(&bytes, Some(SMPL), |s| s["columns"][0] = "other".into());
    refused(&renamed, &["differ from the model's input columns"]);
    let drawn = edit_json(&bytes, Some(SMPL), |s| s["drawn_from"] = 10.into());
    refused(&drawn, &["40 rows", "10 rows drawn from"]);
    let version = edit_json(&bytes, Some(SMPL), |s| s["format_version"] = 2.into());
    refused(&version, &["format_version 2"]);
}

#[test]
fn calibration_points_and_pairs_are_checked() {
    let bytes = fixture_v1_3();
    let decreasing = edit_json(&bytes, Some(CALB), |c| {
        let y = c["map"]["y"].as_array_mut().unwrap();
        y[0] = 1.0.into();
    });
    refused(&decreasing, &["calibration", "y must not decrease"]);
    let outside = edit_json(&bytes, Some(CALB), |c| c["map"]["x"][0] = (-0.5).into());
    refused(&outside, &["calibration", "not in [0, 1]"]);
    let unpaired = edit_json(&bytes, Some(CALB), |c| {
        c["positives"].as_array_mut().unwrap().pop();
    });
    refused(
        &unpaired,
        &["calibration section", "40 probabilities for 39 labels"],
    );
    let more_than_fitted = edit_json(&bytes, Some(CALB), |c| c["fitted_on"] = 3.into());
    refused(
        &more_than_fitted,
        &["40 held-out pairs", "3 rows fitted on"],
    );
    let probability = edit_json(&bytes, Some(CALB), |c| c["probabilities"][5] = 1.5.into());
    refused(&probability, &["probability 5 is 1.5"]);
}
