//! Azurite (Microsoft's storage emulator) on a free loopback port, in memory, killed on drop.

use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use azure_core::base64;
use azure_core::http::Url;
use azure_storage_blob::{BlobClient, BlobContainerClient};
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Azurite's well-known development account.
pub const ACCOUNT: &str = "devstoreaccount1";
/// Azurite's well-known development account key (public, documented by Microsoft).
pub const ACCOUNT_KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

pub struct Azurite {
    child: Child,
    pub port: u16,
}

impl Azurite {
    /// Starts `azurite-blob` (installed by `.ci/run`: `npm install -g azurite`).
    pub fn start() -> Self {
        let port = free_port();
        let child = Command::new("azurite-blob")
            .args([
                "--inMemoryPersistence",
                "--blobHost",
                "127.0.0.1",
                "--blobPort",
                &port.to_string(),
                "--skipApiVersionCheck",
                "--loose",
                "--silent",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("azurite-blob is not installed: npm install -g azurite (.ci/run does)");
        let azurite = Self { child, port };
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "azurite-blob did not listen on {port}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        azurite
    }

    /// `http://127.0.0.1:P/devstoreaccount1`, the blob service URL.
    pub fn service_url(&self) -> String {
        format!("http://127.0.0.1:{}/{ACCOUNT}", self.port)
    }

    pub async fn create_container(&self, container: &str) {
        let url = sas_url(&self.service_url(), container);
        let client = BlobContainerClient::new(url, None, None).unwrap();
        client.create(None).await.unwrap();
    }
}

fn sas_url(service_url: &str, path: &str) -> Url {
    Url::parse(&format!("{service_url}/{path}?{}", account_sas())).unwrap()
}

/// Overwrites `container/blob` (a test's stand-in for a bad upload or a skewed model).
pub async fn write_blob(service_url: &str, path: &str, bytes: Vec<u8>) {
    let client = BlobClient::new(sas_url(service_url, path), None, None).unwrap();
    client
        .upload(azure_core::Bytes::from(bytes).into(), None)
        .await
        .unwrap();
}

/// The bytes of `container/blob` in the blob service at `service_url`.
pub async fn read_blob(service_url: &str, path: &str) -> Vec<u8> {
    let client = BlobClient::new(sas_url(service_url, path), None, None).unwrap();
    let result = client.download(None).await.unwrap();
    result.body.collect().await.unwrap().to_vec()
}

impl Drop for Azurite {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// An account SAS over the blob service (create containers, read and write blobs), signed per
/// the account SAS specification (version 2020-12-06 and later).
fn account_sas() -> String {
    let (sp, ss, srt, st, se, spr, sv) = (
        "rwdlac",
        "b",
        "sco",
        "2020-01-01T00:00:00Z",
        "2099-01-01T00:00:00Z",
        "https,http",
        "2022-11-02",
    );
    let to_sign = format!("{ACCOUNT}\n{sp}\n{ss}\n{srt}\n{st}\n{se}\n\n{spr}\n{sv}\n\n");
    let key = base64::decode(ACCOUNT_KEY).unwrap();
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).unwrap();
    mac.update(to_sign.as_bytes());
    let sig = base64::encode(mac.finalize().into_bytes());
    let sig: String = sig
        .bytes()
        .map(|b| match b {
            b'+' => "%2B".to_owned(),
            b'/' => "%2F".to_owned(),
            b'=' => "%3D".to_owned(),
            _ => char::from(b).to_string(),
        })
        .collect();
    format!("sv={sv}&ss={ss}&srt={srt}&sp={sp}&st={st}&se={se}&spr=https%2Chttp&sig={sig}")
}
