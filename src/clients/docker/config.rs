//! Registry credentials from the Docker config file (`$DOCKER_CONFIG/config.json`, else
//! `~/.docker/config.json`), for registries that are not ACR: `auths.<registry>.auth`
//! (base64 `user:password`) or `username`/`password`, or an `identitytoken`.
//! Credential helpers (`credHelpers.<registry>`, else `credsStore`) are run the way the
//! docker CLI runs them: `docker-credential-<name> get` with the registry on stdin,
//! `{"Username", "Secret"}` on stdout (`<token>` as the user: an identity token).
//!
//! Our own reader, not the `docker_credential` crate (not in the dependency tree): that crate
//! finds the file through the process's `DOCKER_CONFIG`/`HOME` and reads it unbounded, while
//! this one takes both from the run's environment (what the tests inject), reads through
//! `fsx` (size limit, errors naming the file) and keeps secrets in [`Secret`] from the start.

use std::path::{Path, PathBuf};

use base64::Engine;

use super::DockerError;
use super::push::RegistryCredentials;
use crate::secret::Secret;

/// What the config file says about `registry`.
#[derive(Debug)]
pub enum ConfigCredential {
    Credentials(RegistryCredentials),
    /// Served by `docker-credential-<helper>` (see [`from_helper`]).
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
pub fn lookup(path: &Path, registry: &str) -> Result<ConfigCredential, DockerError> {
    use crate::fsx;
    let text = match fsx::read_to_string(path, "Docker config", fsx::Follow::Yes, fsx::MEDIUM) {
        Ok(t) => t,
        Err(e) if e.is_not_found() => return Ok(ConfigCredential::None),
        Err(e) => {
            return Err(DockerError::Config {
                path: path.to_path_buf(),
                message: e.to_string(),
            });
        }
    };
    parse(path, &text, registry)
}

/// What the config file text says about `registry` (`path` only names it in errors).
pub fn parse(path: &Path, text: &str, registry: &str) -> Result<ConfigCredential, DockerError> {
    let bad = |message: String| DockerError::Config {
        path: path.to_path_buf(),
        message,
    };
    let v: serde_json::Value = serde_json::from_str(text).map_err(|e| bad(e.to_string()))?;
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
                return Ok(ConfigCredential::Credentials(RegistryCredentials {
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
                return Ok(ConfigCredential::Credentials(RegistryCredentials {
                    username: u.to_string(),
                    password: Secret::new(p),
                }));
            }
            if let (Some(u), Some(p)) = (
                e.get("username").and_then(|u| u.as_str()),
                e.get("password").and_then(|p| p.as_str()),
            ) {
                return Ok(ConfigCredential::Credentials(RegistryCredentials {
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
        return Ok(ConfigCredential::Helper(h.to_string()));
    }
    if let Some(h) = v.get("credsStore").and_then(|h| h.as_str()) {
        return Ok(ConfigCredential::Helper(h.to_string()));
    }
    Ok(ConfigCredential::None)
}

/// Asks `docker-credential-<helper>` for `registry`'s credentials. "Not found" (the
/// helper's own answer for an unknown registry) is `None`, as for the docker CLI.
pub fn from_helper(
    helper: &str,
    registry: &str,
) -> Result<Option<RegistryCredentials>, DockerError> {
    use std::io::Write;
    let program = format!("docker-credential-{helper}");
    let bad = |message: String| DockerError::Config {
        path: PathBuf::from(&program),
        message,
    };
    let mut child = std::process::Command::new(&program)
        .arg("get")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| {
            bad(format!(
                "the Docker config names the credential helper `{helper}`, but {program} cannot be run: {e}"
            ))
        })?;
    if let Some(mut stdin) = child.stdin.take() {
        // A helper that exits without reading its input is judged by its answer below.
        let _ = stdin.write_all(registry.as_bytes());
    }
    let out = child
        .wait_with_output()
        .map_err(|e| bad(format!("{program} get failed: {e}")))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        let said = format!("{stdout} {}", String::from_utf8_lossy(&out.stderr));
        if said.to_ascii_lowercase().contains("credentials not found") {
            return Ok(None);
        }
        let first = said.trim().lines().next().unwrap_or("").to_string();
        return Err(bad(format!(
            "{program} get for {registry} failed ({}): {first}",
            out.status
        )));
    }
    let v: serde_json::Value = serde_json::from_str(stdout.trim())
        .map_err(|e| bad(format!("{program} get answered no JSON: {e}")))?;
    let secret = v
        .get("Secret")
        .and_then(serde_json::Value::as_str)
        .unwrap_or("");
    if secret.is_empty() {
        return Ok(None);
    }
    let user = match v
        .get("Username")
        .and_then(serde_json::Value::as_str)
        .unwrap_or("")
    {
        "<token>" | "" => "00000000-0000-0000-0000-000000000000",
        u => u,
    };
    Ok(Some(RegistryCredentials {
        username: user.to_string(),
        password: Secret::new(secret),
    }))
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
        let ConfigCredential::Credentials(c) = lookup(&p, "reg.example").unwrap() else {
            panic!()
        };
        assert_eq!(
            (c.username.as_str(), c.password.expose()),
            ("user", "pa:ss")
        );
        let ConfigCredential::Credentials(c) = lookup(&p, "other.example").unwrap() else {
            panic!()
        };
        assert_eq!(c.password.expose(), "tok");
        assert!(
            matches!(lookup(&p, "h.example").unwrap(), ConfigCredential::Helper(h) if h == "ecr-login")
        );
        assert!(matches!(
            lookup(&p, "none.example").unwrap(),
            ConfigCredential::None
        ));
    }
}
