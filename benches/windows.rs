//! Live-metrics benchmark: 24 hours of minutes (1,440 per replica, 100 requests each) written
//! through the prediction log, then the reads a dashboard and the alert loop make: a 24 h
//! window merging 1,440 minute histograms, the four standard windows, a 24 h series at 5-minute
//! steps, and the same over two replicas' databases.
//!
//! `cargo bench --bench windows` (figures in docs/performance.md).

use std::hint::black_box;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use finbeh_config::MonitorSettings;
use finbeh_monitor::{
    LogIdentity, MetricsReader, PredictionLog, PredictionLogParams, TrafficFilter,
};
use finbeh_serve::{ModelInfo, PredictionRecord, PredictionSink};

const MINUTES: i64 = 1_440;
const REQUESTS_PER_MINUTE: i64 = 100;
const END_MS: i64 = 1_800_000_000_000;

fn write_day(path: &Path, seed: i64) {
    let params = PredictionLogParams(MonitorSettings {
        database_path: path.to_path_buf(),
        retention_days: 36_500,
        ..MonitorSettings::default()
    })
    .check()
    .expect("valid settings");
    let identity = LogIdentity {
        endpoint: "churn".into(),
        deployment: "blue".into(),
    };
    let log = PredictionLog::open(&params, identity).expect("open the log");
    let model = Arc::new(ModelInfo {
        name: "m".into(),
        version: "1".into(),
        input_columns: vec![],
        classes: vec!["no".into(), "yes".into()],
        target: None,
        ignored_columns: vec![],
    });
    for minute in 0..MINUTES {
        for i in 0..REQUESTS_PER_MINUTE {
            let spread = ((minute * 7_919 + i * 104_729 + seed) % 10_000) as f64;
            log.record(PredictionRecord {
                unix_ms: END_MS - (MINUTES - minute) * 60_000 + i * 500,
                request_id: format!("{seed}-{minute}-{i}"),
                route: "/score",
                model: Arc::clone(&model),
                latency_ms: 0.2 + spread / 1_000.0,
                status: if i % 50 == 0 { 500 } else { 200 },
                error_code: None,
                inputs: vec![],
                predicted: vec![usize::from(i % 3 == 0)],
                probabilities: vec![0.6, 0.4],
            });
        }
    }
    log.close().expect("close the log");
}

fn windows(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temporary directory");
    let (a, b) = (dir.path().join("a.sqlite"), dir.path().join("b.sqlite"));
    let started = std::time::Instant::now();
    write_day(&a, 1);
    eprintln!(
        "wrote {} requests over {MINUTES} minutes in {:.2} s (writer thread, minute_stats included)",
        MINUTES * REQUESTS_PER_MINUTE,
        started.elapsed().as_secs_f64()
    );
    write_day(&b, 2);
    for path in [&a, &b] {
        let bytes: i64 = rusqlite::Connection::open(path)
            .and_then(|c| {
                c.query_row(
                    "SELECT sum(length(latency_histogram)), count(*) FROM minute_stats",
                    [],
                    |r| Ok(r.get::<_, i64>(0)? / r.get::<_, i64>(1)?),
                )
            })
            .expect("read minute_stats");
        eprintln!(
            "{}: {bytes} histogram bytes per minute on average",
            path.display()
        );
    }
    let one = MetricsReader::open(&[&a]).expect("open");
    let two = MetricsReader::open(&[&a, &b]).expect("open");
    let filter = TrafficFilter::default();
    let day = Duration::from_secs(86_400);
    c.bench_function("window 24h, 1 replica (1,440 minutes merged)", |bench| {
        bench.iter(|| black_box(one.window(END_MS, day, &filter).expect("window")))
    });
    c.bench_function("window 24h, 2 replicas (2,880 minutes merged)", |bench| {
        bench.iter(|| black_box(two.window(END_MS, day, &filter).expect("window")))
    });
    c.bench_function("standard windows 1m+5m+1h+24h, 1 replica", |bench| {
        bench.iter(|| black_box(one.standard_windows(END_MS, &filter).expect("windows")))
    });
    c.bench_function(
        "series 24h at 5 min steps (288 points), 1 replica",
        |bench| {
            bench.iter(|| {
                black_box(
                    one.series(
                        END_MS - 86_400_000,
                        END_MS,
                        Duration::from_secs(300),
                        &filter,
                    )
                    .expect("series"),
                )
            })
        },
    );
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(10);
    targets = windows
}
criterion_main!(benches);
