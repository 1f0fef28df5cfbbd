//! finbeh-serve: not built yet, so this crate exports nothing.
