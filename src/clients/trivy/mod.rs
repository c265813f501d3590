//! Trivy: find it or install a checksum-verified copy, run it once to JSON.
//!
//! Everything else (SARIF, gate, summary) is derived from that one JSON report, so the
//! scanner is never run twice with different flags.

pub mod install;
pub mod pins;
pub mod results;
pub mod run;
pub mod server;

use std::path::PathBuf;

use crate::model::diagnostic::{Diagnostic, Exit};

#[derive(Debug, thiserror::Error)]
pub enum TrivyError {
    #[error("Trivy was not found ({searched}) and downloading it is turned off")]
    NotFound { searched: String },
    #[error("--trivy-path {0} does not exist or is not a file")]
    BadPath(PathBuf),
    #[error("no pinned checksum for Trivy {version} ({source_name}, {os}/{arch})")]
    NoPin {
        version: String,
        source_name: &'static str,
        os: String,
        arch: String,
        pinned: Vec<&'static str>,
    },
    #[error("downloading Trivy from {url} failed: {message}")]
    Download { url: String, message: String },
    #[error(
        "the Trivy archive from {url} does not match its pinned checksum (expected sha256 {expected}, got {actual}); it was not run"
    )]
    Checksum {
        url: String,
        expected: String,
        actual: String,
    },
    #[error(
        "the Trivy binary unpacked into {path} does not match its pinned checksum (expected sha256 {expected}, got {actual}); it was not installed"
    )]
    BinaryChecksum {
        path: PathBuf,
        expected: String,
        actual: String,
    },
    #[error(
        "the cached Trivy at {path} was changed after it was verified ({what}: expected sha256 {expected}, got {actual}); it was not run"
    )]
    Tampered {
        path: PathBuf,
        what: String,
        expected: String,
        actual: String,
    },
    #[error(transparent)]
    Fs(#[from] crate::fsx::FsError),
    #[error("the Trivy archive from {url} is unusable: {message}")]
    Archive { url: String, message: String },
    #[error("cannot install Trivy into {path}: {source}")]
    Install {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot start Trivy ({path}) to {purpose}: {source}")]
    Spawn {
        path: PathBuf,
        purpose: &'static str,
        source: std::io::Error,
    },
    #[error("Trivy failed to {purpose} (exit code {code}){tail}")]
    Failed {
        purpose: &'static str,
        code: i32,
        tail: String,
    },
    #[error("Trivy crashed while trying to {purpose} ({how}){tail}")]
    Crashed {
        purpose: &'static str,
        how: String,
        tail: String,
    },
    #[error("Trivy did not finish within {secs} s while trying to {purpose}")]
    Timeout { purpose: &'static str, secs: u64 },
}

impl Diagnostic for TrivyError {
    fn exit(&self) -> Exit {
        match self {
            TrivyError::NotFound { .. } | TrivyError::BadPath(_) | TrivyError::NoPin { .. } => {
                Exit::BadInput
            }
            TrivyError::Fs(e) => e.exit(),
            _ => Exit::External,
        }
    }

    fn hint(&self) -> Option<String> {
        Some(match self {
            TrivyError::NotFound { .. } => {
                "install Trivy, pass --trivy-path, or allow the verified download with --trivy-download true".into()
            }
            TrivyError::BadPath(_) => "point --trivy-path at the trivy binary".into(),
            TrivyError::NoPin { pinned, .. } => format!(
                "pinned versions for this platform: {}; or install Trivy yourself and pass --trivy-path",
                if pinned.is_empty() { "none".to_string() } else { pinned.join(", ") }
            ),
            TrivyError::Download { .. } => {
                "check the network and --trivy-download-url, or pass --trivy-path".into()
            }
            TrivyError::Checksum { .. } => {
                "the download was altered or corrupted; do not use it. Check --trivy-download-url".into()
            }
            TrivyError::Failed { .. } | TrivyError::Crashed { .. } => {
                "Trivy's own words are above; an image pull needs registry-username/registry-password, an offline scan needs a DB in --trivy-cache-dir with --skip-db-update".into()
            }
            TrivyError::Timeout { .. } => "raise --trivy-timeout".into(),
            TrivyError::BinaryChecksum { .. } => {
                "the archive matched its pin but not the binary in it; do not use it. Check --trivy-download-url".into()
            }
            TrivyError::Tampered { path, .. } => format!(
                "something rewrote our tool cache; delete {} to install the pinned Trivy again, or pass --trivy-path",
                path.parent().unwrap_or(path).display()
            ),
            TrivyError::Fs(e) => return e.hint(),
            _ => return None,
        })
    }
}

/// The last `n` non-empty lines of a child's stderr, as an indented block.
pub(crate) fn tail(stderr: &[u8], n: usize) -> String {
    let text = String::from_utf8_lossy(stderr);
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    if lines.is_empty() {
        return String::new();
    }
    let start = lines.len().saturating_sub(n);
    let mut out = String::from(":");
    for l in lines.get(start..).unwrap_or_default() {
        out.push_str("\n    ");
        out.push_str(l);
    }
    out
}
