//! `infra`'s cluster phase: after the ARM deployment (AKS with the Flux extension, the
//! identities, the zone, the vault), install cert-manager and External Secrets Operator
//! and configure them, then wait until what the user needs works: the charts' Deployments
//! Available (the rollout tracker, so a crashing controller fails in seconds with its
//! pod's words), the HelmReleases Ready, both ClusterIssuers' ACME accounts registered,
//! the ClusterSecretStore(s) Ready and, with `--wildcard`, the wildcard Certificate issued.
//!
//! [`cluster_phase`] is the seam the ARM phase calls with its client; [`run`] is the
//! `infra` subcommand's cluster-only form (dry run: the plan's objects as YAML).
//! Server-side apply as `aks-backend`, never forced: a re-run with the same settings
//! changes nothing (every object reports `unchanged`).

use std::time::{Duration, Instant};

use futures::future::{try_join, try_join_all};
use kube::api::{Api, DynamicObject};
use serde_json::Value;

use crate::clients::kube::apply::{self, Target};
use crate::clients::kube::ready::{self, AddonError, Waited};
use crate::clients::kube::track::{self, Tracker, Watched};
use crate::clients::kube::workloads::WorkloadKind;
use crate::clients::kube::{self as kube_client, KubeError};
use crate::error::{Error, Exit};
use crate::inputs::settings::AddonSettings;
use crate::model::pipeline::{Fact, StepReport, StepStatus};
use crate::model::rollout::Verdict;
use crate::plan::addons::{self, AddonPlan, Wait};

use super::Ctx;

const PROGRESS_EVERY: Duration = Duration::from_secs(5);
/// Restarts a chart's controller may have while it starts (webhooks wait for their
/// certificates) before we call it failing.
const MAX_RESTARTS: i32 = 3;
/// After a chart's Deployments turn Available on an install or upgrade, their containers
/// must stay up this long (a controller that crashes a second after starting is
/// "available" first): the deploy step's settle window, short here.
const SETTLE: Duration = Duration::from_secs(3);

/// What the cluster phase did.
#[derive(Clone, Debug, serde::Serialize)]
pub struct InfraOutcome {
    pub exit: Exit,
    /// (chart, version) installed.
    pub versions: Vec<(String, String)>,
    /// (object, created | configured | unchanged).
    pub objects: Vec<(String, &'static str)>,
    /// (object, its state in words), for the summary and the PR comment.
    pub states: Vec<(String, String)>,
    pub dns_record: Option<String>,
}

impl InfraOutcome {
    pub fn changed(&self) -> usize {
        self.objects
            .iter()
            .filter(|(_, a)| *a != "unchanged")
            .count()
    }
}

/// `aks-backend infra` (cluster phase only, until the ARM phase joins it).
pub async fn run(ctx: &Ctx, s: &AddonSettings) -> Result<Option<InfraOutcome>, Error> {
    let plan = addons::plan(s);
    if s.dry_run {
        ctx.host.print_data(&plan.render());
        return Ok(None);
    }
    let kubeconfig = s
        .kubeconfig
        .as_deref()
        .expect("resolved when not a dry run");
    let client = kube_client::connect(kubeconfig).await?;
    let outcome = cluster_phase(ctx, &client, s).await?;
    let _ = ctx.host.summary("infra", &summary(&outcome));
    Ok(Some(outcome))
}

/// The cluster phase against `client`: apply, wait, report.
pub async fn cluster_phase(
    ctx: &Ctx,
    client: &kube::Client,
    s: &AddonSettings,
) -> Result<InfraOutcome, Error> {
    let plan = addons::plan(s);
    let deadline = Instant::now() + s.timeout;
    let progress = |line: &str| ctx.host.info(line);
    let mut objects = Vec::new();

    ctx.host
        .group_start("Install cert-manager and External Secrets (Flux)");
    let installed = async {
        // The watches start before the apply, so nothing the charts do is missed.
        let mut trackers = Vec::new();
        for w in &plan.install_waits {
            if let Wait::Release {
                namespace,
                deployments,
                ..
            } = w
            {
                trackers.push((
                    namespace.clone(),
                    deployments.clone(),
                    Tracker::start(client, namespace, &[WorkloadKind::Deployment]),
                ));
            }
        }
        let applied = apply_all(ctx, client, &plan.install).await?;
        // An unchanged release rolls nothing out: its Deployments are judged as they are.
        let changed = applied
            .iter()
            .any(|(id, action)| id.starts_with("HelmRelease") && *action != "unchanged");
        objects.extend(applied);
        let releases = try_join_all(plan.install_waits.iter().filter_map(|w| match w {
            Wait::Release { name, .. } => Some(ready::wait(
                client,
                Waited::HelmRelease,
                Some(addons::FLUX_NAMESPACE),
                name,
                deadline,
                &progress,
            )),
            _ => None,
        }));
        let workloads = try_join_all(trackers.iter_mut().map(|(ns, names, tracker)| {
            available(client, tracker, ns, names, changed, deadline, &progress)
        }));
        try_join(releases, workloads).await?;
        Ok::<_, Error>(())
    }
    .await;
    ctx.host.group_end();
    installed?;

    ctx.host.group_start("Issuers, secret stores, certificate");
    let configured = async {
        objects.extend(apply_all(ctx, client, &plan.configure).await?);
        let states = try_join_all(plan.configure_waits.iter().map(|w| {
            let progress = &progress;
            async move {
                let (waited, ns, name) = match w {
                    Wait::Issuer { name } => (Waited::ClusterIssuer, None, name),
                    Wait::Store { name } => (Waited::ClusterSecretStore, None, name),
                    Wait::Certificate { namespace, name } => {
                        (Waited::Certificate, Some(namespace.as_str()), name)
                    }
                    Wait::Release { name, .. } => (Waited::HelmRelease, None, name),
                };
                let obj = ready::wait(client, waited, ns, name, deadline, progress).await?;
                let c = ready::condition(&obj).unwrap_or_default();
                Ok::<_, AddonError>((w.object(), state_words(waited, &c.reason)))
            }
        }))
        .await?;
        Ok::<_, Error>(states)
    }
    .await;
    ctx.host.group_end();
    let mut states: Vec<(String, String)> = plan
        .install_waits
        .iter()
        .filter_map(|w| match w {
            Wait::Release { chart, version, .. } => {
                Some((format!("{chart} {version}"), "installed (Ready)".into()))
            }
            _ => None,
        })
        .collect();
    states.extend(configured?);

    let dns_record = wildcard_record(ctx, s, &plan).await?;
    let outcome = InfraOutcome {
        exit: Exit::Ok,
        versions: vec![
            ("cert-manager".into(), s.versions.cert_manager.clone()),
            (
                "external-secrets".into(),
                s.versions.external_secrets.clone(),
            ),
        ],
        objects,
        states,
        dns_record,
    };
    ctx.host.info(&format!(
        "cluster ready: {} object(s) changed, {} unchanged",
        outcome.changed(),
        outcome.objects.len() - outcome.changed()
    ));
    Ok(outcome)
}

fn state_words(waited: Waited, reason: &str) -> String {
    match waited {
        Waited::ClusterIssuer => "ACME account registered".into(),
        Waited::ClusterSecretStore => "Ready (store validated)".into(),
        Waited::Certificate => "issued".into(),
        Waited::HelmRelease => format!("Ready ({reason})"),
    }
}

/// Server-side apply of every object in order (kinds resolved first: a missing Flux
/// extension is one exit-2 error before anything is written); each object's action is
/// whether its resourceVersion moved.
async fn apply_all(
    ctx: &Ctx,
    client: &kube::Client,
    objects: &[Value],
) -> Result<Vec<(String, &'static str)>, Error> {
    let targets = apply::resolve(client, objects, false).await?;
    let mut out = Vec::new();
    for t in &targets {
        let api = api_of(client, t);
        let before = kube_client::retrying(|| async {
            api.get_opt(&t.name)
                .await
                .map_err(|e| KubeError::from_kube(t.id(), e))
        })
        .await?
        .and_then(|o| o.metadata.resource_version);
        let stored = apply::apply(client, t).await?;
        let after = stored
            .pointer("/metadata/resourceVersion")
            .and_then(Value::as_str)
            .map(String::from);
        let action = match before {
            None => "created",
            Some(b) if Some(&b) == after.as_ref() => "unchanged",
            Some(_) => "configured",
        };
        let id = match &t.namespace {
            Some(ns) => format!("{} {ns}/{}", t.resource.kind, t.name),
            None => format!("{} {}", t.resource.kind, t.name),
        };
        ctx.host.info(&format!("{id} {action}"));
        out.push((id, action));
    }
    Ok(out)
}

fn api_of(client: &kube::Client, t: &Target) -> Api<DynamicObject> {
    match &t.namespace {
        Some(ns) => Api::namespaced_with(client.clone(), ns, &t.resource),
        None => Api::all_with(client.clone(), &t.resource),
    }
}

/// The charts' Deployments Available (or the first one's failure, in its pods' words).
async fn available(
    client: &kube::Client,
    tracker: &mut Tracker,
    namespace: &str,
    names: &[String],
    settles: bool,
    deadline: Instant,
    progress: &(dyn Fn(&str) + Sync),
) -> Result<(), AddonError> {
    let watched: Vec<Watched> = names
        .iter()
        .map(|n| Watched {
            kind: WorkloadKind::Deployment,
            name: n.clone(),
            generation: 1,
            settles,
        })
        .collect();
    let outcomes = tracker
        .wait(
            &watched,
            deadline,
            MAX_RESTARTS,
            Some(SETTLE),
            PROGRESS_EVERY,
            progress,
        )
        .await;
    let Some(bad) = outcomes.iter().find(|o| o.verdict != Verdict::Healthy) else {
        return Ok(());
    };
    let events =
        track::warning_events(client, namespace, &bad.related_uids, Duration::from_secs(1))
            .await
            .unwrap_or_default();
    Err(AddonError::Workload {
        object: format!("Deployment {namespace}/{}", bad.name),
        reason: bad
            .failure
            .as_ref()
            .map(|f| f.reason.clone())
            .or_else(|| bad.reason.clone())
            .unwrap_or_else(|| bad.verdict.as_str().to_string()),
        events,
    })
}

/// `*.ZONE` A → the gateway's IP in Azure DNS, when asked.
async fn wildcard_record(
    ctx: &Ctx,
    s: &AddonSettings,
    plan: &AddonPlan,
) -> Result<Option<String>, Error> {
    use crate::clients::azure::{arm, credential::Credential, dns};
    let (Some(r), Some(azure)) = (&plan.dns_record, &s.azure) else {
        return Ok(None);
    };
    let cred = Credential::from_settings(azure, &ctx.env, &ctx.http, &ctx.host)?;
    let token = cred.token(&arm::arm_scope(&azure.arm_endpoint)).await?;
    let done = dns::upsert_a_record(
        &ctx.http,
        &azure.arm_endpoint,
        &token,
        &dns::ARecord {
            subscription_id: r.subscription_id.clone(),
            resource_group: r.resource_group.clone(),
            zone: r.zone.clone(),
            name: "*".into(),
            ttl: 300,
            addresses: vec![r.gateway_ip],
        },
    )
    .await?;
    let line = format!(
        "DNS: * A {} in zone {} ({})",
        r.gateway_ip,
        r.zone,
        if done.created { "created" } else { "updated" }
    );
    ctx.host.info(&line);
    Ok(Some(line))
}

/// The job summary: versions, states, what changed.
pub fn summary(o: &InfraOutcome) -> String {
    let mut md =
        String::from("### aks-backend infra: cluster add-ons\n\n| | state |\n| --- | --- |\n");
    for (what, state) in &o.states {
        md.push_str(&format!("| {what} | {state} |\n"));
    }
    if let Some(d) = &o.dns_record {
        md.push_str(&format!("| wildcard DNS record | {d} |\n"));
    }
    md.push_str(&format!(
        "\n{} object(s) changed, {} unchanged.\n",
        o.changed(),
        o.objects.len() - o.changed()
    ));
    md
}

/// The report row (PR comment): the installed versions and the readiness states.
pub fn step_row(o: &InfraOutcome, took: Duration) -> StepReport {
    let mut row = StepReport::new("infra", StepStatus::Ok);
    row.duration_ms = Some(took.as_millis() as u64);
    for (chart, version) in &o.versions {
        row.facts.push(Fact::code(chart.clone(), version.clone()));
    }
    let installed: Vec<String> = o.versions.iter().map(|(c, v)| format!("{c} {v}")).collect();
    for (what, state) in o.states.iter().filter(|(w, _)| !installed.contains(w)) {
        row.facts.push(Fact::text(what.clone(), state.clone()));
    }
    row.facts.push(Fact::text(
        "changes",
        format!(
            "{} object(s) changed, {} unchanged",
            o.changed(),
            o.objects.len() - o.changed()
        ),
    ));
    row
}
