//! Settings for the network: the timeouts of every HTTP call. Global (every step, and
//! `run`), so one client with one set of limits serves the whole process.

use std::time::Duration;

use crate::inputs::{InputError, Resolved, key, parse};

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct NetSettings {
    /// `http-timeout`: one call, retries included.
    pub timeout: Duration,
    /// `http-connect-timeout`.
    pub connect_timeout: Duration,
    /// `http-read-timeout`.
    pub read_timeout: Duration,
}

/// A positive duration: a zero timeout would fail every call.
fn timeout(
    r: &Resolved,
    name: impl Into<key::Key> + Copy,
    default: Duration,
) -> Result<Duration, InputError> {
    let Some((v, input)) = r.one(name) else {
        return Ok(default);
    };
    let d = parse::duration(&input, v)?;
    if d.is_zero() {
        return Err(InputError::invalid(
            &input,
            format!("`{v}` would fail every HTTP call"),
            "a duration of at least 1s, like `30s` or `5m`",
        ));
    }
    Ok(d)
}

impl NetSettings {
    pub fn resolve(r: &Resolved) -> Result<Self, InputError> {
        Ok(NetSettings {
            timeout: timeout(r, key::HTTP_TIMEOUT, Duration::from_secs(300))?,
            connect_timeout: timeout(r, key::HTTP_CONNECT_TIMEOUT, Duration::from_secs(10))?,
            read_timeout: timeout(r, key::HTTP_READ_TIMEOUT, Duration::from_secs(30))?,
        })
    }
}
