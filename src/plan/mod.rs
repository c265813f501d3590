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
// Ratchet (issue #12): indexes lengths it checked or serde_json::Value (whose Index gives Null, never panics). Remove as it is rewritten.
#[allow(clippy::indexing_slicing)]
pub mod deploy;
// Ratchet (issue #12, merged after the lints table): indexes lengths it checked or serde_json::Value (whose Index gives Null), expects invariants it sets up itself. Remove as it is rewritten.
#[allow(clippy::indexing_slicing, clippy::expect_used)]
pub mod infra;
// Ratchet (issue #12): expects invariants it sets up itself (static patterns, plain data that always serializes). Remove as it is rewritten.
#[allow(clippy::expect_used)]
pub mod refer;
pub mod scan;
