//! Resolved, typed settings, one file per step. Every check on a value happens here,
//! before any step starts, so bad input never leaves anything half-done.

mod azure;
mod refer;
mod scan;

pub use azure::AzureSettings;
pub use refer::{Infra, ReferSettings};
pub use scan::{ScanInput, ScanSettings, TrivySettings, severities};
