//! The domain model: findings from one scan, the ignore list and the gate. Pure data
//! and pure functions; no I/O (Trivy's report file is read by `clients::trivy::results`).

pub mod diagnostic;
pub mod findings;
pub mod gate;
pub mod host_kind;
pub mod ignore;
pub mod image_ref;
pub mod pipeline;
pub mod pod_security;
pub mod rollout;
pub mod sign_in;
pub mod step;
pub mod text;
pub mod trivy_source;
pub mod whatif;
pub mod wildcard;
pub mod workload_kind;

pub use findings::{Finding, FindingKind, Rule, ScanFindings, Severity, SeverityCounts, Target};
