//! Byte-level surgery on artifact files for the refusal tests and the mutation fuzz: split a file
//! into its header and sections, edit them, and seal it again with a recomputed SHA-256 (so the
//! decoder's inner checks are reached instead of the checksum).
#![allow(dead_code)] // not every test binary uses every helper
#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions

use finbeh_data::{DataParams, generate_banking_csv, load_dataset};
use finbeh_train::ModelArtifact;
use sha2::Digest;

/// Offset of the header length field (after the 8 magic bytes).
pub const HEADER_LEN_AT: usize = 8;
/// Length of the trailing SHA-256.
pub const CHECKSUM_LEN: usize = 32;
/// Section tag of the pipeline.
pub const PIPE: [u8; 4] = *b"PIPE";
/// Section tag of the forest.
pub const TREE: [u8; 4] = *b"TREE";
/// Section tag of the reference sample (format 1.3.0).
pub const SMPL: [u8; 4] = *b"SMPL";
/// Section tag of the calibration (format 1.3.0).
pub const CALB: [u8; 4] = *b"CALB";

/// A valid artifact file taken apart.
#[derive(Debug, Clone)]
pub struct Parts {
    pub header: Vec<u8>,
    pub sections: Vec<([u8; 4], Vec<u8>)>,
}

/// Splits a valid artifact into its header and sections (the checksum is dropped).
pub fn split(bytes: &[u8]) -> Parts {
    let body = &bytes[..bytes.len() - CHECKSUM_LEN];
    let header_len =
        u32::from_le_bytes(body[HEADER_LEN_AT..HEADER_LEN_AT + 4].try_into().unwrap()) as usize;
    let mut pos = HEADER_LEN_AT + 4;
    let header = body[pos..pos + header_len].to_vec();
    pos += header_len;
    let mut sections = Vec::new();
    while pos < body.len() {
        let tag: [u8; 4] = body[pos..pos + 4].try_into().unwrap();
        let len = u64::from_le_bytes(body[pos + 4..pos + 12].try_into().unwrap()) as usize;
        pos += 12;
        sections.push((tag, body[pos..pos + len].to_vec()));
        pos += len;
    }
    Parts { header, sections }
}

/// Appends the SHA-256 of `body`.
pub fn seal(mut body: Vec<u8>) -> Vec<u8> {
    let sum = sha2::Sha256::digest(&body);
    body.extend_from_slice(&sum);
    body
}

/// Lays the parts out again (lengths from the parts) and seals the file.
pub fn join(parts: &Parts) -> Vec<u8> {
    let mut out = finbeh_train::ARTIFACT_MAGIC.to_vec();
    out.extend_from_slice(&(parts.header.len() as u32).to_le_bytes());
    out.extend_from_slice(&parts.header);
    for (tag, data) in &parts.sections {
        out.extend_from_slice(tag);
        out.extend_from_slice(&(data.len() as u64).to_le_bytes());
        out.extend_from_slice(data);
    }
    seal(out)
}

/// Re-encodes the JSON of the header (`tag = None`) or a section after `edit`, and reseals.
pub fn edit_json(
    bytes: &[u8],
    tag: Option<[u8; 4]>,
    edit: impl FnOnce(&mut serde_json::Value),
) -> Vec<u8> {
    let mut parts = split(bytes);
    let slot = match tag {
        None => &mut parts.header,
        Some(tag) => {
            &mut parts
                .sections
                .iter_mut()
                .find(|(t, _)| *t == tag)
                .unwrap()
                .1
        }
    };
    let mut value: serde_json::Value = serde_json::from_slice(slot).unwrap();
    edit(&mut value);
    *slot = serde_json::to_vec(&value).unwrap();
    join(&parts)
}

/// Replaces the forest's packed tree bytes (after `edit` on the decoded bytes) and reseals.
pub fn edit_tree_bytes(bytes: &[u8], edit: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
    edit_json(bytes, Some(TREE), |forest| {
        let mut raw = base64_decode(forest["trees"].as_str().unwrap());
        edit(&mut raw);
        forest["trees"] = base64_encode(&raw).into();
    })
}

/// Replaces the forest's node cover bytes (after `edit` on the decoded bytes) and reseals.
pub fn edit_cover_bytes(bytes: &[u8], edit: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
    edit_json(bytes, Some(TREE), |forest| {
        let mut raw = base64_decode(forest["node_cover"].as_str().unwrap());
        edit(&mut raw);
        forest["node_cover"] = base64_encode(&raw).into();
    })
}

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

pub fn base64_encode(bytes: &[u8]) -> String {
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            out.push(if i <= chunk.len() {
                char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize])
            } else {
                '='
            });
        }
    }
    out
}

pub fn base64_decode(text: &str) -> Vec<u8> {
    let value = |c: u8| ALPHABET.iter().position(|&a| a == c).unwrap() as u32;
    let mut out = Vec::new();
    for chunk in text.as_bytes().chunks(4) {
        let pad = chunk.iter().filter(|&&c| c == b'=').count();
        let n = chunk
            .iter()
            .fold(0, |n, &c| (n << 6) | if c == b'=' { 0 } else { value(c) });
        out.extend_from_slice(&[(n >> 16) as u8, (n >> 8) as u8, n as u8][..3 - pad]);
    }
    out
}

/// Trains the fixture through the orchestration (5 trees of depth 4 on 1 500 generated banking
/// rows, seed 11): numeric, categorical and date inputs (the generated data has no boolean column).
pub fn train_fixture() -> ModelArtifact {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bank.csv");
    generate_banking_csv(std::fs::File::create(&path).unwrap(), 1_500, 11).unwrap();
    let data_params = DataParams::default()
        .with_target("Anomaly")
        .check()
        .unwrap();
    let data = load_dataset(&path, &data_params).unwrap();
    let model = finbeh_config::ModelSettings {
        name: "fixture".into(),
        version: "1.0.0".into(),
        n_estimators: 5,
        max_depth: 4,
        n_jobs: 1,
        // Small, so the committed fixture and the mutation fuzz stay small.
        reference_sample_rows: 40,
        ..finbeh_config::ModelSettings::default()
    };
    let job = finbeh_train::TrainingJob {
        data_params: &data_params,
        model: &model,
        test_file: None,
        data_file_name: Some("bank.csv".into()),
        progress: false,
    };
    job.run(&data).unwrap().artifact
}
