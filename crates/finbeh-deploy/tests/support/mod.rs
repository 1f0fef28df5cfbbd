//! Test support: Azurite and a fake ARM.
#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)]

pub mod azurite;
pub mod fake_arm;
