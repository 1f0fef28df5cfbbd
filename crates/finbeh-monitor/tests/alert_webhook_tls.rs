//! The Alertmanager webhook over https against a local TLS receiver (rustls on a free port,
//! offline): a failure, a retry, then delivery when the receiver's CA is trusted
//! (`webhook_tls.ca_file`); refused, after every attempt, when it is not.
//!
//! The fixtures in `tests/fixtures/tls/` are a test CA and a `localhost` / `127.0.0.1` server
//! certificate it signed (P-256, valid until 2126), made with:
//! `openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key -out ca.pem
//! -days 36500 -subj "/CN=finbeh test CA" -addext basicConstraints=critical,CA:TRUE -addext
//! keyUsage=critical,keyCertSign,cRLSign`, a `localhost` key and CSR, `openssl x509 -req -CA ca.pem
//! -CAkey ca.key -days 36500` with `subjectAltName=DNS:localhost,IP:127.0.0.1`,
//! `extendedKeyUsage=serverAuth`, and `openssl pkcs8 -topk8 -nocrypt` for the key.
#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use finbeh_config::{AlertSettings, WebhookTlsSettings};
use finbeh_monitor::{AlertParams, AlertValidParams, Webhook};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/tls")
        .join(name)
}

/// A TLS receiver answering `statuses` in turn (then 200) on its own thread, keeping each
/// request body; stopped and joined on drop.
struct TlsReceiver {
    url: String,
    bodies: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    port: u16,
}

impl Drop for TlsReceiver {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop.
        let _ = std::net::TcpStream::connect(("127.0.0.1", self.port));
        if let Some(thread) = self.thread.take() {
            thread.join().unwrap();
        }
    }
}

fn tls_receiver(statuses: Vec<u16>) -> TlsReceiver {
    let certs: Vec<CertificateDer<'static>> =
        CertificateDer::pem_file_iter(fixture("localhost.pem"))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
    let key = PrivateKeyDer::from_pem_file(fixture("localhost.key.pem")).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = Arc::new(
        rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .unwrap(),
    );
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let bodies = Arc::new(Mutex::new(Vec::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let (kept, stopping) = (Arc::clone(&bodies), Arc::clone(&stop));
    let thread = std::thread::spawn(move || {
        let mut answered = 0;
        for stream in listener.incoming() {
            if stopping.load(Ordering::SeqCst) {
                break;
            }
            let Ok(stream) = stream else { continue };
            let Ok(connection) = rustls::ServerConnection::new(Arc::clone(&config)) else {
                continue;
            };
            let mut tls = rustls::StreamOwned::new(connection, stream);
            // A client that rejects the certificate ends the handshake here: no request.
            let Some(body) = read_request(&mut tls) else {
                continue;
            };
            kept.lock().unwrap().push(body);
            let status = statuses.get(answered).copied().unwrap_or(200);
            answered += 1;
            let _ = write!(
                tls,
                "HTTP/1.1 {status} X\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
            );
            let _ = tls.flush();
            tls.conn.send_close_notify();
            let _ = tls.flush();
        }
    });
    TlsReceiver {
        url: format!("https://localhost:{port}/hook"),
        bodies,
        stop,
        thread: Some(thread),
        port,
    }
}

/// One HTTP/1.1 request's body (by its content-length), or `None` if the connection fails.
fn read_request(stream: &mut impl Read) -> Option<String> {
    let mut reader = BufReader::new(stream);
    let mut length = 0;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).ok()? == 0 {
            return None;
        }
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':')
            && name.eq_ignore_ascii_case("content-length")
        {
            length = value.trim().parse().ok()?;
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    String::from_utf8(body).ok()
}

fn params(url: &str, ca_file: Option<PathBuf>) -> AlertValidParams {
    AlertParams(AlertSettings {
        webhook_url: Some(url.to_owned()),
        webhook_initial_backoff_ms: 20,
        webhook_max_backoff_ms: 40,
        webhook_max_attempts: 3,
        webhook_timeout_ms: 5_000,
        webhook_tls: WebhookTlsSettings { ca_file },
        ..AlertSettings::default()
    })
    .check()
    .unwrap()
}

#[test]
fn an_https_receiver_whose_ca_is_trusted_gets_the_payload_after_a_retry() {
    let receiver = tls_receiver(vec![503]);
    let webhook = Webhook::start(
        &receiver.url,
        &params(&receiver.url, Some(fixture("ca.pem"))),
    )
    .unwrap();
    assert!(webhook.enqueue(br#"{"version":"4","status":"firing"}"#.to_vec()));
    let totals = webhook.close().unwrap();
    assert_eq!((totals.delivered, totals.retries, totals.failed), (1, 1, 0));
    let bodies = receiver.bodies.lock().unwrap();
    assert_eq!(bodies.len(), 2);
    assert_eq!(bodies[1], r#"{"version":"4","status":"firing"}"#);
}

#[test]
fn an_https_receiver_outside_the_trusted_roots_is_refused_after_every_attempt() {
    let receiver = tls_receiver(Vec::new());
    // Mozilla's roots do not hold the test CA: the handshake fails, no request is sent.
    let webhook = Webhook::start(&receiver.url, &params(&receiver.url, None)).unwrap();
    assert!(webhook.enqueue(b"{}".to_vec()));
    let totals = webhook.close().unwrap();
    assert_eq!((totals.delivered, totals.retries, totals.failed), (0, 2, 1));
    assert!(receiver.bodies.lock().unwrap().is_empty());
}

#[test]
fn a_ca_file_that_holds_no_certificate_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty.pem");
    std::fs::write(&empty, "not a certificate\n").unwrap();
    let error = Webhook::start(
        "https://localhost:1/hook",
        &params("https://localhost:1/hook", Some(empty.clone())),
    )
    .unwrap_err()
    .to_string();
    assert!(
        error.contains("webhook_tls.ca_file") && error.contains("empty.pem"),
        "{error}"
    );
    let error = Webhook::start("ftp://localhost/hook", &params("http://x/", None))
        .unwrap_err()
        .to_string();
    assert!(error.contains("http:// and https://"), "{error}");
}
