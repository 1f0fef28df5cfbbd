//! Class labels come back exactly as the training file wrote them.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use finbeh_serve::{ServerParams, app};

const BODY: &str =
    r#"{"data": [[1200, 30, "retail", true, "2020-01-02"], [300, 61, "premium", false, null]]}"#;

/// The `predictions` array of an answer, as raw JSON text.
async fn predictions_text(classes: &str) -> String {
    let (state, _dir) = loaded(ServerParams::default(), &format!("m 1 {classes}"), None);
    let answer = score(&app(state), BODY).await;
    let text = answer.text();
    let start = text.find("\"predictions\":[").unwrap() + "\"predictions\":".len();
    let end = start + text[start..].find(']').unwrap() + 1;
    text[start..end].to_owned()
}

#[tokio::test]
async fn labels_keep_their_text_and_integers_stay_numbers() {
    // The fake model predicts class 1 for the first row and class 0 for the second.
    assert!(expected_probability(1200.0, 30.0, true) >= 0.5);
    assert!(expected_probability(300.0, 61.0, false) < 0.5);
    for (classes, predictions) in [
        ("007,1.50", r#"["1.50","007"]"#),
        ("1e3,abc", r#"["abc","1e3"]"#),
        ("-1,1", "[1,-1]"),
        ("0,1", "[1,0]"),
        ("+5,-0", r#"["-0","+5"]"#),
    ] {
        assert_eq!(predictions_text(classes).await, predictions, "{classes}");
    }
}
