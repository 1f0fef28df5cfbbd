//! Model registry and deployment targets (local blue/green, Azure ML): not built yet, so this crate exports nothing.

#![deny(missing_docs)]
