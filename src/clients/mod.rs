//! One room per external system. Each client takes its endpoint (base URL, binary path)
//! from its caller, has its own error enum, and never imports `plan` or `steps`.

pub mod acr;
pub mod azure;
pub mod azure_devops;
pub mod docker;
// Ratchet (issue #12): expects invariants it sets up itself (static patterns, plain data that always serializes); indexes lengths it checked or serde_json::Value (whose Index gives Null, never panics). Remove as it is rewritten.
#[allow(clippy::expect_used, clippy::indexing_slicing)]
pub mod github;
pub mod http;
pub mod kube;
pub mod trivy;
