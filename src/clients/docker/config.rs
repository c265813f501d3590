//! Registry credentials from the Docker config file (`$DOCKER_CONFIG/config.json`, else
//! `~/.docker/config.json`), for registries that are not ACR: `auths.<registry>.auth`
//! (base64 `user:password`) or `username`/`password`, or an `identitytoken`.
//! Credential helpers (`credsStore`, `credHelpers`) are programs we do not run; a
//! registry served only by one is reported, not silently pushed anonymously.

use std::path::{Path, PathBuf};

use base64::Engine;

use super::DockerError;
use super::push::RegistryCredentials;
use crate::secret::Secret;

/// What the config file says about `registry`.
#[derive(Debug)]
pub enum Found {
    Credentials(RegistryCredentials),
    /// Served by `docker-credential-<helper>`, which we do not run.
    Helper(String),
    None,
}

pub fn config_path(docker_config: Option<&str>, home: Option<&str>) -> Option<PathBuf> {
    match docker_config {
        Some(d) => Some(Path::new(d).join("config.json")),
        None => home.map(|h| Path::new(h).join(".docker/config.json")),
    }
}

/// Looks `registry` up in the config file at `path` (a missing file is no credentials).
pub fn lookup(path: &Path, registry: &str) -> Result<Found, DockerError> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Found::None),
        Err(e) => {
            return Err(DockerError::Config {
                path: path.to_path_buf(),
                message: e.to_string(),
            });
        }
    };
    let bad = |message: String| DockerError::Config {
        path: path.to_path_buf(),
        message,
    };
    let v: serde_json::Value = serde_json::from_str(&text).map_err(|e| bad(e.to_string()))?;
    let keys = [
        registry.to_string(),
        format!("https://{registry}"),
        format!("http://{registry}"),
        format!("https://{registry}/v1/"),
    ];
    if let Some(auths) = v.get("auths").and_then(|a| a.as_object()) {
        for k in &keys {
            let Some(e) = auths.get(k) else { continue };
            if let Some(tok) = e.get("identitytoken").and_then(|t| t.as_str()) {
                let user = e
                    .get("username")
                    .and_then(|u| u.as_str())
                    .unwrap_or("00000000-0000-0000-0000-000000000000");
                return Ok(Found::Credentials(RegistryCredentials {
                    username: user.to_string(),
                    password: Secret::new(tok),
                }));
            }
            if let Some(auth) = e.get("auth").and_then(|a| a.as_str()) {
                let raw = base64::engine::general_purpose::STANDARD
                    .decode(auth.trim())
                    .map_err(|e| bad(format!("auths.{k}.auth is not base64: {e}")))?;
                let raw = String::from_utf8(raw)
                    .map_err(|_| bad(format!("auths.{k}.auth is not UTF-8")))?;
                let (u, p) = raw
                    .split_once(':')
                    .ok_or_else(|| bad(format!("auths.{k}.auth is not user:password")))?;
                return Ok(Found::Credentials(RegistryCredentials {
                    username: u.to_string(),
                    password: Secret::new(p),
                }));
            }
            if let (Some(u), Some(p)) = (
                e.get("username").and_then(|u| u.as_str()),
                e.get("password").and_then(|p| p.as_str()),
            ) {
                return Ok(Found::Credentials(RegistryCredentials {
                    username: u.to_string(),
                    password: Secret::new(p),
                }));
            }
        }
    }
    if let Some(h) = v
        .get("credHelpers")
        .and_then(|h| h.get(registry))
        .and_then(|h| h.as_str())
    {
        return Ok(Found::Helper(h.to_string()));
    }
    if let Some(h) = v.get("credsStore").and_then(|h| h.as_str()) {
        return Ok(Found::Helper(h.to_string()));
    }
    Ok(Found::None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auth_entries() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("config.json");
        std::fs::write(
            &p,
            r#"{"auths":{"reg.example":{"auth":"dXNlcjpwYTpzcw=="},"https://other.example":{"identitytoken":"tok"}},"credHelpers":{"h.example":"ecr-login"}}"#,
        )
        .unwrap();
        let Found::Credentials(c) = lookup(&p, "reg.example").unwrap() else {
            panic!()
        };
        assert_eq!(
            (c.username.as_str(), c.password.expose()),
            ("user", "pa:ss")
        );
        let Found::Credentials(c) = lookup(&p, "other.example").unwrap() else {
            panic!()
        };
        assert_eq!(c.password.expose(), "tok");
        assert!(matches!(lookup(&p, "h.example").unwrap(), Found::Helper(h) if h == "ecr-login"));
        assert!(matches!(lookup(&p, "none.example").unwrap(), Found::None));
    }
}
