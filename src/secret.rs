//! Secrets are a type: they cannot be printed by accident.
//!
//! `Debug` and `Display` are redacted; the value is reachable only through
//! [`Secret::expose`], which makes every place that handles the raw value greppable.
//! Steps hand every secret to a [`Mask`] (the CI host) the moment it is known.

use std::fmt;

/// A secret string (token, password, key). Redacted when formatted.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The raw value. Call only where the value leaves the process on purpose
    /// (an HTTP header, a child's environment).
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl serde::Serialize for Secret {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str("***")
    }
}

/// Receives every secret the moment it exists (the CI host masks it in the logs). Defined
/// here, below the clients that find secrets and the host that masks them, so neither
/// imports the other.
pub trait Mask: Send + Sync {
    fn mask(&self, secret: &Secret);
}

/// For callers that have no host (tests, tools).
pub struct NoMask;

impl Mask for NoMask {
    fn mask(&self, _: &Secret) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formatting_never_shows_the_value() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s}"), "***");
        assert_eq!(format!("{s:?}"), "Secret(***)");
        assert_eq!(serde_json::to_string(&s).unwrap(), "\"***\"");
        assert_eq!(s.expose(), "hunter2");
    }
}
