//! Waiting for operators' objects to say Ready (HelmRelease, ClusterIssuer,
//! ClusterSecretStore, Certificate): one watch per object (a field selector on its name),
//! no polling; on failure the controller's own condition message and the last Warning
//! events about the object, in one error with a hint that says what usually fixes it.

use std::time::Instant;

use futures::StreamExt;
use k8s_openapi::api::core::v1::Event;
use kube::api::{Api, ApiResource, DynamicObject, ListParams};
use kube::runtime::{WatchStreamExt, watcher};
use serde_json::Value;

use super::KubeError;
use crate::model::diagnostic::{Diagnostic, Exit};
use crate::model::rollout::EventLine;
use crate::model::text::strip_controls;

/// What a condition says about an object right now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Judgement {
    Ready,
    /// The controller gave up (or will keep failing the same way): stop waiting.
    Failed,
    /// Not yet; keep waiting until the deadline.
    Pending,
}

/// How the kinds we wait on report readiness.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Waited {
    HelmChart,
    HelmRelease,
    ClusterIssuer,
    ClusterSecretStore,
    Certificate,
}

impl Waited {
    pub fn kind(self) -> &'static str {
        match self {
            Waited::HelmChart => "HelmChart",
            Waited::HelmRelease => "HelmRelease",
            Waited::ClusterIssuer => "ClusterIssuer",
            Waited::ClusterSecretStore => "ClusterSecretStore",
            Waited::Certificate => "Certificate",
        }
    }

    pub fn resource(self) -> ApiResource {
        let (group, version, plural) = match self {
            Waited::HelmChart => ("source.toolkit.fluxcd.io", "v1", "helmcharts"),
            Waited::HelmRelease => ("helm.toolkit.fluxcd.io", "v2", "helmreleases"),
            Waited::ClusterIssuer => ("cert-manager.io", "v1", "clusterissuers"),
            Waited::ClusterSecretStore => ("external-secrets.io", "v1", "clustersecretstores"),
            Waited::Certificate => ("cert-manager.io", "v1", "certificates"),
        };
        ApiResource::from_gvk_with_plural(
            &kube::core::GroupVersionKind::gvk(group, version, self.kind()),
            plural,
        )
    }

    /// Ready=True at the current generation is done. A HelmChart, HelmRelease or
    /// ClusterIssuer that says False has failed (a missing chart, a refused ACME account do
    /// not heal); a
    /// store or certificate that says False is still waited for, since Azure role
    /// assignments take minutes to reach Key Vault and Azure DNS.
    pub fn judge(self, obj: &Value) -> Judgement {
        let Some(ready) = condition(obj) else {
            return Judgement::Pending;
        };
        let generation = obj.pointer("/metadata/generation").and_then(Value::as_i64);
        let observed = ready.observed_generation.or_else(|| {
            obj.pointer("/status/observedGeneration")
                .and_then(Value::as_i64)
        });
        let current = match (generation, observed) {
            (Some(g), Some(o)) => o >= g,
            _ => true,
        };
        match ready.status.as_str() {
            "True" if current => Judgement::Ready,
            "False"
                if current
                    && matches!(
                        self,
                        Waited::HelmChart | Waited::HelmRelease | Waited::ClusterIssuer
                    ) =>
            {
                Judgement::Failed
            }
            _ => Judgement::Pending,
        }
    }

    fn hint(self) -> &'static str {
        match self {
            Waited::HelmChart => {
                "check the chart version (--cert-manager-version / --external-secrets-version: it \
                 must exist in the chart repository) and that the cluster reaches the repository; \
                 `kubectl -n flux-system describe helmchart NAME` shows source-controller's view"
            }
            Waited::HelmRelease => {
                "check the chart version (--cert-manager-version / --external-secrets-version: it \
                 must exist in the chart repository) and that the cluster reaches the repository; \
                 `kubectl -n flux-system describe helmrelease NAME` shows helm-controller's view"
            }
            Waited::ClusterIssuer => {
                "Let's Encrypt refused the ACME account: check --acme-email (a real, reachable \
                 address; example.com and similar domains are refused)"
            }
            Waited::ClusterSecretStore => {
                "ESO's managed identity (--eso-client-id) needs the Key Vault Secrets User role on \
                 the vault and a federated credential for \
                 system:serviceaccount:external-secrets:external-secrets; new role assignments \
                 take up to 10 minutes to apply: re-run infra then"
            }
            Waited::Certificate => {
                "cert-manager's managed identity (--cert-manager-client-id) needs DNS Zone \
                 Contributor on the zone (--dns-zone in --dns-zone-resource-group) and a \
                 federated credential for system:serviceaccount:cert-manager:cert-manager; \
                 `kubectl get challenges -A` shows the DNS-01 state"
            }
        }
    }
}

/// The Ready condition, as the controller wrote it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Ready {
    pub status: String,
    pub reason: String,
    pub message: String,
    pub observed_generation: Option<i64>,
}

pub fn condition(obj: &Value) -> Option<Ready> {
    let c = obj
        .pointer("/status/conditions")?
        .as_array()?
        .iter()
        .find(|c| c["type"] == "Ready")?;
    let text = |k: &str| strip_controls(c[k].as_str().unwrap_or_default());
    Some(Ready {
        status: text("status"),
        reason: text("reason"),
        message: text("message"),
        observed_generation: c["observedGeneration"].as_i64(),
    })
}

/// A chart whose archive is not the pinned one.
#[derive(Debug, thiserror::Error)]
#[error(
    "{object}: chart {chart} {version} has digest {seen}, but --{input} pins {pinned}; \
     no release was installed"
)]
pub struct DigestMismatch {
    pub object: String,
    pub chart: String,
    pub version: String,
    pub seen: String,
    pub pinned: String,
    pub input: String,
}

#[derive(Debug, thiserror::Error)]
pub enum AddonError {
    #[error("{object} is not ready: {}{}", last.message, events_text(events))]
    Failed {
        waited: Waited,
        object: String,
        last: Box<Ready>,
        events: Vec<EventLine>,
    },
    #[error("{object} was not ready within {seconds} s ({}){}",
        if last.message.is_empty() { "no status from its controller yet".to_string() } else { format!("last: {}: {}", last.reason, last.message) },
        events_text(events))]
    TimedOut {
        waited: Waited,
        object: String,
        seconds: u64,
        last: Box<Ready>,
        events: Vec<EventLine>,
    },
    #[error("{object} did not become available: {reason}{}", events_text(events))]
    Workload {
        object: String,
        reason: String,
        events: Vec<EventLine>,
    },
    #[error("{0}")]
    DigestMismatch(Box<DigestMismatch>),
    #[error("the cluster phase may not do everything it needs:{}",
        denied.iter().map(|d| format!("\n  - {d}")).collect::<String>())]
    AccessDenied { denied: Vec<String> },
    #[error(transparent)]
    Kube(#[from] KubeError),
}

fn events_text(events: &[EventLine]) -> String {
    events
        .iter()
        .map(|e| {
            format!(
                "\n  Warning {} on {} (x{}): {}",
                e.reason,
                e.object,
                e.count,
                e.message.replace('\n', " ")
            )
        })
        .collect()
}

impl Diagnostic for AddonError {
    fn exit(&self) -> Exit {
        match self {
            AddonError::Kube(e) => e.exit(),
            AddonError::AccessDenied { .. } => Exit::BadInput,
            _ => Exit::External,
        }
    }

    fn hint(&self) -> Option<String> {
        match self {
            AddonError::Failed { waited, .. } | AddonError::TimedOut { waited, .. } => {
                Some(waited.hint().to_string())
            }
            AddonError::Workload { .. } => Some(
                "the chart's pods did not start: see the events and `kubectl -n NAMESPACE \
                 describe pods`"
                    .into(),
            ),
            AddonError::DigestMismatch(m) => Some(format!(
                "nothing was installed from that chart. The repository serves a different \
                 archive for this version than the one pinned: find out why (a re-published \
                 chart, a mirror) before trusting it, then pin the new digest with --{} or \
                 change the version",
                m.input
            )),
            AddonError::AccessDenied { .. } => Some(
                "nothing was changed; the cluster phase installs cluster-wide objects (namespaces, \
                 ClusterIssuers, ClusterSecretStores): run it as a cluster admin (on AKS the \
                 Azure Kubernetes Service RBAC Cluster Admin role, or a ClusterRoleBinding to \
                 cluster-admin)"
                    .into(),
            ),
            AddonError::Kube(e) => e.hint(),
        }
    }
}

/// Waits on one object until `waited` judges it Ready (its final state), failed, or the
/// deadline passes; `progress` hears each new Ready message.
pub async fn wait(
    client: &kube::Client,
    waited: Waited,
    namespace: Option<&str>,
    name: &str,
    deadline: Instant,
    progress: &(dyn Fn(&str) + Sync),
) -> Result<Value, AddonError> {
    let ar = waited.resource();
    let api: Api<DynamicObject> = match namespace {
        Some(ns) => Api::namespaced_with(client.clone(), ns, &ar),
        None => Api::all_with(client.clone(), &ar),
    };
    let object = match namespace {
        Some(ns) => format!("{} {ns}/{name}", waited.kind()),
        None => format!("{} {name}", waited.kind()),
    };
    let config = watcher::Config::default().fields(&format!("metadata.name={name}"));
    let mut stream = watcher(api, config)
        .default_backoff()
        .applied_objects()
        .boxed();
    let mut last: Option<Value> = None;
    let mut said = String::new();
    let started = Instant::now();
    loop {
        let next = tokio::time::timeout_at(deadline.into(), stream.next()).await;
        let obj = match next {
            Err(_) | Ok(None) => break,
            Ok(Some(Err(e))) => {
                tracing::debug!("watch of {object} (resuming): {e}");
                continue;
            }
            Ok(Some(Ok(o))) => serde_json::to_value(o).unwrap_or(Value::Null),
        };
        let verdict = waited.judge(&obj);
        if let Some(c) = condition(&obj)
            && c.message != said
            && verdict != Judgement::Ready
            && !c.message.is_empty()
        {
            progress(&format!("{object}: {}: {}", c.reason, c.message));
            said = c.message.clone();
        }
        match verdict {
            Judgement::Ready => return Ok(obj),
            Judgement::Failed => {
                let events = events_about(client, &obj).await;
                return Err(AddonError::Failed {
                    waited,
                    object,
                    last: Box::new(condition(&obj).unwrap_or_default()),
                    events,
                });
            }
            Judgement::Pending => last = Some(obj),
        }
    }
    let events = match &last {
        Some(o) => events_about(client, o).await,
        None => Vec::new(),
    };
    Err(AddonError::TimedOut {
        waited,
        object,
        seconds: started.elapsed().as_secs(),
        last: Box::new(last.as_ref().and_then(condition).unwrap_or_default()),
        events,
    })
}

/// The last three Warning events about the object (by uid), or about the objects
/// cert-manager makes for it (CertificateRequest, Order, Challenge: named after it).
pub async fn events_about(client: &kube::Client, obj: &Value) -> Vec<EventLine> {
    let uid = obj
        .pointer("/metadata/uid")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let name = obj
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let namespace = obj
        .pointer("/metadata/namespace")
        .and_then(Value::as_str)
        .unwrap_or("default");
    let api: Api<Event> = Api::namespaced(client.clone(), namespace);
    let Ok(list) = api.list(&ListParams::default()).await else {
        return Vec::new();
    };
    let mut about: Vec<&Event> = list
        .items
        .iter()
        .filter(|e| e.type_.as_deref() == Some("Warning"))
        .filter(|e| {
            e.involved_object.uid.as_deref() == Some(uid)
                || e.involved_object
                    .name
                    .as_deref()
                    .is_some_and(|n| n.starts_with(&format!("{name}-")))
        })
        .collect();
    about.sort_by_key(|e| e.last_timestamp.as_ref().map(|t| t.0));
    about
        .iter()
        .rev()
        .take(3)
        .map(|e| EventLine {
            object: format!(
                "{}/{}",
                e.involved_object.kind.as_deref().unwrap_or("?"),
                e.involved_object.name.as_deref().unwrap_or("?")
            ),
            reason: strip_controls(e.reason.as_deref().unwrap_or_default()),
            message: strip_controls(e.message.as_deref().unwrap_or_default()),
            count: e.count.unwrap_or(1),
        })
        .collect()
}
