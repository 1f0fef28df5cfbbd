//! The explain batcher: one-row explanations queued together come back with the same bits as
//! each row explained alone, and a row the model cannot read is refused alone.
#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions

mod common;

use std::borrow::Cow;
use std::sync::Arc;

use finbeh_data::RawValue;
use finbeh_serve::{ArtifactScorer, ExplainBatcher, ExplainBuffer, ExplainRefusal, Scorer};

fn scorer(dir: &tempfile::TempDir) -> Arc<dyn Scorer> {
    let path = common::train_mixed_artifact(dir.path());
    Arc::new(ArtifactScorer::read(&path).unwrap())
}

/// Records over (income, age, segment, has_card, opened), all different.
fn record(i: usize) -> Vec<RawValue<'static>> {
    let segment = ["retail", "premium", "business", "never-seen"][i % 4];
    vec![
        if i % 7 == 3 {
            RawValue::Missing
        } else {
            RawValue::Number(600.0 + 97.5 * i as f64)
        },
        RawValue::Number(18.0 + (i * 5 % 60) as f64),
        RawValue::Text(Cow::Borrowed(segment)),
        RawValue::Bool(i.is_multiple_of(3)),
        RawValue::Text(Cow::Owned(format!(
            "20{:02}-{:02}-15",
            10 + i % 12,
            1 + i % 12
        ))),
    ]
}

fn alone(scorer: &Arc<dyn Scorer>, record: &[RawValue<'_>]) -> ExplainBuffer {
    let mut buffer = ExplainBuffer::new();
    buffer.reset(1, record.len());
    scorer.explain(record, 1, &mut buffer).unwrap();
    buffer
}

fn bits(buffer: &ExplainBuffer) -> (Vec<u64>, Vec<u64>) {
    (
        buffer.base().iter().map(|v| v.to_bits()).collect(),
        buffer.contributions().iter().map(|v| v.to_bits()).collect(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rows_explained_together_have_the_bits_of_each_alone() {
    let dir = tempfile::tempdir().unwrap();
    let scorer = scorer(&dir);
    // One worker: while it explains, the other rows queue and go together.
    let batcher = ExplainBatcher::with_workers(1);
    let tasks: Vec<_> = (0..40)
        .map(|i| {
            let (batcher, scorer) = (batcher.clone(), Arc::clone(&scorer));
            tokio::spawn(async move { batcher.explain(&scorer, &record(i)).await })
        })
        .collect();
    for (i, task) in tasks.into_iter().enumerate() {
        let explained = task.await.unwrap().unwrap().unwrap();
        assert!(explained.is_consistent(1), "row {i}");
        assert_eq!(
            bits(&explained),
            bits(&alone(&scorer, &record(i))),
            "row {i}"
        );
    }
    // A lone row, with nothing queued.
    let lone = batcher.explain(&scorer, &record(5)).await.unwrap().unwrap();
    assert_eq!(bits(&lone), bits(&alone(&scorer, &record(5))));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_row_the_model_cannot_read_is_refused_alone() {
    let dir = tempfile::tempdir().unwrap();
    let scorer = scorer(&dir);
    let batcher = ExplainBatcher::with_workers(1);
    let bad = |i: usize| {
        let mut r = record(i);
        r[4] = RawValue::Text(Cow::Borrowed("not a date"));
        r
    };
    let tasks: Vec<_> = (0..24)
        .map(|i| {
            let (batcher, scorer) = (batcher.clone(), Arc::clone(&scorer));
            let r = if i % 5 == 2 { bad(i) } else { record(i) };
            tokio::spawn(async move { batcher.explain(&scorer, &r).await })
        })
        .collect();
    for (i, task) in tasks.into_iter().enumerate() {
        let answer = task.await.unwrap().unwrap();
        if i % 5 == 2 {
            match answer {
                Err(ExplainRefusal::Row(problem)) => {
                    assert_eq!(problem.row, Some(0), "{problem:?}");
                    assert_eq!(problem.field.as_deref(), Some("opened"), "{problem:?}");
                }
                other => panic!("row {i}: expected a refusal, got {other:?}"),
            }
        } else {
            let explained = answer.unwrap();
            assert_eq!(
                bits(&explained),
                bits(&alone(&scorer, &record(i))),
                "row {i}"
            );
        }
    }
}

/// Outside a Tokio runtime there is no blocking pool: the row is answered `None` (a server
/// fault), not left waiting.
#[test]
fn without_a_runtime_the_answer_is_none_not_a_hang() {
    let dir = tempfile::tempdir().unwrap();
    let scorer = scorer(&dir);
    let batcher = ExplainBatcher::with_workers(1);
    let answer = block_on_this_thread(batcher.explain(&scorer, &record(1)));
    assert!(answer.is_none());
    // The worker count was given back: inside a runtime the batcher works again.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let explained = runtime
        .block_on(batcher.explain(&scorer, &record(1)))
        .unwrap()
        .unwrap();
    assert_eq!(bits(&explained), bits(&alone(&scorer, &record(1))));
}

/// Polls a future to completion on this thread, with no runtime around it.
fn block_on_this_thread<F: std::future::Future>(future: F) -> F::Output {
    use std::task::{Context, Poll, Wake, Waker};
    struct Unpark(std::thread::Thread);
    impl Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut context = Context::from_waker(&waker);
    let mut future = std::pin::pin!(future);
    loop {
        if let Poll::Ready(output) = future.as_mut().poll(&mut context) {
            return output;
        }
        std::thread::park();
    }
}
