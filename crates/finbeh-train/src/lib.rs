//! finbeh-train: not built yet, so this crate exports nothing.
