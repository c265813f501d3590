//! The domain model: findings from one scan, the ignore list and the gate. Pure data
//! and pure functions; no I/O besides reading the report file in `report`.

pub mod diagnostic;
// Ratchet (issue #12): indexes lengths it checked or serde_json::Value (whose Index gives Null, never panics). Remove as it is rewritten.
#[allow(clippy::indexing_slicing)]
pub mod findings;
pub mod gate;
pub mod host_kind;
pub mod ignore;
// Ratchet (issue #12): indexes lengths it checked or serde_json::Value (whose Index gives Null, never panics). Remove as it is rewritten.
#[allow(clippy::indexing_slicing)]
pub mod image_ref;
pub mod pipeline;
pub mod pod_security;
// Ratchet (issue #12): expects invariants it sets up itself (static patterns, plain data that always serializes); indexes lengths it checked or serde_json::Value (whose Index gives Null, never panics). Remove as it is rewritten.
#[allow(clippy::expect_used, clippy::indexing_slicing)]
pub mod report;
pub mod rollout;
pub mod text;

pub use findings::{Finding, FindingKind, Rule, ScanReport, Severity, SeverityCounts, Target};
