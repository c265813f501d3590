//! Pure plans: what each step will do, computed before any side effect and printed
//! by `--dry-run`.

pub mod addons;
pub mod build;
pub mod compose;
pub mod deploy;
pub mod infra;
pub mod json;
pub mod manifests;
pub mod refer;
pub mod scan;
