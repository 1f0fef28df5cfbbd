//! One module per group of stages; each stage is a function of the run's context.

pub(crate) mod checks;
pub(crate) mod deploy;
pub(crate) mod model;
pub(crate) mod prepare;
pub(crate) mod report;
pub(crate) mod traffic;
