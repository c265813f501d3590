//! Tag and push through the engine, with the digest the engine reports and retries
//! on the registry failures that go away by themselves (5xx, refused or dropped
//! connections, timeouts). A 401/403 is never retried: it needs a role, not patience.

use std::time::Duration;

use bollard::Docker;
use bollard::auth::DockerCredentials;
use futures::StreamExt;

use super::{DockerError, message};
use crate::secret::Secret;

/// Registry credentials for the engine (`X-Registry-Auth`).
#[derive(Clone, Debug)]
pub struct RegistryCredentials {
    pub username: String,
    pub password: Secret,
}

/// The engine's answer for one pushed tag.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pushed {
    pub digest: String,
    pub manifest_size: Option<u64>,
}

pub async fn tag(docker: &Docker, image: &str, repo: &str, tag: &str) -> Result<(), DockerError> {
    let opts = bollard::query_parameters::TagImageOptions {
        repo: Some(repo.to_string()),
        tag: Some(tag.to_string()),
    };
    docker
        .tag_image(image, Some(opts))
        .await
        .map_err(|e| DockerError::Tag {
            image: image.to_string(),
            tag: format!("{repo}:{tag}"),
            message: message(&e),
        })
}

/// `sha256:…` and the size from the engine's final `TAG: digest: sha256:… size: N`.
pub fn digest_from_status(status: &str) -> Option<Pushed> {
    let i = status.find("digest: sha256:")?;
    let rest = &status[i + "digest: ".len()..];
    let digest: String = rest
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == ':')
        .collect();
    if digest.len() != "sha256:".len() + 64 {
        return None;
    }
    let manifest_size = rest
        .split_once("size: ")
        .and_then(|(_, s)| s.split_whitespace().next()?.parse().ok());
    Some(Pushed {
        digest,
        manifest_size,
    })
}

/// Does this engine error mean the registry said no to these credentials?
pub fn is_denied(msg: &str) -> bool {
    let m = msg.to_ascii_lowercase();
    m.contains("unauthorized")
        || m.contains("authentication required")
        || m.contains("denied")
        || m.contains("forbidden")
        || m.contains(" 401")
        || m.contains(" 403")
}

/// Is it worth trying again?
pub fn is_transient(msg: &str) -> bool {
    let m = msg.to_ascii_lowercase();
    [
        "connection refused",
        "connection reset",
        "broken pipe",
        "eof",
        "timeout",
        "timed out",
        "500 internal",
        "502",
        "503",
        "504",
        "bad gateway",
        "service unavailable",
        "too many requests",
        "toomanyrequests",
        "429",
        "tls handshake",
        "i/o",
        "server misbehaving",
        "received unexpected http status: 5",
    ]
    .iter()
    .any(|k| m.contains(k))
}

/// Pushes `repo:tag`; `registry` names the registry in errors. Retries transient
/// failures with 1, 2, 4, 8 s pauses.
pub async fn push(
    docker: &Docker,
    registry: &str,
    repo: &str,
    tag: &str,
    creds: Option<&RegistryCredentials>,
    mut on_line: impl FnMut(&str),
) -> Result<Pushed, DockerError> {
    const ATTEMPTS: u32 = 5;
    let reference = format!("{repo}:{tag}");
    let credentials = creds.map(|c| DockerCredentials {
        username: Some(c.username.clone()),
        password: Some(c.password.expose().to_string()),
        serveraddress: Some(registry.to_string()),
        ..Default::default()
    });
    let mut attempt = 0;
    loop {
        attempt += 1;
        let opts = bollard::query_parameters::PushImageOptions {
            tag: Some(tag.to_string()),
            ..Default::default()
        };
        let mut stream = docker.push_image(repo, Some(opts), credentials.clone());
        let mut pushed = None;
        let mut failure = None;
        let mut last = String::new();
        while let Some(item) = stream.next().await {
            match item {
                Ok(info) => {
                    let Some(status) = info.status else { continue };
                    if let Some(p) = digest_from_status(&status) {
                        pushed = Some(p);
                    }
                    // Byte-level progress is noise in a CI log; keep state changes.
                    let line = status.clone();
                    if status != "Pushing" && line != last {
                        on_line(&line);
                        last = line;
                    }
                }
                Err(e) => {
                    failure = Some(message(&e));
                    break;
                }
            }
        }
        let msg = match (failure, pushed) {
            (None, Some(p)) => return Ok(p),
            (None, None) => {
                return Err(DockerError::NoDigest { reference });
            }
            (Some(m), _) => m,
        };
        if is_denied(&msg) {
            return Err(DockerError::PushDenied {
                registry: registry.to_string(),
                reference,
                message: msg,
            });
        }
        if !is_transient(&msg) || attempt >= ATTEMPTS {
            return Err(DockerError::Push {
                reference,
                attempts: attempt,
                message: msg,
            });
        }
        let pause = Duration::from_secs(1 << (attempt - 1));
        on_line(&format!(
            "push of {reference} failed ({msg}); retrying in {} s (attempt {}/{ATTEMPTS})",
            pause.as_secs(),
            attempt + 1
        ));
        tokio::time::sleep(pause).await;
    }
}

/// ID and size (bytes) of a local image.
pub async fn inspect(docker: &Docker, image: &str) -> Result<(String, u64), DockerError> {
    let i = docker
        .inspect_image(image)
        .await
        .map_err(|e| DockerError::Inspect {
            image: image.to_string(),
            message: message(&e),
        })?;
    Ok((
        i.id.unwrap_or_default(),
        i.size.unwrap_or_default().max(0) as u64,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_line() {
        let d = "sha256:".to_string() + &"a".repeat(64);
        let p = digest_from_status(&format!("v1: digest: {d} size: 528")).unwrap();
        assert_eq!(p.digest, d);
        assert_eq!(p.manifest_size, Some(528));
        assert_eq!(digest_from_status("Pushed"), None);
    }

    #[test]
    fn classification() {
        assert!(is_denied("unauthorized: authentication required"));
        assert!(is_denied(
            "denied: requested access to the resource is denied"
        ));
        assert!(is_transient(
            "Put \"http://127.0.0.1:5000/v2/x/blobs/uploads/\": dial tcp 127.0.0.1:5000: connect: connection refused"
        ));
        assert!(is_transient(
            "received unexpected HTTP status: 503 Service Unavailable"
        ));
        assert!(!is_transient("manifest invalid"));
    }
}
