//! `/metrics` must be valid Prometheus text exposition (what `promtool check metrics` checks).
#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions

mod common;

use std::collections::{BTreeMap, HashSet};

use axum::body::Body;
use axum::http::{Request, StatusCode};
use common::*;
use finbeh_serve::{ServerParams, app};

#[derive(Debug)]
struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

fn valid_metric_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

fn valid_label_name(name: &str) -> bool {
    let mut chars = name.chars();
    !name.starts_with("__")
        && chars
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn is_snake_case(name: &str) -> bool {
    name.chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

/// Parses one sample line strictly; panics with the line on any violation.
fn parse_sample(line: &str) -> Sample {
    let (name, rest) = match line.find(['{', ' ']) {
        Some(i) => line.split_at(i),
        None => panic!("no value: {line}"),
    };
    assert!(valid_metric_name(name), "bad metric name in {line}");
    let mut labels = BTreeMap::new();
    let rest = if let Some(mut inner) = rest.strip_prefix('{') {
        loop {
            if let Some(after) = inner.strip_prefix('}') {
                inner = after;
                break;
            }
            let eq = inner
                .find('=')
                .unwrap_or_else(|| panic!("label without = in {line}"));
            let label = &inner[..eq];
            assert!(
                valid_label_name(label),
                "bad label name `{label}` in {line}"
            );
            let mut chars = inner[eq + 1..].char_indices();
            assert_eq!(
                chars.next().map(|c| c.1),
                Some('"'),
                "unquoted label value in {line}"
            );
            let mut value = String::new();
            let end = loop {
                let (i, c) = chars
                    .next()
                    .unwrap_or_else(|| panic!("unterminated value in {line}"));
                match c {
                    '"' => break i,
                    '\\' => match chars.next().map(|c| c.1) {
                        Some('\\') => value.push('\\'),
                        Some('"') => value.push('"'),
                        Some('n') => value.push('\n'),
                        other => panic!("bad escape {other:?} in {line}"),
                    },
                    '\n' => panic!("raw newline in {line}"),
                    c => value.push(c),
                }
            };
            assert!(
                labels.insert(label.to_owned(), value).is_none(),
                "duplicate label in {line}"
            );
            inner = &inner[eq + 1 + end + 1..];
            if let Some(after) = inner.strip_prefix(',') {
                inner = after;
            }
        }
        inner
    } else {
        rest
    };
    let value = rest
        .strip_prefix(' ')
        .unwrap_or_else(|| panic!("no space before value in {line}"));
    let value: f64 = match value {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        v => v
            .parse()
            .unwrap_or_else(|_| panic!("bad value `{v}` in {line}")),
    };
    Sample {
        name: name.to_owned(),
        labels,
        value,
    }
}

/// Checks the exposition format rules and promtool's lint rules; returns all samples.
fn check_exposition(text: &str) -> Vec<Sample> {
    assert!(text.ends_with('\n'), "must end with a newline");
    let mut helped = HashSet::new();
    let mut types: BTreeMap<String, String> = BTreeMap::new();
    let mut finished_families = HashSet::new();
    let mut current: Option<String> = None;
    let mut series = HashSet::new();
    let mut samples = Vec::new();
    for line in text.lines() {
        assert!(!line.is_empty(), "blank line");
        if let Some(comment) = line.strip_prefix("# ") {
            let mut parts = comment.splitn(3, ' ');
            let keyword = parts.next().unwrap();
            let name = parts.next().unwrap_or_else(|| panic!("bad comment {line}"));
            let rest = parts
                .next()
                .unwrap_or_else(|| panic!("empty {keyword}: {line}"));
            assert!(
                valid_metric_name(name) && is_snake_case(name),
                "bad family {name}"
            );
            assert!(!finished_families.contains(name), "family {name} is split");
            if current.as_deref() != Some(name)
                && let Some(previous) = current.replace(name.to_owned())
            {
                finished_families.insert(previous);
            }
            match keyword {
                "HELP" => {
                    assert!(helped.insert(name.to_owned()), "second HELP for {name}");
                    assert!(!types.contains_key(name), "HELP after TYPE for {name}");
                }
                "TYPE" => {
                    assert!(
                        ["counter", "gauge", "histogram", "summary", "untyped"].contains(&rest),
                        "bad type {rest}"
                    );
                    assert!(
                        types.insert(name.to_owned(), rest.to_owned()).is_none(),
                        "second TYPE {name}"
                    );
                }
                other => panic!("unknown comment keyword {other}"),
            }
            continue;
        }
        let sample = parse_sample(line);
        let family = current
            .clone()
            .unwrap_or_else(|| panic!("sample before TYPE: {line}"));
        let kind = types
            .get(&family)
            .unwrap_or_else(|| panic!("no TYPE for {family}"));
        assert!(helped.contains(&family), "no HELP for {family}");
        match kind.as_str() {
            "counter" => {
                assert!(
                    family.ends_with("_total"),
                    "counter {family} without _total"
                );
                assert_eq!(sample.name, family);
                assert!(sample.value >= 0.0);
            }
            "gauge" => {
                assert_eq!(sample.name, family);
                for suffix in ["_total", "_count", "_sum", "_bucket"] {
                    assert!(
                        !family.ends_with(suffix),
                        "gauge {family} ends with {suffix}"
                    );
                }
            }
            "histogram" => {
                let suffix = sample.name.strip_prefix(family.as_str()).unwrap();
                assert!(["_bucket", "_sum", "_count"].contains(&suffix), "{line}");
                assert_eq!(
                    suffix == "_bucket",
                    sample.labels.contains_key("le"),
                    "{line}"
                );
                assert!(
                    family.ends_with("_seconds") || family.ends_with("_bytes"),
                    "unit of {family}"
                );
            }
            other => panic!("unexpected type {other}"),
        }
        assert!(
            series.insert(format!("{}{:?}", sample.name, sample.labels)),
            "duplicate {line}"
        );
        samples.push(sample);
    }
    check_histograms(&types, &samples);
    samples
}

fn check_histograms(types: &BTreeMap<String, String>, samples: &[Sample]) {
    for (family, _) in types.iter().filter(|(_, t)| t.as_str() == "histogram") {
        let bucket_name = format!("{family}_bucket");
        let mut groups: BTreeMap<String, Vec<(f64, f64)>> = BTreeMap::new();
        for s in samples.iter().filter(|s| s.name == bucket_name) {
            let mut key = s.labels.clone();
            let le = key.remove("le").unwrap();
            let le: f64 = if le == "+Inf" {
                f64::INFINITY
            } else {
                le.parse().unwrap()
            };
            groups
                .entry(format!("{key:?}"))
                .or_default()
                .push((le, s.value));
        }
        for (key, buckets) in &groups {
            assert!(
                buckets.windows(2).all(|w| w[0].0 < w[1].0),
                "le not ascending {key}"
            );
            assert!(
                buckets.windows(2).all(|w| w[0].1 <= w[1].1),
                "not cumulative {key}"
            );
            let (last_le, last) = *buckets.last().unwrap();
            assert_eq!(last_le, f64::INFINITY, "no +Inf bucket for {key}");
            let count = samples
                .iter()
                .find(|s| s.name == format!("{family}_count") && format!("{:?}", s.labels) == *key)
                .unwrap_or_else(|| panic!("no _count for {key}"));
            assert_eq!(count.value, last, "+Inf != _count for {key}");
            assert!(
                samples.iter().any(|s| s.name == format!("{family}_sum") && format!("{:?}", s.labels) == *key),
                "no _sum for {key}"
            );
        }
    }
}

#[tokio::test]
async fn metrics_are_valid_prometheus_text_and_count_traffic() {
    // A name with characters that need escaping in label values.
    let (state, _dir) = loaded(ServerParams::default(), r#"we"ird\name 1.0 0,1"#, None);
    let app = app(state.clone());
    for _ in 0..3 {
        assert_eq!(
            score(
                &app,
                r#"{"data": [[1, 2, "a", true, null], [3, 4, "b", false, null]]}"#
            )
            .await
            .status,
            StatusCode::OK
        );
    }
    assert_eq!(score(&app, "{").await.status, StatusCode::BAD_REQUEST);
    assert_eq!(send(&app, get("/nope")).await.status, StatusCode::NOT_FOUND);
    assert_eq!(send(&app, get("/")).await.status, StatusCode::OK);
    let wrong_method = Request::delete("/score").body(Body::empty()).unwrap();
    assert_eq!(
        send(&app, wrong_method).await.status,
        StatusCode::METHOD_NOT_ALLOWED
    );

    let answer = send(&app, get("/metrics")).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(
        answer.headers["content-type"],
        "text/plain; version=0.0.4; charset=utf-8"
    );
    let text = answer.text();
    let samples = check_exposition(&text);
    let value = |name: &str, labels: &[(&str, &str)]| {
        samples
            .iter()
            .find(|s| {
                s.name == name
                    && s.labels.len() == labels.len()
                    && labels
                        .iter()
                        .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
            })
            .map(|s| s.value)
    };
    let requests = "finbeh_http_requests_total";
    assert_eq!(
        value(requests, &[("route", "/score"), ("status", "200")]),
        Some(3.0),
        "{text}"
    );
    assert_eq!(
        value(requests, &[("route", "/score"), ("status", "400")]),
        Some(1.0)
    );
    assert_eq!(
        value(requests, &[("route", "/score"), ("status", "405")]),
        Some(1.0)
    );
    assert_eq!(
        value(requests, &[("route", "other"), ("status", "404")]),
        Some(1.0)
    );
    assert_eq!(
        value(requests, &[("route", "/"), ("status", "200")]),
        Some(1.0)
    );
    assert_eq!(value("finbeh_rows_scored_total", &[]), Some(6.0));
    assert_eq!(value("finbeh_score_requests_in_flight", &[]), Some(0.0));
    // Connection families are always there (the socket tests drive them).
    for family in [
        "finbeh_open_connections",
        "finbeh_connections_refused_total",
        "finbeh_connections_timed_out_total",
        "finbeh_accept_errors_total",
    ] {
        assert_eq!(value(family, &[]), Some(0.0), "{family}");
    }
    assert_eq!(
        value(
            "finbeh_http_request_duration_seconds_count",
            &[("route", "/score")]
        ),
        Some(5.0)
    );
    assert_eq!(
        value(
            "finbeh_model_info",
            &[("name", r#"we"ird\name"#), ("version", "1.0")]
        ),
        Some(1.0),
        "{text}"
    );

    // A failed reload and more traffic keep the document valid.
    std::fs::write(_dir.path().join("model.finbeh"), "broken: x").unwrap();
    assert!(state.reload().is_err());
    check_exposition(&send(&app, get("/metrics")).await.text());
}

#[test]
fn the_checker_rejects_invalid_expositions() {
    let bad = [
        "# TYPE x counter\nx 1\n",                             // no _total, no HELP
        "# HELP x_total h\n# TYPE x_total counter\nx_total 1", // no final newline
        "# HELP a_total h\n# TYPE a_total counter\na_total{l=\"1} 1\n", // unterminated
        "# HELP g h\n# TYPE g gauge\ng 1\n# HELP h h\n# TYPE h gauge\nh 1\n# HELP g h\n", // split
        "# HELP h_seconds h\n# TYPE h_seconds histogram\nh_seconds_bucket{le=\"1\"} 2\nh_seconds_bucket{le=\"+Inf\"} 1\nh_seconds_sum 1\nh_seconds_count 1\n",
        "# HELP g h\n# TYPE g gauge\ng{a=\"1\"} 1\ng{a=\"1\"} 2\n", // duplicate series
    ];
    for text in bad {
        let text = text.to_owned();
        let result = std::panic::catch_unwind(move || check_exposition(&text));
        assert!(result.is_err(), "accepted invalid exposition");
    }
    check_exposition("# HELP g h\n# TYPE g gauge\ng{a=\"x\\\"y\"} 1\n");
}
