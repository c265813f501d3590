//! The domain model: findings from one scan, the ignore list and the gate. Pure data
//! and pure functions; no I/O besides reading the report file in `report`.

pub mod diagnostic;
pub mod findings;
pub mod gate;
pub mod host_kind;
pub mod ignore;
pub mod image_ref;
pub mod pipeline;
pub mod pod_security;
pub mod report;
pub mod rollout;
pub mod text;
pub mod whatif;

pub use findings::{Finding, FindingKind, Rule, ScanReport, Severity, SeverityCounts, Target};
