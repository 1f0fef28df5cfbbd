//! The local deployment target end to end, with real processes: the `deploy` example binary,
//! its endpoint daemon and its supervised deployments. Rollout under a steady client load with
//! no failed request; a corrupted artifact stops before any traffic moves; a failing gate and
//! `deploy rollback` restore the previous traffic; concurrent `register` processes; a killed
//! deployment is restarted; a killed daemon reads as `Stopped` and `deploy start` restores it;
//! no process is left behind (checked by pid); the deployments keep a prediction log exactly
//! when `monitor.enabled`, whether `rollout` started them or `deploy start` restored them. Needs
//! the example built, as `cargo test` builds it.
#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions

mod common;

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use common::local_endpoint::LocalEndpoint;
use finbeh_train::ModelArtifact;
use serde_json::Value;

fn deploy_binary() -> PathBuf {
    common::example_binary("deploy")
}

fn model() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("crates/finbeh-train/tests/fixtures/model-v1.1.0.finbeh")
}

/// The fixture's golden records as one scoring body per record.
fn golden_bodies() -> Vec<String> {
    let artifact = ModelArtifact::read(model()).unwrap();
    artifact
        .metadata()
        .golden_set
        .iter()
        .map(|g| serde_json::json!({ "data": [g.record] }).to_string())
        .collect()
}

#[derive(Default)]
struct LoadCounts {
    ok: AtomicU64,
    failed: AtomicU64,
    by_blue: AtomicU64,
    by_green: AtomicU64,
}

/// Steady client load: `threads` keep-alive clients, each pausing `pause` between requests,
/// until `stop`. Every answer that is not a 200, and every connection error, is a failure.
struct Load {
    counts: Arc<LoadCounts>,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<Vec<String>>>,
    started: Instant,
}

impl Load {
    fn start(port: u16, key: &str, threads: usize, pause: Duration) -> Self {
        let counts = Arc::new(LoadCounts::default());
        let stop = Arc::new(AtomicBool::new(false));
        let bodies = Arc::new(golden_bodies());
        let threads = (0..threads)
            .map(|t| {
                let (counts, stop, bodies, key) =
                    (counts.clone(), stop.clone(), bodies.clone(), key.to_owned());
                std::thread::spawn(move || {
                    let mut failures = Vec::new();
                    let mut connection: Option<BufReader<TcpStream>> = None;
                    let mut i = t;
                    while !stop.load(Ordering::Relaxed) {
                        let body = &bodies[i % bodies.len()];
                        i += 1;
                        let stream = match connection.take() {
                            Some(s) => s,
                            None => {
                                let stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
                                stream.set_nodelay(true).unwrap();
                                BufReader::new(stream)
                            }
                        };
                        match request(stream, &key, body) {
                            Ok((status, deployment, stream)) => {
                                connection = Some(stream);
                                if status == 200 {
                                    counts.ok.fetch_add(1, Ordering::Relaxed);
                                } else {
                                    counts.failed.fetch_add(1, Ordering::Relaxed);
                                    failures.push(format!("HTTP {status}"));
                                }
                                match deployment.as_str() {
                                    "blue" => counts.by_blue.fetch_add(1, Ordering::Relaxed),
                                    "green" => counts.by_green.fetch_add(1, Ordering::Relaxed),
                                    _ => 0,
                                };
                            }
                            Err(e) => {
                                counts.failed.fetch_add(1, Ordering::Relaxed);
                                failures.push(e.to_string());
                            }
                        }
                        std::thread::sleep(pause);
                    }
                    failures
                })
            })
            .collect();
        Self {
            counts,
            stop,
            threads,
            started: Instant::now(),
        }
    }

    /// Stops the clients; returns (answered, failed, requests per second, failure reasons).
    fn finish(self) -> (u64, u64, f64, Vec<String>) {
        self.stop.store(true, Ordering::Relaxed);
        let failures: Vec<String> = self
            .threads
            .into_iter()
            .flat_map(|t| t.join().unwrap())
            .collect();
        let seconds = self.started.elapsed().as_secs_f64();
        let ok = self.counts.ok.load(Ordering::Relaxed);
        let failed = self.counts.failed.load(Ordering::Relaxed);
        (ok, failed, (ok + failed) as f64 / seconds, failures)
    }
}

/// One keep-alive HTTP/1.1 POST /score; (status, answering deployment, the connection).
fn request(
    mut stream: BufReader<TcpStream>,
    key: &str,
    body: &str,
) -> std::io::Result<(u16, String, BufReader<TcpStream>)> {
    // One write: several small ones would wait on Nagle and delayed ACKs.
    let head = format!(
        "POST /score HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {key}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.get_mut().write_all(head.as_bytes())?;
    let mut line = String::new();
    stream.read_line(&mut line)?;
    let status: u16 = line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("bad status line {line:?}")))?;
    let (mut length, mut deployment) = (0usize, String::new());
    loop {
        line.clear();
        stream.read_line(&mut line)?;
        let header = line.trim_end();
        if header.is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':') {
            match name.to_ascii_lowercase().as_str() {
                "content-length" => length = value.trim().parse().unwrap_or(0),
                "azureml-model-deployment" => deployment = value.trim().to_owned(),
                _ => {}
            }
        }
    }
    let mut answer = vec![0; length];
    stream.read_exact(&mut answer)?;
    Ok((status, deployment, stream))
}

const FAST_STEPS: &str =
    "steps = [10, 50, 100]\nsoak_seconds = 0.5\nmax_error_rate = 0.0\nmax_p99_ms = 5000.0";

#[test]
fn rollout_under_steady_load_fails_no_request() {
    let endpoint = LocalEndpoint::new(FAST_STEPS, "");
    let (ok, first) = endpoint.try_rollout(&model(), &[]);
    assert!(ok, "{first}");
    assert_eq!(first["traffic"], serde_json::json!({"blue": 100}));

    let load = Load::start(
        endpoint.port,
        &endpoint.keys().0,
        8,
        Duration::from_millis(2),
    );
    std::thread::sleep(Duration::from_millis(500));
    let (ok, second) = endpoint.json(
        "deploy",
        &[
            "rollout",
            "--model",
            model().to_str().unwrap(),
            "--delete-old",
        ],
    );
    std::thread::sleep(Duration::from_millis(500));
    let by_blue = load.counts.by_blue.load(Ordering::Relaxed);
    let by_green = load.counts.by_green.load(Ordering::Relaxed);
    let (answered, failed, rate, failures) = load.finish();

    assert!(ok, "{second}");
    assert_eq!(second["result"], "succeeded");
    assert_eq!(second["deployment"], "green");
    assert_eq!(second["model"]["version"], "2");
    assert_eq!(second["traffic"], serde_json::json!({"green": 100}));
    assert_eq!(second["error"], Value::Null);
    assert_eq!(
        failed, 0,
        "failed requests during the rollout: {failures:?}"
    );
    eprintln!(
        "load during the rollout: {rate:.0} requests/s, {answered} answered, {failed} failed"
    );
    assert!(
        rate >= 200.0,
        "load was {rate:.0} requests/s ({answered} answered)"
    );
    assert!(
        by_blue > 0 && by_green > 0,
        "blue {by_blue}, green {by_green}"
    );
    let steps = second["steps"].as_array().unwrap();
    assert_eq!(steps.len(), 3);
    assert!(
        steps.iter().all(|s| s["requests"].as_u64().unwrap() > 0),
        "{second}"
    );

    // --delete-old: blue is gone, its process too.
    let status = endpoint.status();
    let names: Vec<&str> = status["deployments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["green"]);
    assert!(
        !endpoint
            .processes()
            .iter()
            .any(|(_, cmd)| cmd.contains("--name blue")),
        "{:?}",
        endpoint.processes()
    );

    endpoint.delete_leaving_no_process();
}

#[test]
fn corrupted_artifact_stops_before_traffic_moves_and_failures_roll_back() {
    let endpoint = LocalEndpoint::new(FAST_STEPS, "");
    assert!(endpoint.try_rollout(&model(), &[]).0);

    // A corrupted artifact: nothing registered, no deployment created, traffic untouched.
    let mut bytes = std::fs::read(model()).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x20;
    let corrupted = endpoint.dir.path().join("corrupted.finbeh");
    std::fs::write(&corrupted, bytes).unwrap();
    let (ok, report) = endpoint.try_rollout(&corrupted, &[]);
    assert!(!ok);
    assert_eq!(report["result"], "failed", "{report}");
    assert_eq!(report["error"]["code"], "InvalidArtifact", "{report}");
    assert!(
        report["error"]["message"]
            .as_str()
            .unwrap()
            .contains("SHA-256")
    );
    assert_eq!(report["traffic"], serde_json::json!({"blue": 100}));
    assert_eq!(
        endpoint.status()["deployments"].as_array().unwrap().len(),
        1
    );

    // A gate that cannot pass, under load: traffic goes back to blue, green is kept for its logs.
    let load = Load::start(
        endpoint.port,
        &endpoint.keys().0,
        2,
        Duration::from_millis(5),
    );
    let (ok, report) = endpoint.try_rollout(
        &model(),
        &[("FINBEH__DEPLOY__ROLLOUT__MAX_P99_MS", "0.0001")],
    );
    let (_, failed, _, failures) = load.finish();
    assert!(!ok);
    assert_eq!(report["result"], "rolled_back", "{report}");
    assert_eq!(report["error"]["code"], "GateFailed", "{report}");
    assert!(
        report["error"]["message"]
            .as_str()
            .unwrap()
            .contains("max_p99_ms")
    );
    assert!(report["logs_tail"].as_str().is_some_and(|t| !t.is_empty()));
    assert_eq!(report["traffic"], serde_json::json!({"blue": 100}));
    assert_eq!(failed, 0, "{failures:?}");
    let status = endpoint.status();
    assert_eq!(status["traffic"], serde_json::json!({"blue": 100}));
    assert_eq!(status["deployments"].as_array().unwrap().len(), 2);

    // A good rollout, then `deploy rollback` restores the map from before it.
    let (ok, report) = endpoint.try_rollout(&model(), &[]);
    assert!(ok, "{report}");
    assert_eq!(report["traffic"], serde_json::json!({"green": 100}));
    let (ok, restored) = endpoint.json("deploy", &["rollback"]);
    assert!(ok, "{restored}");
    assert_eq!(restored["traffic"], serde_json::json!({"blue": 100}));
    assert_eq!(
        endpoint.status()["traffic"],
        serde_json::json!({"blue": 100})
    );
}

#[test]
fn processes_registry_restarts_reboots_and_no_orphans() {
    let endpoint = LocalEndpoint::new(FAST_STEPS, "");

    // Concurrent `register` processes never share a version.
    let children: Vec<_> = (0..6)
        .map(|_| {
            Command::new(deploy_binary())
                .arg("--config")
                .arg(endpoint.config())
                .args(["register", "--model", model().to_str().unwrap(), "--json"])
                .stdout(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let versions: BTreeSet<u64> = children
        .into_iter()
        .map(|c| {
            let out = c.wait_with_output().unwrap();
            assert!(out.status.success());
            let v: Value = serde_json::from_slice(&out.stdout).unwrap();
            v["version"].as_str().unwrap().parse().unwrap()
        })
        .collect();
    assert_eq!(versions, (1..=6).collect());

    assert!(endpoint.try_rollout(&model(), &[]).0);

    // A deployment that dies is restarted and reported.
    let blue = endpoint
        .processes()
        .into_iter()
        .find(|(_, cmd)| cmd.contains("serve-deployment --name blue"))
        .unwrap()
        .0;
    Command::new("kill")
        .args(["-9", &blue.to_string()])
        .status()
        .unwrap();
    let started = Instant::now();
    let restarted = loop {
        let status = endpoint.status();
        let deployment = &status["deployments"][0];
        if deployment["state"] == "Succeeded"
            && deployment["detail"]
                .as_str()
                .is_some_and(|d| d.contains("restarted 1"))
        {
            break deployment.clone();
        }
        assert!(started.elapsed() < Duration::from_secs(20), "{status}");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(
        restarted["detail"].as_str().unwrap().contains("SIGKILL"),
        "{restarted}"
    );

    // The daemon killed (as by a reboot): status says Stopped, its deployments died with it.
    let daemon = endpoint.daemon_pid();
    Command::new("kill")
        .args(["-9", &daemon.to_string()])
        .status()
        .unwrap();
    assert_eq!(
        endpoint.wait_for_no_process(),
        Vec::new(),
        "deployments outlived their daemon"
    );
    let status = endpoint.status();
    assert_eq!(status["endpoint"]["state"], "Stopped", "{status}");
    assert_eq!(status["deployments"][0]["state"], "Stopped");
    assert_eq!(status["traffic"], serde_json::json!({"blue": 100}));

    // `deploy start` restores it, keys and traffic included.
    let (ok, restored) = endpoint.json("deploy", &["start"]);
    assert!(ok, "{restored}");
    assert_eq!(restored["endpoint"]["state"], "Succeeded");
    assert_eq!(
        restored["deployments"][0]["state"], "Succeeded",
        "{restored}"
    );
    let load = Load::start(
        endpoint.port,
        &endpoint.keys().0,
        1,
        Duration::from_millis(1),
    );
    std::thread::sleep(Duration::from_millis(200));
    let (answered, failed, _, failures) = load.finish();
    assert!(answered > 0 && failed == 0, "{failures:?}");

    // A wrong key is refused at the router, as on Azure.
    let stream = BufReader::new(TcpStream::connect(("127.0.0.1", endpoint.port)).unwrap());
    let (status, _, _) = request(stream, "wrong", &golden_bodies()[0]).unwrap();
    assert_eq!(status, 401);

    endpoint.delete_leaving_no_process();
}

#[test]
fn a_deployment_that_cannot_start_fails_with_azures_code_and_its_log_and_takes_no_traffic() {
    let endpoint = LocalEndpoint::new(FAST_STEPS, "");
    assert!(endpoint.try_rollout(&model(), &[]).0);
    // Another process holds green's port: the new deployment exits before it is ready.
    let green_port = endpoint.green_port;
    let _squatter = TcpListener::bind(("127.0.0.1", green_port)).unwrap();
    let (ok, report) = endpoint.try_rollout(&model(), &[]);
    assert!(!ok);
    assert_eq!(report["result"], "failed", "{report}");
    assert_eq!(report["deployment"], "green");
    assert_eq!(report["error"]["code"], "ResourceNotReady", "{report}");
    let message = report["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("User container has crashed or terminated"),
        "{message}"
    );
    assert!(
        message.contains("port"),
        "the hint names the symptom: {message}"
    );
    let tail = report["logs_tail"].as_str().unwrap();
    assert!(tail.contains(&green_port.to_string()), "{tail}");
    assert_eq!(report["traffic"], serde_json::json!({"blue": 100}));
    // The failed deployment is kept for its logs, and traffic cannot be moved to it.
    let moved = endpoint.run("deploy", &["traffic", "blue=50,green=50"]);
    assert!(
        !moved.status.success(),
        "traffic moved to a deployment that is not ready"
    );
    let stderr = String::from_utf8_lossy(&moved.stderr);
    assert!(stderr.contains("DeploymentNotReady"), "{stderr}");
    let status = endpoint.status();
    assert_eq!(status["traffic"], serde_json::json!({"blue": 100}));
    assert_eq!(status["deployments"][1]["state"], "Failed", "{status}");
    let logs = endpoint.run("deploy", &["logs", "green", "--tail", "5"]);
    assert!(!logs.stdout.is_empty());
}

/// Rows in the `predictions` table of `db` (0 when the file does not exist).
fn logged_rows(db: &Path) -> i64 {
    if !db.is_file() {
        return 0;
    }
    let connection = rusqlite::Connection::open(db).unwrap();
    connection
        .query_row("SELECT count(*) FROM predictions", [], |row| row.get(0))
        .unwrap_or(0)
}

/// Sends each golden record once through the router; every answer must be a 200.
fn score_golden_set(port: u16, key: &str) -> i64 {
    let bodies = golden_bodies();
    for body in &bodies {
        let stream = BufReader::new(TcpStream::connect(("127.0.0.1", port)).unwrap());
        let (status, _, _) = request(stream, key, body).unwrap();
        assert_eq!(status, 200);
    }
    i64::try_from(bodies.len()).unwrap()
}

/// A `POST /labels` pinned to `deployment`: its status.
fn post_label(port: u16, key: &str, deployment: &str) -> u16 {
    let class = ModelArtifact::read(model()).unwrap().classes()[0].clone();
    let body = serde_json::json!({"labels": [{"request_id": "r-1", "row": 0, "label": class}]})
        .to_string();
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let head = format!(
        "POST /labels HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {key}\r\n\
         azureml-model-deployment: {deployment}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(head.as_bytes()).unwrap();
    let mut line = String::new();
    BufReader::new(stream).read_line(&mut line).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// Waits (10 s at most) until `db` holds `rows` predictions; returns what it holds then.
fn wait_for_rows(db: &Path, rows: i64) -> i64 {
    let started = Instant::now();
    loop {
        let logged = logged_rows(db);
        if logged >= rows || started.elapsed() > Duration::from_secs(10) {
            return logged;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn deployments_log_their_predictions_exactly_when_the_monitor_is_enabled() {
    let endpoint = LocalEndpoint::new(
        "steps = [100]\nsoak_seconds = 0.2",
        "[monitor]\nbatch_interval_ms = 20\n",
    );
    let blue_log = endpoint.state_dir().join("monitor/blue.sqlite");
    let green_log = endpoint.state_dir().join("monitor/green.sqlite");
    let off = [("FINBEH__MONITOR__ENABLED", "false")];
    let on = [("FINBEH__MONITOR__ENABLED", "true")];

    // Started by `deploy rollout` with the monitor off (the `deploy` example's default): the
    // deployment scores, logs nothing, and has no label route.
    let (ok, report) = endpoint.try_rollout(&model(), &off);
    assert!(ok, "{report}");
    let key = endpoint.keys().0;
    score_golden_set(endpoint.port, &key);
    assert_eq!(post_label(endpoint.port, &key, "blue"), 404);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        logged_rows(&blue_log),
        0,
        "{} was written",
        blue_log.display()
    );

    // The daemon killed (as by a reboot), then `deploy start` with the monitor on: the restored
    // deployment logs every scored record, in a log of its own under the state directory.
    Command::new("kill")
        .args(["-9", &endpoint.daemon_pid().to_string()])
        .status()
        .unwrap();
    assert_eq!(endpoint.wait_for_no_process(), Vec::new());
    let (ok, restored) = endpoint.json_env("deploy", &["start"], &on);
    assert!(ok, "{restored}");
    assert_eq!(
        restored["deployments"][0]["state"], "Succeeded",
        "{restored}"
    );
    let sent = score_golden_set(endpoint.port, &key);
    assert_eq!(wait_for_rows(&blue_log, sent), sent);
    let deployment: String = rusqlite::Connection::open(&blue_log)
        .unwrap()
        .query_row("SELECT DISTINCT deployment FROM predictions", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(deployment, "blue");
    assert_eq!(post_label(endpoint.port, &key, "blue"), 202);

    // A deployment the restored daemon starts (a rollout over it) logs too: the daemon starts
    // every deployment with the settings it was started with.
    let (ok, report) = endpoint.try_rollout(&model(), &off);
    assert!(ok, "{report}");
    assert_eq!(report["deployment"], "green");
    let sent_green = score_golden_set(endpoint.port, &key);
    assert!(wait_for_rows(&green_log, sent_green) >= sent_green);

    endpoint.delete_leaving_no_process();
}
