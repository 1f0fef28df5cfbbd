//! Print a model artifact's metadata, metrics, top features, threshold, the golden-set verdict
//! and the global importance per raw input column (mean |TreeSHAP contribution| over the golden
//! set; artifacts without node cover say so). A broken artifact exits 1 with the refusal.
//!
//! `cargo run --release --example inspect_model -- --model PATH [--top N]`

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use finbeh_train::ModelArtifact;

/// Inspect a finbeh model artifact.
#[derive(Parser)]
struct Args {
    /// The `.finbeh` file.
    #[arg(long)]
    model: PathBuf,
    /// Features listed by importance.
    #[arg(long, default_value_t = 10)]
    top: usize,
}

fn main() -> ExitCode {
    match try_main() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        }
    }
}

fn try_main() -> anyhow::Result<()> {
    let args = Args::parse();
    // `read` verifies checksum, version and golden set; it fails on any of them.
    let artifact = ModelArtifact::read(&args.model)?;
    let m = artifact.metadata();
    println!(
        "model:     {} v{} ({} bytes)",
        m.model_name,
        m.model_version,
        std::fs::metadata(&args.model)?.len()
    );
    println!(
        "format:    {} written by {} at {}",
        m.format_version, m.writer, m.created_at
    );
    println!(
        "classes:   {} (positive: {})",
        m.classes.join(", "),
        m.positive_class.as_deref().unwrap_or("none: multi-class")
    );
    println!("scores:    {}", m.probability_meaning());
    match &m.threshold {
        Some(t) => println!(
            "threshold: {} (rule {:?}; {})",
            t.value, t.rule, t.chosen_on
        ),
        None => println!("threshold: none (multi-class: argmax)"),
    }
    let t = &m.training;
    println!(
        "training:  {} rows, {} features, {} trees / {} nodes, fit {:.2}s, data {}; evaluated on {} ({} rows)",
        t.train_rows,
        t.n_features,
        t.n_trees,
        t.n_nodes,
        t.fit_seconds,
        t.data_file.as_deref().unwrap_or("(not recorded)"),
        t.evaluated_on,
        t.test_rows
    );
    println!("inputs:    {} raw columns", m.input_columns.len());
    if let Some(e) = &m.evaluation {
        println!(
            "metrics:   {} {:.4}, accuracy {:.4}, log loss {:.4}, macro F1 {:.4}",
            e.roc_auc_name(),
            e.roc_auc,
            e.accuracy,
            e.log_loss,
            e.macro_f1
        );
        if let Some(b) = &e.binary {
            println!(
                "           precision {:.4}, recall {:.4}, F1 {:.4}, PR AUC {:.4}, Brier {:.4}",
                b.precision, b.recall, b.f1, b.pr_auc, b.brier_score
            );
        }
        let predicted: Vec<String> = m
            .classes
            .iter()
            .zip(e.predicted_counts())
            .map(|(class, n)| format!("{class} x {n}"))
            .collect();
        println!(
            "predicted: {} of {} evaluation rows",
            predicted.join(", "),
            e.n_samples
        );
    }
    for warning in m.evaluation_warnings() {
        println!("WARNING:   {warning}");
    }
    if let Some(s) = &m.search {
        let auc_name = m
            .evaluation
            .as_ref()
            .map_or("ROC AUC", |e| e.roc_auc_name());
        println!(
            "search:    {} of {} trials, best {}-fold CV {auc_name} {:.4} ± {:.4}",
            s.trials_run, s.iterations, s.cv_folds, s.best_mean_roc_auc, s.best_std_roc_auc
        );
        let p = &s.best_params;
        println!(
            "           best: n_estimators {}, max_depth {}, min_samples_split {}, min_samples_leaf {}, bootstrap {}, class_weight {:?}",
            p.n_estimators(),
            p.max_depth()
                .map_or("unlimited".to_string(), |d| d.to_string()),
            p.min_samples_split(),
            p.min_samples_leaf(),
            p.bootstrap(),
            p.class_weight()
        );
    }
    let mut order: Vec<usize> = (0..m.feature_names.len()).collect();
    let imp = |i: usize| m.importances.impurity.get(i).copied().unwrap_or(0.0);
    order.sort_by(|&a, &b| imp(b).total_cmp(&imp(a)));
    println!("top features (impurity, permutation ROC AUC drop):");
    for &i in order.iter().take(args.top) {
        let perm = m
            .importances
            .permutation
            .as_ref()
            .and_then(|p| p.mean.get(i));
        println!(
            "  {:<40} {:.4}  {}",
            m.feature_names.get(i).map_or("?", String::as_str),
            imp(i),
            perm.map_or("-".into(), |p| format!("{p:.4}"))
        );
    }
    println!(
        "golden set: {} records reproduced exactly",
        m.golden_set.len()
    );
    for line in artifact.monitoring_summary() {
        println!("{line}");
    }
    print_global_importance(&artifact, args.top);
    Ok(())
}

/// Mean |contribution| per raw input column (exact TreeSHAP), or why there is none.
fn print_global_importance(artifact: &ModelArtifact, top: usize) {
    let importance = match artifact.global_importance() {
        Ok(importance) => importance,
        Err(reason) => return println!("global importance: none ({reason})"),
    };
    let k = (importance.mean_abs.len() / importance.columns.len().max(1)).max(1);
    let total = |c: usize| importance.mean_abs[c * k..c * k + k].iter().sum::<f64>();
    let mut order: Vec<usize> = (0..importance.columns.len()).collect();
    order.sort_by(|&a, &b| total(b).total_cmp(&total(a)));
    println!(
        "global importance (mean |contribution| to the probability, {} {} rows):",
        importance.rows, importance.sample
    );
    for &c in order.iter().take(top) {
        println!("  {:<40} {:.4}", importance.columns[c], total(c));
    }
}
