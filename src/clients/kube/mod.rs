//! The Kubernetes API, spoken directly with kube-rs (no kubectl, no child process):
//! access reviews, server-side dry run and apply as `aks-backend`, the rollout tracker
//! (Deployments, StatefulSets, DaemonSets, Jobs), rollback, logs and the cert-manager
//! Certificate wait. The caller gives the kubeconfig; tests point it at the fake cluster.

pub mod apply;
pub mod certificate;
pub mod diff;
pub mod ready;
pub mod rollback;
pub mod rules;
pub mod settle;
pub mod track;
pub mod workloads;

use std::path::{Path, PathBuf};

use kube::config::{KubeConfigOptions, Kubeconfig};

use crate::model::diagnostic::{Diagnostic, Exit};

/// Our field manager for server-side apply.
pub const FIELD_MANAGER: &str = "aks-backend";

#[derive(Debug, thiserror::Error)]
pub enum KubeError {
    #[error("cannot use kubeconfig {path}: {message}")]
    Kubeconfig { path: PathBuf, message: String },
    #[error("{what}: {message}")]
    Api {
        what: String,
        code: u16,
        message: String,
    },
    #[error("{what}: {message}")]
    Transport { what: String, message: String },
    #[error("the cluster does not serve {}", missing.iter().map(|m| format!("{} ({})", m.kind, m.api_version)).collect::<Vec<_>>().join(", "))]
    UnknownKind { missing: Vec<apply::MissingType> },
    #[error("not allowed: {}", denied.join("; "))]
    AccessDenied { denied: Vec<String> },
    #[error("{object}: field conflict with {}: {message}", managers.join(", "))]
    Conflict {
        object: String,
        managers: Vec<String>,
        message: String,
    },
    #[error("{object}: rejected by admission: {message}")]
    Rejected { object: String, message: String },
}

impl Diagnostic for KubeError {
    fn exit(&self) -> Exit {
        match self {
            KubeError::Kubeconfig { .. } | KubeError::UnknownKind { .. } => Exit::BadInput,
            KubeError::Rejected { .. } | KubeError::AccessDenied { .. } => Exit::Refused,
            _ => Exit::External,
        }
    }

    fn hint(&self) -> Option<String> {
        match self {
            KubeError::Conflict { managers, .. } => Some(format!(
                "another field manager ({}) owns these fields; nothing was changed. Let it stop \
                 managing them, or take them over with `kubectl apply --server-side \
                 --field-manager {FIELD_MANAGER} --force-conflicts`",
                managers.join(", ")
            )),
            KubeError::AccessDenied { denied } => Some(format!(
                "nothing was changed; grant these verbs to the deploying identity (a RoleBinding \
                 to `edit` in the namespace is enough for generated manifests){}",
                if denied.iter().any(|d| d.starts_with("create namespace ")) {
                    "; creating the namespace needs a cluster-wide grant, or have an admin \
                     create it first"
                } else {
                    ""
                }
            )),
            KubeError::Rejected { message, .. } => {
                Some(match crate::model::pod_security::relax_hint(message) {
                    Some(h) => format!("nothing was applied from this object on; {h}"),
                    None => {
                        "nothing was applied from this object on; fix the manifest or the policy"
                            .into()
                    }
                })
            }
            KubeError::UnknownKind { missing } => Some(format!(
                "nothing was applied; {}",
                missing
                    .iter()
                    .map(|m| m.remedy.as_str())
                    .collect::<Vec<_>>()
                    .join("; ")
            )),
            KubeError::Transport { .. } => Some("check that the API server is reachable".into()),
            _ => None,
        }
    }
}

impl KubeError {
    /// The error for a failed API call about `what`.
    pub fn from_kube(what: impl Into<String>, e: kube::Error) -> Self {
        let what = what.into();
        match e {
            kube::Error::Api(s) => {
                if s.code == 409 && s.reason == "Conflict" && s.message.contains("conflict") {
                    let mut managers: Vec<String> = s
                        .message
                        .match_indices("conflict with \"")
                        .filter_map(|(i, m)| {
                            let rest = &s.message[i + m.len()..];
                            rest.find('"').map(|end| rest[..end].to_string())
                        })
                        .collect();
                    managers.sort();
                    managers.dedup();
                    return KubeError::Conflict {
                        object: what,
                        managers,
                        message: s.message.clone(),
                    };
                }
                if s.code == 403
                    && (s.message.contains("admission webhook")
                        || s.message.contains("violates PodSecurity"))
                {
                    return KubeError::Rejected {
                        object: what,
                        message: s.message.clone(),
                    };
                }
                KubeError::Api {
                    what,
                    code: s.code,
                    message: s.message.clone(),
                }
            }
            other => KubeError::Transport {
                what,
                message: other.to_string(),
            },
        }
    }

    /// Worth another try: the server was overloaded or hiccuped.
    pub fn is_transient(&self) -> bool {
        matches!(self, KubeError::Api { code, .. } if *code == 429 || *code >= 500)
            || matches!(self, KubeError::Transport { .. })
    }
}

/// A client for the kubeconfig's current context.
pub async fn connect(path: &Path) -> Result<kube::Client, KubeError> {
    let bad = |message: String| KubeError::Kubeconfig {
        path: path.to_path_buf(),
        message,
    };
    let text = crate::fsx::read_to_string(
        path,
        "kubeconfig",
        crate::fsx::Follow::Yes,
        crate::fsx::SMALL,
    )
    .map_err(|e| bad(e.to_string()))?;
    client_from(path, &text).await
}

/// A client from a kubeconfig held in memory (infra's freshly made cluster: its
/// credentials never touch the disk). `name` only names it in errors.
pub async fn connect_text(name: &str, text: &str) -> Result<kube::Client, KubeError> {
    client_from(Path::new(name), text).await
}

/// A kubeconfig's text to a client for its current context (`path` names it in errors).
async fn client_from(path: &Path, text: &str) -> Result<kube::Client, KubeError> {
    let bad = |message: String| KubeError::Kubeconfig {
        path: path.to_path_buf(),
        message,
    };
    let kc = parse_kubeconfig(path, text)?;
    let config = kube::Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
        .await
        .map_err(|e| bad(e.to_string()))?;
    kube::Client::try_from(config).map_err(|e| bad(e.to_string()))
}

/// A kubeconfig's text as `kube` reads it (`path` only names it in errors).
/// Relative certificate and token paths are taken from the kubeconfig's directory, as
/// `Kubeconfig::read_from` does.
pub fn parse_kubeconfig(path: &Path, text: &str) -> Result<Kubeconfig, KubeError> {
    let mut kc = Kubeconfig::from_yaml(text).map_err(|e| KubeError::Kubeconfig {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    let dir = path.parent().unwrap_or(Path::new(""));
    let absolute = |p: &mut Option<String>| {
        if let Some(v) = p.as_mut()
            && Path::new(v.as_str()).is_relative()
            && let Some(abs) = dir.join(v.as_str()).to_str()
        {
            *v = abs.to_string();
        }
    };
    for c in kc.clusters.iter_mut().filter_map(|n| n.cluster.as_mut()) {
        absolute(&mut c.certificate_authority);
    }
    for a in kc
        .auth_infos
        .iter_mut()
        .filter_map(|n| n.auth_info.as_mut())
    {
        absolute(&mut a.client_certificate);
        absolute(&mut a.client_key);
        absolute(&mut a.token_file);
    }
    Ok(kc)
}

/// Runs `f` again on 429/5xx/transport errors (kube retries 429/503/504 itself, with
/// `Retry-After`, but not 500 or a reset connection), by the one retry policy of the HTTP
/// room (exponential backoff with jitter).
pub async fn retrying<T, F, Fut>(f: F) -> Result<T, KubeError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, KubeError>>,
{
    use backon::Retryable;
    f.retry(crate::clients::http::policy())
        .when(KubeError::is_transient)
        .notify(|e, wait| tracing::info!("retrying in {wait:?} after {e}"))
        .await
}
