//! Pure renderers: data in, text out. Each is the only importer of its format and is
//! snapshot-tested.

pub mod build_summary;
pub mod comment;
pub mod manifests;
pub mod markdown;
pub mod refer_summary;
// Ratchet (issue #12): expects invariants it sets up itself (static patterns, plain data that always serializes); indexes lengths it checked or serde_json::Value (whose Index gives Null, never panics). Remove as it is rewritten.
#[allow(clippy::expect_used, clippy::indexing_slicing)]
pub mod sarif;
pub mod scan_summary;
pub mod whatif;
