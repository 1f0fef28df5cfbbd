//! The artifact level: the file read and verified step by step as a server verifies it
//! (magic, SHA-256, format version, structure, golden set), each step its own check.

use std::path::Path;
use std::time::Instant;

use finbeh_train::{ModelArtifact, TrainError};

use crate::checks::report::{CheckLevel, CheckOutcome};

const LEVEL: CheckLevel = CheckLevel::Artifact;

/// The steps of [`ModelArtifact::read`], in order.
const STEPS: [&str; 5] = [
    "read",
    "checksum",
    "format version",
    "structure",
    "golden set",
];

/// Reads `model` and reports each verification step; the artifact when every step passed.
pub(crate) fn artifact_checks(model: &Path) -> (Vec<CheckOutcome>, Option<ModelArtifact>) {
    let started = Instant::now();
    let result = ModelArtifact::read(model);
    let seconds = started.elapsed().as_secs_f64();
    match result {
        Ok(artifact) => {
            let meta = artifact.metadata();
            let details = [
                format!("{} read", model.display()),
                "SHA-256 trailer matches the content".to_owned(),
                format!(
                    "{} (written by {}), this build reads up to {}",
                    meta.format_version,
                    meta.writer,
                    finbeh_train::ARTIFACT_FORMAT_VERSION
                ),
                format!(
                    "model {} {}: {} input columns, classes {}",
                    meta.model_name,
                    meta.model_version,
                    meta.input_columns.len(),
                    meta.classes.join(", ")
                ),
                format!(
                    "{} golden records re-scored bit for bit",
                    meta.golden_set.len()
                ),
            ];
            let mut checks: Vec<CheckOutcome> = STEPS
                .iter()
                .zip(details)
                .map(|(step, detail)| CheckOutcome::pass(LEVEL, *step, detail))
                .collect();
            if let Some(last) = checks.last_mut() {
                last.seconds = seconds;
            }
            (checks, Some(artifact))
        }
        Err(error) => {
            let failed = failed_step(&error);
            let checks = STEPS
                .iter()
                .enumerate()
                .map(|(i, step)| match i.cmp(&failed) {
                    std::cmp::Ordering::Less => CheckOutcome::pass(LEVEL, *step, "ok"),
                    std::cmp::Ordering::Equal => {
                        let mut outcome = CheckOutcome::fail(
                            LEVEL,
                            *step,
                            format!("{}: {error}", model.display()),
                        );
                        outcome.seconds = seconds;
                        outcome
                    }
                    std::cmp::Ordering::Greater => CheckOutcome::fail(
                        LEVEL,
                        *step,
                        format!("not checked: {} failed", STEPS[failed]),
                    ),
                })
                .collect();
            (checks, None)
        }
    }
}

/// Index in [`STEPS`] of the step an error of [`ModelArtifact::read`] comes from.
fn failed_step(error: &TrainError) -> usize {
    match error {
        TrainError::ArtifactIo { .. } | TrainError::NotAnArtifact { .. } => 0,
        TrainError::ArtifactCorrupt { .. } => 1,
        TrainError::UnsupportedArtifactVersion { .. } => 2,
        TrainError::GoldenMismatch { .. } | TrainError::GoldenUnscorable { .. } => 4,
        _ => 3,
    }
}
