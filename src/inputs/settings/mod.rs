//! Resolved, typed settings, one file per step. Every check on a value happens here,
//! before any step starts, so bad input never leaves anything half-done.

mod build;
mod scan;

pub use build::{BuildSettings, ImageName, SecretSource, SecretSpec};
pub use scan::{ScanInput, ScanSettings, TrivySettings, severities};
