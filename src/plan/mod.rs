//! Pure plans: what each step will do, computed before any side effect and printed
//! by `--dry-run`.

// Ratchet (issue #12, merged after the lints table): indexes lengths it checked or serde_json::Value (whose Index gives Null), expects invariants it sets up itself. Remove as it is rewritten.
#[allow(clippy::indexing_slicing, clippy::expect_used)]
pub mod addons;
// Ratchet (issue #12): indexes lengths it checked or serde_json::Value (whose Index gives Null, never panics). Remove as it is rewritten.
#[allow(clippy::indexing_slicing)]
pub mod build;
// Ratchet (issue #12, merged after the lints table): indexes lengths it checked or serde_json::Value (whose Index gives Null), expects invariants it sets up itself. Remove as it is rewritten.
#[allow(clippy::indexing_slicing, clippy::expect_used)]
pub mod compose;
pub mod deploy;
pub mod manifests;
// Ratchet (issue #12, merged after the lints table): indexes lengths it checked or serde_json::Value (whose Index gives Null), expects invariants it sets up itself. Remove as it is rewritten.
#[allow(clippy::indexing_slicing, clippy::expect_used)]
pub mod infra;
pub mod refer;
pub mod scan;
