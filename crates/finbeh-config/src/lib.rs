//! finbeh-config: not built yet, so this crate exports nothing.
