//! Tag and push through the engine, with the digest the engine reports and retries
//! on the registry failures that go away by themselves (5xx, refused or dropped
//! connections, timeouts), by the HTTP room's one retry policy. A 401/403 is never
//! retried: it needs a role, not patience.

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

/// Why one push attempt failed.
enum Failed {
    /// Worth another try (5xx, dropped connection, timeout).
    Transient(String),
    Final(DockerError),
}

/// Pushes `repo:tag`; `registry` names the registry in errors. Transient failures are
/// retried by the one retry policy of the HTTP room (exponential backoff with jitter).
pub async fn push(
    docker: &Docker,
    registry: &str,
    repo: &str,
    tag: &str,
    creds: Option<&RegistryCredentials>,
    on_line: impl FnMut(&str),
) -> Result<Pushed, DockerError> {
    use backon::Retryable;
    let reference = format!("{repo}:{tag}");
    let credentials = creds.map(|c| DockerCredentials {
        username: Some(c.username.clone()),
        password: Some(c.password.expose().to_string()),
        serveraddress: Some(registry.to_string()),
        ..Default::default()
    });
    let on_line = std::cell::RefCell::new(on_line);
    let attempts = std::cell::Cell::new(0u32);
    let (on_line_ref, attempts_ref, reference_ref, credentials_ref) =
        (&on_line, &attempts, &reference, &credentials);
    let attempt = move || async move {
        attempts_ref.set(attempts_ref.get() + 1);
        let opts = bollard::query_parameters::PushImageOptions {
            tag: Some(tag.to_string()),
            ..Default::default()
        };
        let mut stream = docker.push_image(repo, Some(opts), credentials_ref.clone());
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
                    if status != "Pushing" && status != last {
                        (on_line_ref.borrow_mut())(&status);
                        last = status;
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
                return Err(Failed::Final(DockerError::NoDigest {
                    reference: reference_ref.clone(),
                }));
            }
            (Some(m), _) => m,
        };
        if is_denied(&msg) {
            return Err(Failed::Final(DockerError::PushDenied {
                registry: registry.to_string(),
                reference: reference_ref.clone(),
                message: msg,
            }));
        }
        Err(if is_transient(&msg) {
            Failed::Transient(msg)
        } else {
            Failed::Final(DockerError::Push {
                reference: reference_ref.clone(),
                attempts: attempts_ref.get(),
                message: msg,
            })
        })
    };
    let result = attempt
        .retry(crate::clients::http::policy())
        .when(|f| matches!(f, Failed::Transient(_)))
        .notify(|f, wait| {
            if let Failed::Transient(msg) = f {
                (on_line.borrow_mut())(&format!(
                    "push of {reference} failed ({msg}); retrying in {:.1} s (attempt {})",
                    wait.as_secs_f64(),
                    attempts.get() + 1
                ));
            }
        })
        .await;
    result.map_err(|f| match f {
        Failed::Final(e) => e,
        Failed::Transient(message) => DockerError::Push {
            reference: reference.clone(),
            attempts: attempts.get(),
            message,
        },
    })
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
