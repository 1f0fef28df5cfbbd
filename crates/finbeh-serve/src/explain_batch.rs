//! Groups concurrent one-row explanations into the explainer's lanes: whatever is queued when
//! a worker looks (no timer), up to 8 rows of the same model, explained together
//! on Tokio's blocking pool and answered one by one through a oneshot.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use finbeh_data::RawValue;
use tokio::sync::oneshot;

use crate::explanation::{ExplainBuffer, ExplainRefusal};
use crate::model::Scorer;

/// Rows explained together at most: the kernel's lane count.
const GROUP_ROWS: usize = 8;

/// What a queued row gets back.
type Reply = Result<ExplainBuffer, ExplainRefusal>;

/// One queued row.
struct Job {
    scorer: Arc<dyn Scorer>,
    record: Vec<RawValue<'static>>,
    reply: oneshot::Sender<Reply>,
}

/// The queue and how many workers drain it.
#[derive(Default)]
struct Queue {
    jobs: VecDeque<Job>,
    workers: usize,
}

struct Shared {
    queue: Mutex<Queue>,
    max_workers: usize,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Queue> {
        // A worker that panicked left the queue itself consistent (jobs are moved out whole).
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Explains one-row requests in groups: a lone row starts at once (latency at low load is a
/// row alone's); rows that arrive while the workers are busy wait in a queue and are explained
/// together, 8 at a time, at a fraction of a lone row's cost each. Each row's
/// answer has the same bits as the row explained alone ([`Scorer::explain`] guarantees it for
/// the finbeh artifact). At most one worker per core runs, on Tokio's blocking pool, so the
/// async workers never explain.
#[derive(Clone)]
pub struct ExplainBatcher {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for ExplainBatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let queue = self.shared.lock();
        f.debug_struct("ExplainBatcher")
            .field("queued", &queue.jobs.len())
            .field("workers", &queue.workers)
            .field("max_workers", &self.shared.max_workers)
            .finish()
    }
}

impl Default for ExplainBatcher {
    fn default() -> Self {
        Self::new()
    }
}

impl ExplainBatcher {
    /// A batcher with one worker per core.
    pub fn new() -> Self {
        Self::with_workers(std::thread::available_parallelism().map_or(1, usize::from))
    }

    /// A batcher with at most `max_workers` (at least one) explaining at once.
    pub fn with_workers(max_workers: usize) -> Self {
        Self {
            shared: Arc::new(Shared {
                queue: Mutex::new(Queue::default()),
                max_workers: max_workers.max(1),
            }),
        }
    }

    /// Explains one `record` (values in `scorer`'s input-column order) into a one-row buffer,
    /// grouped with the other rows queued at the moment. `None` when the worker explaining it
    /// failed, or there is no Tokio runtime to run one (the server's fault, not the client's).
    pub async fn explain(
        &self,
        scorer: &Arc<dyn Scorer>,
        record: &[RawValue<'_>],
    ) -> Option<Result<ExplainBuffer, ExplainRefusal>> {
        let (reply, answer) = oneshot::channel();
        let record = record.iter().map(owned).collect();
        let start = {
            let mut queue = self.shared.lock();
            queue.jobs.push_back(Job {
                scorer: Arc::clone(scorer),
                record,
                reply,
            });
            let start = queue.workers < self.shared.max_workers;
            if start {
                queue.workers += 1;
            }
            start
        };
        if start {
            spawn_worker(Arc::clone(&self.shared));
        }
        answer.await.ok()
    }
}

fn owned(value: &RawValue<'_>) -> RawValue<'static> {
    match value {
        RawValue::Missing => RawValue::Missing,
        RawValue::Number(n) => RawValue::Number(*n),
        RawValue::Bool(b) => RawValue::Bool(*b),
        RawValue::Text(text) => RawValue::Text(text.clone().into_owned().into()),
    }
}

/// Starts a worker (its count already taken) on the runtime's blocking pool. Outside a Tokio
/// runtime there is none: the count is given back and the queued rows are dropped, so their
/// callers get `None` instead of waiting for ever.
fn spawn_worker(shared: Arc<Shared>) {
    match tokio::runtime::Handle::try_current() {
        Ok(runtime) => drop(runtime.spawn_blocking(move || {
            let worker = Worker(shared);
            worker.drain();
        })),
        Err(_) => {
            let mut queue = shared.lock();
            queue.workers = queue.workers.saturating_sub(1);
            queue.jobs.clear();
        }
    }
}

/// A running worker; its count is given back when it ends, even by a panic, and if rows are
/// still queued then (pushed while it was leaving) a new worker takes them.
struct Worker(Arc<Shared>);

impl Drop for Worker {
    fn drop(&mut self) {
        let restart = {
            let mut queue = self.0.lock();
            queue.workers = queue.workers.saturating_sub(1);
            let restart = !queue.jobs.is_empty() && queue.workers < self.0.max_workers;
            if restart {
                queue.workers += 1;
            }
            restart
        };
        if restart {
            spawn_worker(Arc::clone(&self.0));
        }
    }
}

impl Worker {
    /// Explains queued groups until the queue is empty.
    fn drain(&self) {
        let mut group: Vec<Job> = Vec::with_capacity(GROUP_ROWS);
        let mut rows: Vec<RawValue<'static>> = Vec::new();
        loop {
            {
                let mut queue = self.0.lock();
                let Some(first) = queue.jobs.pop_front() else {
                    return;
                };
                while group.len() + 1 < GROUP_ROWS
                    && queue
                        .jobs
                        .front()
                        .is_some_and(|next| Arc::ptr_eq(&next.scorer, &first.scorer))
                {
                    if let Some(next) = queue.jobs.pop_front() {
                        group.push(next);
                    }
                }
                group.insert(0, first);
            }
            explain_group(&mut group, &mut rows);
        }
    }
}

/// Outputs explained per row: binary models explain the positive class only, as
/// `probabilities` reports it.
fn explained_outputs(scorer: &dyn Scorer) -> usize {
    match scorer.info().classes.len() {
        2 => 1,
        n => n,
    }
}

/// Explains `group` (rows of one model) together and answers each; if the group fails, each
/// row is explained alone so that each gets its own answer.
fn explain_group(group: &mut Vec<Job>, rows: &mut Vec<RawValue<'static>>) {
    let Some(first) = group.first() else {
        return;
    };
    let scorer = Arc::clone(&first.scorer);
    let n_outputs = explained_outputs(&*scorer);
    let n_columns = scorer.info().input_columns.len();
    let mut buffer = ExplainBuffer::new();
    if group.len() > 1 {
        rows.clear();
        for job in group.iter() {
            rows.extend(job.record.iter().cloned());
        }
        buffer.reset(n_outputs, n_columns);
        let explained = scorer.explain(rows, group.len(), &mut buffer);
        rows.clear();
        if explained.is_ok() && buffer.is_consistent(group.len()) {
            let width = n_columns * n_outputs;
            let answers = buffer
                .base()
                .chunks_exact(n_outputs)
                .zip(buffer.contributions().chunks_exact(width.max(1)));
            for (job, (base, contributions)) in group.drain(..).zip(answers) {
                let mut one = ExplainBuffer::new();
                one.reset(n_outputs, n_columns);
                one.push(base, contributions);
                // The request may have gone (client closed): nothing to answer then.
                let _ = job.reply.send(Ok(one));
            }
            return;
        }
    }
    for job in group.drain(..) {
        let mut one = ExplainBuffer::new();
        one.reset(n_outputs, n_columns);
        let answer = job.scorer.explain(&job.record, 1, &mut one).map(|()| one);
        let _ = job.reply.send(answer);
    }
}
