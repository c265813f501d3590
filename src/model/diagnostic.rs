//! The nouns every room shares to say how a failure ends: the exit code, the hint, and
//! where it points. They live below everything so that a client's error can describe
//! itself without importing the one `Error` (which imports every client back).

/// Where an annotation points.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Location {
    pub file: Option<String>,
    pub line: Option<u32>,
    pub title: Option<String>,
}

/// Exit codes, documented in the README.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub enum Exit {
    /// 0: everything asked for happened.
    Ok = 0,
    /// 1: the gate (findings) or the rollout said no.
    Refused = 1,
    /// 2: bad input or configuration; nothing was changed.
    BadInput = 2,
    /// 3: an external system (Trivy, a registry, Azure, the cluster) failed.
    External = 3,
}

impl Exit {
    pub fn code(self) -> u8 {
        self as u8
    }
}

/// What every room's error says about itself.
pub trait Diagnostic: std::error::Error {
    fn exit(&self) -> Exit;
    /// One or more lines telling the user what would fix it.
    fn hint(&self) -> Option<String> {
        None
    }
    /// Where the problem is (a Dockerfile line), for the error annotation.
    fn location(&self) -> Option<Location> {
        None
    }
}
