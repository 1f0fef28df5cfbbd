//! Mutation fuzz of the artifact decoder over real artifacts: flipped bytes, truncations,
//! resized sections, mangled tree bytes and huge values in every integer field of the header
//! and of both sections, each with the SHA-256 recomputed so the inner checks are reached.
//! [`ModelArtifact::from_bytes`] must return an error (or, for a mutation that leaves a valid
//! artifact, e.g. a flipped letter in the model name, a model that verifies again), never panic,
//! and stay under an address-space limit: the fuzz runs in a child process under `ulimit -v`,
//! where an allocation beyond the limit fails and aborts the child.
#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions

mod mutate;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::process::Command;

use finbeh_train::ModelArtifact;
use mutate::{CALB, CHECKSUM_LEN, HEADER_LEN_AT, PIPE, Parts, SMPL, TREE, join, seal, split};

/// Address space of the fuzzing child, in KiB. The child's own baseline (binary, thread stacks,
/// the allocator's per-thread arena reservations) peaks at about 210 MiB of address space for
/// about 10 MiB resident; a decoder that sizes anything by a forged count (2^28 classes took
/// 1-2 GiB, 2^40 asked for 4 TiB) goes far beyond the remaining headroom.
const ADDRESS_SPACE_KIB: u64 = 384 * 1024;

/// Seeded mutations per kind and artifact (the huge-value pass covers every integer field).
const FLIPS: usize = 300;
const TRUNCATIONS: usize = 100;
const RESIZES: usize = 100;
const TREE_EDITS: usize = 150;
const COVER_EDITS: usize = 100;

/// Values written into every integer field: past every bound the decoder has (the widest
/// 32-bit values for day counts), including the class counts of the original report (2^28,
/// 2^40, 2^61).
const HUGE: [i128; 8] = [
    i32::MAX as i128,
    i32::MIN as i128,
    1 << 28,
    1 << 40,
    1 << 61,
    u64::MAX as i128,
    -1,
    i64::MIN as i128,
];

/// The forest section's integers that size or shape the decoded forest.
const FOREST_COUNTS: [&str; 5] = [
    "/format_version",
    "/tree_encoding",
    "/n_features",
    "/n_classes",
    "/n_trees",
];

const CHILD_TEST: &str = "mutation_fuzz_child";

#[test]
fn mutated_artifacts_are_refused_without_panic_under_an_address_space_limit() {
    let exe = std::env::current_exe().unwrap();
    let output = Command::new("sh")
        .arg("-c")
        .arg(r#"ulimit -v "$1" && exec "$2" --ignored --exact "$3" --nocapture --test-threads=1"#)
        .arg("sh")
        .arg(ADDRESS_SPACE_KIB.to_string())
        .arg(&exe)
        .arg(CHILD_TEST)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success() && stdout.contains("1 passed"),
        "the fuzzing child failed ({}):\n{stdout}\n{stderr}",
        output.status
    );
    // The child's figures (libtest may print its "test ... " prefix on the same line).
    for line in stdout
        .lines()
        .filter_map(|l| l.find("fuzz:").map(|at| &l[at..]))
    {
        println!("{line}");
    }
}

/// The fuzz itself; run by the test above in a child process under the address-space limit.
#[test]
#[ignore = "run by mutated_artifacts_are_refused_without_panic_under_an_address_space_limit"]
fn mutation_fuzz_child() {
    let trained = mutate::train_fixture().to_bytes().unwrap();
    let fixture = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/model-v1.1.0.finbeh"
    ))
    .unwrap();
    let mut fuzz = Fuzz::default();
    for (i, original) in [&trained, &fixture].into_iter().enumerate() {
        ModelArtifact::from_bytes(original).unwrap();
        let mut rng = 0x5EED_0000 + i as u64;
        fuzz.flips(original, &mut rng);
        fuzz.truncations(original, &mut rng);
        fuzz.resizes(original, &mut rng);
        fuzz.tree_edits(original, &mut rng);
        if i == 0 {
            // Format 1.3.0's node cover (the 1.1.0 fixture has none).
            fuzz.cover_edits(original, &mut rng);
        }
        fuzz.huge_values(original);
    }
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .map_or("?".to_owned(), |l| l[name.len()..].trim().to_owned())
    };
    println!(
        "fuzz: {} mutations, {} refused, {} still valid artifacts; peak address space (VmPeak) {}, peak resident (VmHWM) {}, limit {} kB",
        fuzz.runs,
        fuzz.refused,
        fuzz.valid,
        field("VmPeak:"),
        field("VmHWM:"),
        ADDRESS_SPACE_KIB
    );
    assert!(
        fuzz.failures.is_empty(),
        "{} of {} mutations failed:\n{}",
        fuzz.failures.len(),
        fuzz.runs,
        fuzz.failures.join("\n")
    );
}

fn next(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn below(state: &mut u64, n: usize) -> usize {
    (next(state) % n.max(1) as u64) as usize
}

#[derive(Default)]
struct Fuzz {
    runs: usize,
    refused: usize,
    valid: usize,
    failures: Vec<String>,
}

impl Fuzz {
    /// Loads `bytes`: an error is the expected outcome; a success must be an artifact that
    /// re-encodes and verifies again (`must_fail` forbids even that); a panic is a failure.
    fn check(&mut self, what: &str, bytes: &[u8], must_fail: bool) {
        self.runs += 1;
        match catch_unwind(AssertUnwindSafe(|| ModelArtifact::from_bytes(bytes))) {
            Err(panic) => {
                let message = panic
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                    .unwrap_or_default();
                self.failures.push(format!("{what}: panicked: {message}"));
            }
            Ok(Err(err)) => {
                self.refused += 1;
                if err.to_string().trim().is_empty() {
                    self.failures
                        .push(format!("{what}: an error with no reason"));
                }
            }
            Ok(Ok(_)) if must_fail => self.failures.push(format!("{what}: loaded")),
            Ok(Ok(artifact)) => {
                self.valid += 1;
                let again = artifact
                    .to_bytes()
                    .and_then(|b| ModelArtifact::from_bytes(&b));
                if again.as_ref().ok() != Some(&artifact) {
                    self.failures
                        .push(format!("{what}: loaded but does not round-trip"));
                }
            }
        }
    }

    fn flips(&mut self, original: &[u8], rng: &mut u64) {
        let body = &original[..original.len() - CHECKSUM_LEN];
        for _ in 0..FLIPS {
            let mut mutated = body.to_vec();
            let at = below(rng, body.len());
            let mask = 1 + below(rng, 255) as u8;
            mutated[at] ^= mask;
            self.check(
                &format!("byte {at} ^ {mask:#04x}"),
                &seal(mutated),
                at < HEADER_LEN_AT + 4,
            );
        }
    }

    fn truncations(&mut self, original: &[u8], rng: &mut u64) {
        let body = &original[..original.len() - CHECKSUM_LEN];
        for _ in 0..TRUNCATIONS {
            let len = below(rng, body.len());
            self.check(
                &format!("truncated to {len}"),
                &seal(body[..len].to_vec()),
                true,
            );
        }
    }

    /// A section's declared length changed, bytes inserted into or cut from a section (lengths
    /// kept consistent), a section duplicated, or an unknown section declaring a huge length.
    fn resizes(&mut self, original: &[u8], rng: &mut u64) {
        let parts = split(original);
        for _ in 0..RESIZES {
            let (what, bytes, must_fail) = match below(rng, 4) {
                0 => {
                    let s = below(rng, parts.sections.len());
                    let delta = [1i64, -1, 7, -4096, 1 << 32, i64::MAX][below(rng, 6)];
                    (
                        format!("section {s} length {delta:+}"),
                        declared_length(&parts, s, delta),
                        true,
                    )
                }
                1 => {
                    let mut p = parts.clone();
                    let data = pick_data(&mut p, rng);
                    let at = below(rng, data.len());
                    let n = 1 + below(rng, 64);
                    let junk: Vec<u8> = (0..n).map(|_| next(rng) as u8).collect();
                    data.splice(at..at, junk);
                    (format!("{n} bytes inserted at {at}"), join(&p), false)
                }
                2 => {
                    let mut p = parts.clone();
                    let data = pick_data(&mut p, rng);
                    let at = below(rng, data.len());
                    let end = (at + 1 + below(rng, 64)).min(data.len());
                    data.drain(at..end);
                    (format!("bytes {at}..{end} cut"), join(&p), false)
                }
                _ => {
                    let mut p = parts.clone();
                    let s = below(rng, p.sections.len());
                    p.sections.push(p.sections[s].clone());
                    let mut bytes = join(&p);
                    // And an unknown trailing section that declares far more than the file holds.
                    bytes.truncate(bytes.len() - CHECKSUM_LEN);
                    bytes.extend_from_slice(b"XTRA");
                    bytes.extend_from_slice(&(u64::MAX - next(rng) % 1024).to_le_bytes());
                    (
                        format!("section {s} duplicated + huge unknown"),
                        seal(bytes),
                        true,
                    )
                }
            };
            self.check(&what, &bytes, must_fail);
        }
    }

    /// Flipped bytes, huge node counts and truncations inside the forest's packed tree bytes.
    fn tree_edits(&mut self, original: &[u8], rng: &mut u64) {
        for _ in 0..TREE_EDITS {
            let kind = below(rng, 3);
            let (a, b) = (next(rng), next(rng));
            let bytes = mutate::edit_tree_bytes(original, |raw| match kind {
                0 => {
                    let at = (a % raw.len() as u64) as usize;
                    raw[at] ^= 1 + (b % 255) as u8;
                }
                1 => {
                    let count = [u32::MAX, 1 << 28, 1 << 16, 0][(b % 4) as usize];
                    raw[..4].copy_from_slice(&count.to_le_bytes());
                }
                _ => raw.truncate((a % raw.len() as u64) as usize),
            });
            self.check(
                &format!("tree bytes edit {kind} ({a:x}, {b:x})"),
                &bytes,
                kind > 0,
            );
        }
    }

    /// Flipped bytes, truncations, extra bytes and negative or non-finite weights in the
    /// forest's node cover (8 bytes per node).
    fn cover_edits(&mut self, original: &[u8], rng: &mut u64) {
        for _ in 0..COVER_EDITS {
            let kind = below(rng, 4);
            let (a, b) = (next(rng), next(rng));
            let bytes = mutate::edit_cover_bytes(original, |raw| {
                let node = (a % (raw.len() / 8) as u64) as usize;
                match kind {
                    0 => raw[node * 8 + (b % 8) as usize] ^= 1 + (b % 255) as u8,
                    1 => raw.truncate(node * 8 + (b % 8) as usize),
                    2 => raw.extend_from_slice(&1.0f64.to_le_bytes()),
                    _ => {
                        let bad = [-1.0, f64::NAN, f64::INFINITY][(b % 3) as usize];
                        raw[node * 8..node * 8 + 8].copy_from_slice(&bad.to_le_bytes());
                    }
                }
            });
            self.check(
                &format!("cover bytes edit {kind} ({a:x}, {b:x})"),
                &bytes,
                kind > 0,
            );
        }
    }

    /// Every integer field of the header and the sections set, in turn, to each huge value.
    fn huge_values(&mut self, original: &[u8]) {
        let parts = split(original);
        let slots: Vec<(Option<[u8; 4]>, &[u8])> = std::iter::once((None, &parts.header[..]))
            .chain(parts.sections.iter().map(|(t, d)| (Some(*t), &d[..])))
            .collect();
        for (tag, data) in slots {
            let value: serde_json::Value = serde_json::from_slice(data).unwrap();
            let mut paths = Vec::new();
            integer_paths(&value, String::new(), &mut paths);
            for path in paths {
                for huge in HUGE {
                    let mut edited = value.clone();
                    *edited.pointer_mut(&path).unwrap() =
                        serde_json::from_str(&huge.to_string()).unwrap();
                    let mut p = parts.clone();
                    let text = serde_json::to_vec(&edited).unwrap();
                    match tag {
                        None => p.header = text,
                        Some(tag) => {
                            p.sections.iter_mut().find(|(t, _)| *t == tag).unwrap().1 = text;
                        }
                    }
                    let section = tag.map_or("header".to_owned(), |t| {
                        String::from_utf8_lossy(&t).into_owned()
                    });
                    // Every pipeline integer is a count, index or day the decoder bounds; of
                    // the forest's, the counts and versions (its hyperparameters are metadata).
                    // Of format 1.3.0's sections: their versions and the sample's class indices.
                    let new_section = tag == Some(SMPL) || tag == Some(CALB);
                    let must_fail = huge != -1
                        && (tag == Some(PIPE)
                            || (tag == Some(TREE) && FOREST_COUNTS.contains(&path.as_str()))
                            || (new_section && path == "/format_version")
                            || (tag == Some(SMPL) && path.starts_with("/labels/")));
                    self.check(&format!("{section} {path} = {huge}"), &join(&p), must_fail);
                }
            }
        }
        // The report's crafted forest: leafless trees (no leaf value is read) with a huge class
        // count, which once sized `nodes * n_classes` floats.
        for huge in HUGE {
            let leafless = mutate::edit_tree_bytes(original, |raw| {
                let split = [0u8, 0, 0, 0, 0, 0x3f];
                raw.clear();
                raw.extend_from_slice(&64u32.to_le_bytes());
                raw.extend(std::iter::repeat_n(split, 64).flatten());
            });
            let bytes = mutate::edit_json(&leafless, Some(TREE), |forest| {
                forest["n_trees"] = 1.into();
                forest["n_classes"] = serde_json::from_str(&huge.to_string()).unwrap();
            });
            self.check(&format!("leafless tree, n_classes = {huge}"), &bytes, true);
        }
    }
}

fn declared_length(parts: &Parts, section: usize, delta: i64) -> Vec<u8> {
    let mut bytes = join(parts);
    bytes.truncate(bytes.len() - CHECKSUM_LEN);
    let mut at = HEADER_LEN_AT + 4 + parts.header.len();
    for (_, data) in &parts.sections[..section] {
        at += 12 + data.len();
    }
    let len = u64::from_le_bytes(bytes[at + 4..at + 12].try_into().unwrap());
    bytes[at + 4..at + 12].copy_from_slice(&len.wrapping_add_signed(delta).to_le_bytes());
    seal(bytes)
}

fn pick_data<'p>(parts: &'p mut Parts, rng: &mut u64) -> &'p mut Vec<u8> {
    let s = below(rng, parts.sections.len() + 1);
    match s.checked_sub(1) {
        None => &mut parts.header,
        Some(i) => &mut parts.sections[i].1,
    }
}

/// JSON pointers of every integer in `value`.
fn integer_paths(value: &serde_json::Value, at: String, out: &mut Vec<String>) {
    match value {
        serde_json::Value::Number(n) if n.is_i64() || n.is_u64() => out.push(at),
        serde_json::Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                integer_paths(item, format!("{at}/{i}"), out);
            }
        }
        serde_json::Value::Object(fields) => {
            for (key, item) in fields {
                let key = key.replace('~', "~0").replace('/', "~1");
                integer_paths(item, format!("{at}/{key}"), out);
            }
        }
        _ => {}
    }
}
