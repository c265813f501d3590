//! Pure renderers: data in, text out. Each is the only importer of its format and is
//! snapshot-tested.

pub mod build_summary;
pub mod comment;
pub mod manifests;
pub mod markdown;
pub mod refer_summary;
pub mod sarif;
pub mod scan_summary;
pub mod whatif;
