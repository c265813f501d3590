//! The deploy plan: the exact objects that will be applied (generated, or the user's
//! with images substituted), and the actions in order, from pre-flight to rollback and
//! the Azure side. `--dry-run` prints it; computing it touches nothing.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;

use super::manifests::{self, Generate, ManifestError, Substitution, Trace, kind_of, name_of};
use crate::inputs::settings::{DeploySettings, ManifestSource};
use crate::model::pod_security;
use crate::model::workload_kind::WorkloadKind;

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "action", rename_all = "kebab-case")]
pub enum Action {
    /// Create the namespace when it does not exist, with these labels (the Pod Security
    /// Standard it enforces); an existing namespace is left as it is.
    EnsureNamespace {
        name: String,
        labels: BTreeMap<String, String>,
    },
    /// SelfSubjectAccessReview for every verb and kind below.
    AccessReview,
    /// Server-side dry run (`dryRun=All`) of every object and a diff against the live ones.
    DryRun,
    /// Upsert the A record of the host in the DNS zone, pointing at the gateway's IP.
    DnsRecord { fqdn: String },
    /// The gateway NSG rule for TCP 443: only these sources, or open to all.
    NsgRule { sources: Vec<String> },
    /// Server-side apply with field manager `aks-backend`.
    Apply { kind: String, name: String },
    /// Watch these workloads to healthy or failed under one deadline: `deployments` by
    /// name (as before), and every tracked workload (Deployment, StatefulSet, DaemonSet,
    /// Job) as `Kind/name` in `workloads`. Once available, a workload's new pods are
    /// watched `settle_seconds` more (at least its `minReadySeconds`): a restart or a
    /// waiting container there fails it.
    Track {
        deployments: Vec<String>,
        workloads: Vec<String>,
        timeout_seconds: u64,
        max_restarts: u32,
        settle_seconds: u64,
    },
    /// Every new pod's imageID must be the deployed digest.
    VerifyDigests,
    /// On failure, restore each failed Deployment's previous revision (a StatefulSet's
    /// or DaemonSet's previous ControllerRevision) and track it back. Jobs are not
    /// rolled back.
    RollbackOnFailure,
    /// Wait for the cert-manager Certificate for the host to be Ready.
    WaitCertificate { name: String },
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DeployPlan {
    pub namespace: String,
    /// `generated` or `manifests`.
    pub source: &'static str,
    pub substitutions: Vec<Substitution>,
    /// Container images not pinned by digest (user manifests only).
    pub unpinned_images: Vec<String>,
    pub objects: Vec<Value>,
    pub actions: Vec<Action>,
    /// Generated pods that a namespace the deploy creates would refuse (a relaxed
    /// setting below `pod-security`), one line per workload.
    pub warnings: Vec<String>,
}

impl DeployPlan {
    /// `documents`: the user's manifest files as (name, text), already read.
    pub fn new(
        s: &DeploySettings,
        documents: &[(String, String)],
        trace: &Trace,
    ) -> Result<Self, ManifestError> {
        let (source, mut objects, substitutions, tls_secret) = match &s.source {
            ManifestSource::Generated {
                components,
                ingress_class,
                cluster_issuer,
                wildcard_tls,
                secret_store,
                hardening,
            } => {
                let mut objs = manifests::generate(
                    components,
                    &Generate {
                        namespace: &s.namespace,
                        host: s.host.as_deref(),
                        ingress_class,
                        cluster_issuer,
                        wildcard_tls: *wildcard_tls,
                        secret_store,
                        hardening,
                    },
                );
                manifests::set_min_ready_seconds(&mut objs, s.min_ready_seconds);
                if let Some(app) = &s.compose {
                    super::compose::finish(&mut objs, app, &s.namespace, secret_store);
                }
                // The wildcard copy is infra's certificate: no Certificate of ours to wait for.
                let tls = s
                    .host
                    .as_ref()
                    .filter(|_| !wildcard_tls)
                    .and_then(|_| components.first())
                    .map(|c| manifests::tls_secret_name(&c.name));
                ("generated", objs, Vec::new(), tls)
            }
            ManifestSource::User { images, .. } => {
                let mut objs = Vec::new();
                for (name, text) in documents {
                    objs.extend(manifests::parse_documents(name, text)?);
                }
                if objs.is_empty() {
                    return Err(ManifestError::Empty);
                }
                let subs = manifests::substitute(&mut objs, images)?;
                let tls = objs
                    .iter()
                    .filter(|o| kind_of(o) == "Ingress")
                    .filter(|o| {
                        o.pointer("/metadata/annotations/cert-manager.io~1cluster-issuer")
                            .is_some()
                    })
                    .find_map(|o| o.pointer("/spec/tls/0/secretName").and_then(Value::as_str))
                    .map(String::from);
                ("manifests", objs, subs, tls)
            }
        };
        manifests::finish(&mut objects, &s.namespace, trace);
        let mut unpinned: Vec<String> = manifests::images_in(&mut objects)
            .into_iter()
            .filter(|i| !i.contains("@sha256:"))
            .collect();
        unpinned.sort();
        unpinned.dedup();

        let mut warnings = Vec::new();
        if let ManifestSource::Generated {
            ingress_class,
            hardening,
            ..
        } = &s.source
            && let Some(n) = &hardening.network_policy
            && s.host.is_some()
            && ingress_class == "azure-application-gateway"
            && n.cidrs.is_empty()
        {
            warnings.push(
                "the NetworkPolicy admits no address range outside the cluster, but Application \
                 Gateway sends to the pods from its own subnet: give that subnet's prefix in \
                 ingress-cidr (or set network-policy false) where network policies are enforced"
                    .into(),
            );
        }
        if source == "generated" {
            for o in objects.iter().filter(|o| kind_of(o) == "Deployment") {
                let template = o.pointer("/spec/template").unwrap_or(&Value::Null);
                let v = pod_security::violations(template, s.pod_security);
                if !v.is_empty() {
                    let m: Vec<&str> = v.iter().map(|v| v.message.as_str()).collect();
                    warnings.push(format!(
                        "Deployment/{} would violate PodSecurity \"{}\" (pod-security) in a namespace the deploy creates: {}",
                        name_of(o),
                        s.pod_security.as_str(),
                        m.join(", ")
                    ));
                }
            }
        }
        if let Some(app) = &s.compose {
            warnings.extend(app.all_warnings());
        }
        let mut ns_labels = BTreeMap::from([(
            pod_security::ENFORCE_LABEL.to_string(),
            s.pod_security.as_str().to_string(),
        )]);
        if matches!(
            &s.source,
            ManifestSource::Generated {
                wildcard_tls: true,
                ..
            }
        ) {
            // The wildcard store serves only namespaces with this label.
            let (k, v) = crate::model::wildcard::NAMESPACE_LABEL;
            ns_labels.insert(k.to_string(), v.to_string());
        }
        let mut actions = vec![
            Action::EnsureNamespace {
                name: s.namespace.clone(),
                labels: ns_labels,
            },
            Action::AccessReview,
            Action::DryRun,
        ];
        if let Some(h) = &s.host {
            actions.push(Action::DnsRecord { fqdn: h.clone() });
            actions.push(Action::NsgRule {
                sources: if s.allow_cidrs.is_empty() {
                    vec!["Internet".into()]
                } else {
                    s.allow_cidrs.iter().map(|c| c.0.clone()).collect()
                },
            });
        }
        for o in &objects {
            actions.push(Action::Apply {
                kind: kind_of(o).into(),
                name: name_of(o).into(),
            });
        }
        let deployments: Vec<String> = objects
            .iter()
            .filter(|o| kind_of(o) == "Deployment")
            .filter_map(|o| {
                o.pointer("/metadata/name")
                    .and_then(Value::as_str)
                    .map(String::from)
            })
            .collect();
        let workloads: Vec<String> = objects
            .iter()
            .filter(|o| {
                let api_version = o.get("apiVersion").and_then(Value::as_str).unwrap_or("");
                let group = api_version.split_once('/').map_or("", |(g, _)| g);
                WorkloadKind::of(group, kind_of(o)).is_some()
            })
            .map(|o| format!("{}/{}", kind_of(o), name_of(o)))
            .collect();
        if !workloads.is_empty() {
            let rolls_back = workloads.iter().any(|w| !w.starts_with("Job/"));
            actions.push(Action::Track {
                deployments,
                workloads,
                timeout_seconds: s.timeout.as_secs(),
                max_restarts: s.max_restarts,
                settle_seconds: s.settle.as_secs(),
            });
            actions.push(Action::VerifyDigests);
            if !s.no_rollback && rolls_back {
                actions.push(Action::RollbackOnFailure);
            }
        }
        if let (true, Some(_), Some(name)) = (s.wait_certificate, &s.host, tls_secret) {
            actions.push(Action::WaitCertificate { name });
        }
        Ok(DeployPlan {
            namespace: s.namespace.clone(),
            source,
            substitutions,
            unpinned_images: unpinned,
            objects,
            actions,
            warnings,
        })
    }

    /// The Deployments the plan applies, by name.
    pub fn deployments(&self) -> Vec<&Value> {
        self.objects
            .iter()
            .filter(|o| kind_of(o) == "Deployment")
            .collect()
    }
}
