//! The leakage check on generated data: the two AUC levels, the single-value signature, and no
//! finding on ordinary skewed features.
#![allow(clippy::unwrap_used)]

use std::path::PathBuf;

use finbeh_data::{
    DataParams, LeakageFinding, LeakageKind, Rng, Severity, generate_banking_csv, load_dataset,
};

fn write(dir: &tempfile::TempDir, name: &str, text: &str) -> PathBuf {
    let path = dir.path().join(name);
    std::fs::write(&path, text).unwrap();
    path
}

fn poisson(rng: &mut Rng, mean: f64) -> u32 {
    let (limit, mut product, mut k) = ((-mean).exp(), rng.gen_f64(), 0);
    while product > limit {
        product *= rng.gen_f64();
        k += 1;
    }
    k
}

/// 3000 rows, 30 % positive: `near_perfect` (AUC ≈ 0.999), `strong` (AUC ≈ 0.97),
/// `balance_change` (0 for every negative row and 3 % of positives, spread around 0 otherwise,
/// so its AUC is near 0.5) and `noise`.
fn leaky_csv(dir: &tempfile::TempDir) -> PathBuf {
    let mut rng = Rng::seed_from_u64(7);
    let mut text = String::from("noise,strong,near_perfect,balance_change,y\n");
    for _ in 0..3000 {
        let y = u8::from(rng.gen_f64() < 0.3);
        let shift = f64::from(y);
        let change = if y == 0 || rng.gen_f64() < 0.03 {
            0.0
        } else {
            (rng.gen_normal() * 500.0).round()
        };
        text.push_str(&format!(
            "{:.4},{:.4},{:.4},{change},{y}\n",
            rng.gen_normal(),
            2.66 * shift + rng.gen_normal(),
            4.5 * shift + rng.gen_normal(),
        ));
    }
    write(dir, "leaky.csv", &text)
}

fn finding<'a>(findings: &'a [LeakageFinding], column: &str) -> &'a LeakageFinding {
    findings
        .iter()
        .find(|l| l.column == column)
        .unwrap_or_else(|| panic!("no finding for {column}: {findings:#?}"))
}

#[test]
fn auc_levels_give_a_warning_and_an_error_and_the_signature_fires_below_both() {
    let dir = tempfile::tempdir().unwrap();
    let path = leaky_csv(&dir);
    let p = DataParams::default().with_target("y").check().unwrap();
    let report = load_dataset(&path, &p).unwrap().report;
    let found = &report.leakage;
    assert_eq!(found.len(), 3, "{found:#?}");

    let error = finding(found, "near_perfect");
    assert_eq!(
        (error.kind, error.severity),
        (LeakageKind::NearPerfectSeparation, Severity::Error)
    );
    assert!(
        error.reason.contains("data.leakage_error_auc 0.99"),
        "{}",
        error.reason
    );

    let warning = finding(found, "strong");
    assert_eq!(
        (warning.kind, warning.severity),
        (LeakageKind::StrongSeparation, Severity::Warning)
    );
    let auc = warning.auc.unwrap();
    assert!((0.95..0.99).contains(&auc), "{auc}");
    assert!(
        warning.reason.contains("data.leakage_warn_auc 0.95"),
        "{}",
        warning.reason
    );

    let signature = finding(found, "balance_change");
    assert_eq!(
        (signature.kind, signature.severity),
        (LeakageKind::SingleValueSignature, Severity::Warning)
    );
    assert!(signature.auc.unwrap() < 0.8, "{signature:#?}");
    let value = signature.signature.as_ref().unwrap();
    assert_eq!((value.value.as_str(), value.class.as_str()), ("0", "0"));
    assert_eq!(value.class_share, 1.0);
    assert!(
        value.other_share > 0.0 && value.other_share < 0.05,
        "{value:?}"
    );

    // Every finding is an issue naming the column and why.
    let issue = report
        .issues
        .iter()
        .find(|i| i.column.as_deref() == Some("balance_change"))
        .unwrap();
    assert!(
        issue
            .message
            .contains("the value 0 covers 100.0 % of class \"0\""),
        "{}",
        issue.message
    );
    assert!(report.has_errors());
    let text = report.to_string();
    assert!(text.contains("ERROR: `near_perfect`: leakage:"), "{text}");
    assert!(text.contains("warning: `strong`: leakage:"), "{text}");
}

#[test]
fn leakage_levels_and_allowances_are_configurable() {
    let dir = tempfile::tempdir().unwrap();
    let path = leaky_csv(&dir);
    let mut p = DataParams::default().with_target("y");
    p.leakage_warn_auc = 0.99;
    p.leakage_value_other_share = 0.01; // 3 % of positives hold 0: no longer "almost none"
    p.allow_leakage = vec!["near_perfect".into()];
    let report = load_dataset(&path, &p.check().unwrap()).unwrap().report;
    assert!(!report.has_errors(), "{report}");
    let found: Vec<(&str, Severity, bool)> = report
        .leakage
        .iter()
        .map(|l| (l.column.as_str(), l.severity, l.allowed))
        .collect();
    assert_eq!(found, [("near_perfect", Severity::Warning, true)]);
}

/// Ordinary credit data: a 10 % positive class, sparse counts, zero-inflated amounts, a skewed
/// flag and a skewed category. Strong features, none of them leaky.
#[test]
fn ordinary_skewed_features_raise_no_leakage() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = Rng::seed_from_u64(11);
    let mut text = String::from("late_payments,amount,has_card,channel,months,y\n");
    for _ in 0..5000 {
        let y = rng.gen_f64() < 0.1;
        let late = poisson(&mut rng, if y { 1.2 } else { 0.3 });
        let amount = if rng.gen_f64() < if y { 0.5 } else { 0.7 } {
            0.0
        } else {
            (rng.gen_normal() + 5.0).exp().round()
        };
        let card = u8::from(rng.gen_f64() < if y { 0.8 } else { 0.95 });
        let channel = if rng.gen_f64() < if y { 0.6 } else { 0.85 } {
            "web"
        } else {
            "branch"
        };
        let months = 1 + rng.gen_below(120);
        text.push_str(&format!(
            "{late},{amount},{card},{channel},{months},{}\n",
            u8::from(y)
        ));
    }
    let path = write(&dir, "ordinary.csv", &text);
    let p = DataParams::default().with_target("y").check().unwrap();
    let report = load_dataset(&path, &p).unwrap().report;
    assert!(report.leakage.is_empty(), "{report}");
    assert!(
        report.strongest_features[0].auc > 0.7,
        "the features carry real signal: {report}"
    );

    let banking = dir.path().join("bank.csv");
    generate_banking_csv(std::fs::File::create(&banking).unwrap(), 3000, 3).unwrap();
    for target in ["Anomaly", "Loan_Status"] {
        let p = DataParams::default().with_target(target).check().unwrap();
        let report = load_dataset(&banking, &p).unwrap().report;
        assert!(report.leakage.is_empty(), "{report}");
    }
}
