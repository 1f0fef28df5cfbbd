//! Labelled performance: logged predictions joined to their ground-truth labels over a time
//! range, and accuracy, precision, recall, F1 and ROC AUC overall and per time step.

use std::collections::HashMap;
use std::path::Path;

use serde::Serialize;

use crate::error::MonitorError;
use crate::label_store::{ModelKey, model_classes};
use crate::log_read::open_read_only;
use crate::log_store::layout_version;

/// Version of [`LabelledMetrics`]' JSON form; a compatibility promise.
pub const LABELLED_METRICS_VERSION: u32 = 1;
/// Most time steps one query may ask for (bounds the answer whatever the range and step).
pub const MAX_METRIC_STEPS: i64 = 10_000;

/// The time range and step of [`labelled_metrics`], in milliseconds since the Unix epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LabelQuery {
    /// First instant included.
    pub since_ms: i64,
    /// First instant excluded.
    pub until_ms: i64,
    /// Width of each step for charts (the last one may be shorter).
    pub step_ms: i64,
}

/// One metric with the number of labelled rows it was computed over.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Metric {
    /// `None` when undefined: no rows, no predicted positives (precision), no actual positives
    /// (recall), or a single class among the labels (ROC AUC).
    pub value: Option<f64>,
    /// Labelled rows behind it: all labelled rows (accuracy, F1, ROC AUC), those predicted
    /// positive (precision) or those actually positive (recall); for a multi-class model, all.
    pub count: u64,
}

/// Labelled metrics of one window (the whole range, or one step).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MetricsWindow {
    /// First instant included.
    pub start_ms: i64,
    /// First instant excluded.
    pub end_ms: i64,
    /// Scored rows logged (answered 200).
    pub predictions: u64,
    /// Of which carry a usable label.
    pub labelled: u64,
    /// Labels that are not one of their model's classes (exact text), or whose model's
    /// classes the log does not record (a log written before layout 2): not used.
    pub invalid_labels: u64,
    /// Share of the predictions without a usable label; `None` without predictions.
    pub unlabelled_share: Option<f64>,
    /// The positive class (class index 1 of a binary model, as the artifact defines it);
    /// `None` for multi-class, where precision, recall and F1 are macro averages and ROC AUC
    /// the macro one-vs-rest average.
    pub positive_class: Option<String>,
    /// Share of labelled rows predicted right (the class the server answered, so at its
    /// served threshold).
    pub accuracy: Metric,
    /// True positives over predicted positives.
    pub precision: Metric,
    /// True positives over actual positives.
    pub recall: Metric,
    /// Harmonic mean of precision and recall.
    pub f1: Metric,
    /// ROC AUC of the positive-class probability (Mann–Whitney, ties ½).
    pub roc_auc: Metric,
}

/// [`labelled_metrics`]' answer: the whole range, and each step for charts.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LabelledMetrics {
    /// [`LABELLED_METRICS_VERSION`].
    pub version: u32,
    /// The step width asked for.
    pub step_ms: i64,
    /// The whole range.
    pub overall: MetricsWindow,
    /// One window per step, in time order.
    pub steps: Vec<MetricsWindow>,
}

/// One labelled row: the true and predicted class indices and the class probabilities.
struct Labelled {
    truth: usize,
    predicted: usize,
    probabilities: Vec<f64>,
}

#[derive(Default)]
struct Tally {
    predictions: u64,
    invalid: u64,
    n_classes: usize,
    positive_class: Option<String>,
    rows: Vec<Labelled>,
}

/// Joins the log's labels to its predictions in `query`'s range and computes labelled
/// metrics overall and per step. A label applies to every logged row with its (request id,
/// row); each row is scored against its own model's classes.
///
/// # Errors
/// [`MonitorError::MetricQuery`] for an empty range, a step that is not positive or too many
/// steps; [`MonitorError::Database`] and the log's layout errors.
pub fn labelled_metrics(
    database: &Path,
    query: &LabelQuery,
) -> Result<LabelledMetrics, MonitorError> {
    let n_steps = check_query(query)?;
    // Read-only, as every reader: reading never migrates (or otherwise writes) the file.
    let connection = open_read_only(database)?;
    let fail = |action: &'static str| {
        move |source| MonitorError::Database {
            path: database.to_path_buf(),
            action,
            source,
        }
    };
    // Layout 1 has no labels or models tables yet: all its predictions are unlabelled.
    let has_labels = layout_version(&connection)
        .map_err(fail("read the layout version"))?
        .and_then(|v| v.parse::<u32>().ok())
        .is_some_and(|v| v >= 2);
    let models: HashMap<ModelKey, Vec<String>> = if has_labels {
        model_classes(&connection)
            .map_err(fail("read the models' classes"))?
            .into_iter()
            .collect()
    } else {
        HashMap::new()
    };
    let mut overall = Tally::default();
    let mut steps: Vec<Tally> = (0..n_steps).map(|_| Tally::default()).collect();
    let sql = if has_labels {
        "SELECT p.time_ms, p.model_name, p.model_version, p.predicted_class, \
         p.probabilities, l.label \
         FROM predictions p LEFT JOIN labels l \
         ON l.request_id = p.request_id AND l.row_index = p.row_index \
         WHERE p.time_ms >= ?1 AND p.time_ms < ?2 AND p.http_status = 200 \
         AND p.row_index IS NOT NULL"
    } else {
        "SELECT time_ms, model_name, model_version, predicted_class, probabilities, NULL \
         FROM predictions WHERE time_ms >= ?1 AND time_ms < ?2 AND http_status = 200 \
         AND row_index IS NOT NULL"
    };
    let mut statement = connection
        .prepare(sql)
        .map_err(fail("join labels to predictions"))?;
    let mut rows = statement
        .query([query.since_ms, query.until_ms])
        .map_err(fail("join labels to predictions"))?;
    while let Some(row) = rows.next().map_err(fail("read a prediction"))? {
        let read = |row: &rusqlite::Row<'_>| -> rusqlite::Result<_> {
            Ok((
                row.get::<_, i64>(0)?,
                (row.get::<_, String>(1)?, row.get::<_, String>(2)?),
                row.get::<_, Option<String>>(3)?,
                row.get::<_, Option<String>>(4)?,
                row.get::<_, Option<String>>(5)?,
            ))
        };
        let (time_ms, model, predicted, probabilities, label) =
            read(row).map_err(fail("read a prediction"))?;
        let step = usize::try_from((time_ms - query.since_ms) / query.step_ms).unwrap_or(0);
        let classes = models.get(&model);
        let labelled = label.map(|label| {
            classes.and_then(|classes| {
                let index = |text: &str| classes.iter().position(|c| c == text);
                Some(Labelled {
                    truth: index(&label)?,
                    predicted: index(predicted.as_deref()?)?,
                    probabilities: probabilities
                        .as_deref()
                        .and_then(|p| serde_json::from_str::<Vec<f64>>(p).ok())
                        .filter(|p| p.len() == classes.len())?,
                })
            })
        });
        for tally in [&mut overall, &mut steps[step.min(n_steps - 1)]] {
            tally.predictions += 1;
            match &labelled {
                None => {}
                Some(None) => tally.invalid += 1,
                Some(Some(row)) => {
                    if let Some(classes) = classes {
                        tally.n_classes = classes.len();
                        if classes.len() == 2 && tally.positive_class.is_none() {
                            tally.positive_class = Some(classes[1].clone());
                        }
                    }
                    tally.rows.push(Labelled {
                        truth: row.truth,
                        predicted: row.predicted,
                        probabilities: row.probabilities.clone(),
                    });
                }
            }
        }
    }
    let bounds = |i: i64| {
        let start = query.since_ms + i * query.step_ms;
        (start, (start + query.step_ms).min(query.until_ms))
    };
    Ok(LabelledMetrics {
        version: LABELLED_METRICS_VERSION,
        step_ms: query.step_ms,
        overall: window(&overall, query.since_ms, query.until_ms),
        steps: (0i64..)
            .zip(&steps)
            .map(|(i, tally)| {
                let (start, end) = bounds(i);
                window(tally, start, end)
            })
            .collect(),
    })
}

fn check_query(query: &LabelQuery) -> Result<usize, MonitorError> {
    let refuse = |problem: String| Err(MonitorError::MetricQuery(problem));
    if query.until_ms <= query.since_ms {
        return refuse(format!(
            "the range ends ({}) at or before it starts ({})",
            query.until_ms, query.since_ms
        ));
    }
    if query.step_ms <= 0 {
        return refuse(format!(
            "the step must be positive, not {} ms",
            query.step_ms
        ));
    }
    let span = query.until_ms.checked_sub(query.since_ms);
    let steps = span.map(|span| span / query.step_ms + i64::from(span % query.step_ms != 0));
    match steps {
        Some(steps) if steps <= MAX_METRIC_STEPS => Ok(usize::try_from(steps).unwrap_or(1)),
        _ => refuse(format!(
            "the range over steps of {} ms makes more than {MAX_METRIC_STEPS} steps; take a \
             wider step",
            query.step_ms
        )),
    }
}

fn window(tally: &Tally, start_ms: i64, end_ms: i64) -> MetricsWindow {
    let labelled = tally.rows.len() as u64;
    let scores = classification(tally);
    MetricsWindow {
        start_ms,
        end_ms,
        predictions: tally.predictions,
        labelled,
        invalid_labels: tally.invalid,
        unlabelled_share: (tally.predictions > 0)
            .then(|| (tally.predictions - labelled) as f64 / tally.predictions as f64),
        positive_class: tally.positive_class.clone(),
        accuracy: scores.accuracy,
        precision: scores.precision,
        recall: scores.recall,
        f1: scores.f1,
        roc_auc: scores.roc_auc,
    }
}

struct Scores {
    accuracy: Metric,
    precision: Metric,
    recall: Metric,
    f1: Metric,
    roc_auc: Metric,
}

fn ratio(numerator: u64, denominator: u64) -> Option<f64> {
    (denominator > 0).then(|| numerator as f64 / denominator as f64)
}

fn harmonic(precision: Option<f64>, recall: Option<f64>) -> Option<f64> {
    let (p, r) = (precision?, recall?);
    Some(if p + r > 0.0 {
        2.0 * p * r / (p + r)
    } else {
        0.0
    })
}

/// ROC AUC of `scores` for rows where `positive` holds; `None` with a single class.
fn auc(rows: &[Labelled], positive: impl Fn(&Labelled) -> bool, score: usize) -> Option<f64> {
    let truth: Vec<usize> = rows.iter().map(|row| usize::from(positive(row))).collect();
    let scores: Vec<f64> = rows
        .iter()
        .map(|row| row.probabilities.get(score).copied().unwrap_or(f64::NAN))
        .collect();
    finbeh_train::roc_auc(&truth, &scores).ok()
}

fn classification(tally: &Tally) -> Scores {
    let rows = &tally.rows;
    let n = rows.len() as u64;
    let correct = rows.iter().filter(|r| r.truth == r.predicted).count() as u64;
    let accuracy = Metric {
        value: ratio(correct, n),
        count: n,
    };
    if tally.n_classes == 2 {
        let count = |f: &dyn Fn(&Labelled) -> bool| rows.iter().filter(|r| f(r)).count() as u64;
        let tp = count(&|r| r.truth == 1 && r.predicted == 1);
        let predicted_positive = count(&|r| r.predicted == 1);
        let actual_positive = count(&|r| r.truth == 1);
        let precision = ratio(tp, predicted_positive);
        let recall = ratio(tp, actual_positive);
        return Scores {
            accuracy,
            precision: Metric {
                value: precision,
                count: predicted_positive,
            },
            recall: Metric {
                value: recall,
                count: actual_positive,
            },
            f1: Metric {
                value: harmonic(precision, recall),
                count: n,
            },
            roc_auc: Metric {
                value: auc(rows, |r| r.truth == 1, 1),
                count: n,
            },
        };
    }
    // Multi-class: macro averages over the classes seen in the labels or the predictions.
    let seen: Vec<usize> = (0..tally.n_classes)
        .filter(|&c| rows.iter().any(|r| r.truth == c || r.predicted == c))
        .collect();
    let mean = |values: Vec<Option<f64>>| {
        let values: Option<Vec<f64>> = values.into_iter().collect();
        values
            .filter(|v| !v.is_empty())
            .map(|v| v.iter().sum::<f64>() / v.len() as f64)
    };
    let per_class: Vec<(Option<f64>, Option<f64>)> = seen
        .iter()
        .map(|&c| {
            let tp = rows
                .iter()
                .filter(|r| r.truth == c && r.predicted == c)
                .count() as u64;
            let predicted = rows.iter().filter(|r| r.predicted == c).count() as u64;
            let actual = rows.iter().filter(|r| r.truth == c).count() as u64;
            // A class never predicted has precision 0 here, as scikit-learn's macro average.
            (
                Some(ratio(tp, predicted).unwrap_or(0.0)),
                Some(ratio(tp, actual).unwrap_or(0.0)),
            )
        })
        .collect();
    let metric = |value| Metric { value, count: n };
    Scores {
        accuracy,
        precision: metric(mean(per_class.iter().map(|c| c.0).collect())),
        recall: metric(mean(per_class.iter().map(|c| c.1).collect())),
        f1: metric(mean(per_class.iter().map(|c| harmonic(c.0, c.1)).collect())),
        roc_auc: metric(mean(
            (0..tally.n_classes)
                .map(|c| auc(rows, |r| r.truth == c, c))
                .collect(),
        )),
    }
}
