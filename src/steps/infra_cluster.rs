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

use crate::clients::kube::apply::{self, Permission, Target};
use crate::clients::kube::ready::{self, AddonError, Waited};
use crate::clients::kube::track::{self, Tracker, Watched};
use crate::clients::kube::workloads::WorkloadKind;
use crate::clients::kube::{self as kube_client, KubeError};
use crate::error::{Error, Exit};
use crate::inputs::InputError;
use crate::inputs::settings::AddonSettings;
use crate::model::pipeline::{Fact, StepStatus, StepSummary};
use crate::model::rollout::Verdict;
use crate::plan::addons::{self, AddonPlan, ChartPin, Wait};

use super::{Ctx, Group};

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
    /// The charts' archives as source-controller fetched them (digest, pinned or not).
    pub charts: Vec<ChartSeen>,
    /// (object, created | configured | unchanged).
    pub objects: Vec<(String, &'static str)>,
    /// (object, its state in words), for the summary and the PR comment.
    pub states: Vec<(String, String)>,
    pub dns_record: Option<String>,
}

/// A chart source-controller fetched: its archive's digest, and whether a pin checked it.
#[derive(Clone, Debug, serde::Serialize)]
pub struct ChartSeen {
    pub chart: String,
    pub version: String,
    pub digest: String,
    pub pinned: bool,
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
    // The settings require a kubeconfig when it is not a dry run.
    let Some(kubeconfig) = s.kubeconfig.as_deref() else {
        return Err(InputError::Missing(
            "no kubeconfig".into(),
            "give --kubeconfig PATH or set KUBECONFIG".into(),
        )
        .into());
    };
    let client = kube_client::connect(kubeconfig).await?;
    let outcome = cluster_phase(ctx, &client, s).await?;
    let _ = ctx.host.summary("infra", &summary(&outcome));
    Ok(Some(outcome))
}

/// The cluster phase against `client`: access review, chart sources checked, install,
/// configure, wait, report.
pub async fn cluster_phase(
    ctx: &Ctx,
    client: &kube::Client,
    s: &AddonSettings,
) -> Result<InfraOutcome, Error> {
    let plan = addons::plan(s);
    let deadline = Instant::now() + s.timeout;
    access_review(ctx, client, &plan).await?;
    let mut objects = Vec::new();
    let charts = sources(ctx, client, &plan, deadline, &mut objects).await?;
    install(ctx, client, &plan, deadline, &mut objects).await?;
    let mut states: Vec<(String, String)> = charts
        .iter()
        .map(|c| {
            let pin = if c.pinned { "pinned" } else { "not pinned" };
            (
                format!("{} {}", c.chart, c.version),
                format!("installed (Ready); chart digest {} ({pin})", c.digest),
            )
        })
        .collect();
    states.extend(configure(ctx, client, &plan, deadline, &mut objects).await?);
    let dns_record = wildcard_record(ctx, s, &plan).await?;
    let outcome = InfraOutcome {
        exit: Exit::Ok,
        versions: charts
            .iter()
            .map(|c| (c.chart.clone(), c.version.clone()))
            .collect(),
        charts,
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

/// The permissions the phase uses, asked for before anything is applied: get, create and
/// patch on every kind it applies (where it applies it), list and watch on what it waits
/// on. Custom kinds need no discovery for this (their CRDs may not be served yet).
fn permissions(plan: &AddonPlan) -> Vec<Permission> {
    let mut set = std::collections::BTreeSet::new();
    let group_plural = |o: &Value| {
        let api_version = o["apiVersion"].as_str().unwrap_or_default();
        let group = api_version.rsplit_once('/').map(|(g, _)| g).unwrap_or("");
        let kind = o["kind"].as_str().unwrap_or_default().to_ascii_lowercase();
        let plural = match kind.strip_suffix('y') {
            Some(stem) => format!("{stem}ies"),
            None => format!("{kind}s"),
        };
        (group.to_string(), plural)
    };
    for o in plan.objects() {
        let (group, plural) = group_plural(o);
        let ns = (o.pointer("/metadata/namespace").and_then(Value::as_str)).unwrap_or_default();
        for verb in ["get", "create", "patch"] {
            set.insert(Permission::new(verb, &group, &plural, ns));
        }
    }
    let waits = plan.source_waits.iter().chain(&plan.install_waits);
    for w in waits.chain(&plan.configure_waits) {
        let (waited, ns) = waited_of(w);
        let r = waited.resource();
        for verb in ["list", "watch"] {
            set.insert(Permission::new(verb, &r.group, &r.plural, ns.unwrap_or("")));
        }
    }
    set.into_iter().collect()
}

/// SelfSubjectAccessReview for every permission: all that is missing in one exit-2 error.
async fn access_review(ctx: &Ctx, client: &kube::Client, plan: &AddonPlan) -> Result<(), Error> {
    let perms = permissions(plan);
    let denied = apply::denied(client, &perms).await?;
    ctx.host.info(&format!(
        "access review: {} permission(s), {} denied",
        perms.len(),
        denied.len()
    ));
    if denied.is_empty() {
        return Ok(());
    }
    Err(AddonError::AccessDenied {
        denied: denied.iter().map(Permission::describe).collect(),
    }
    .into())
}

/// The chart repositories and our HelmCharts applied, each HelmChart fetched, and its
/// artifact's digest compared with the pin (a mismatch stops before any release).
async fn sources(
    ctx: &Ctx,
    client: &kube::Client,
    plan: &AddonPlan,
    deadline: Instant,
    objects: &mut Vec<(String, &'static str)>,
) -> Result<Vec<ChartSeen>, Error> {
    let _group = Group::open(
        &ctx.host,
        "Chart sources (Flux HelmChart: version and digest)",
    );
    objects.extend(apply_all(ctx, client, &plan.sources).await?);
    let progress = |line: &str| ctx.host.info(line);
    let pins: Vec<&ChartPin> = plan
        .source_waits
        .iter()
        .filter_map(|w| match w {
            Wait::Chart(p) => Some(p),
            _ => None,
        })
        .collect();
    let fetched = try_join_all(pins.iter().map(|p| {
        let ns = Some(addons::FLUX_NAMESPACE);
        ready::wait(client, Waited::HelmChart, ns, &p.name, deadline, &progress)
    }))
    .await?;
    let mut seen = Vec::new();
    for (pin, chart) in pins.iter().zip(&fetched) {
        let c = check_digest(pin, chart)?;
        ctx.host.info(&format!(
            "HelmChart {}/{}: {} {} digest {} ({})",
            addons::FLUX_NAMESPACE,
            pin.name,
            c.chart,
            c.version,
            c.digest,
            if c.pinned {
                "matches the pin".to_string()
            } else {
                format!("not pinned: pin it with --{} {}", pin.input, c.digest)
            }
        ));
        seen.push(c);
    }
    Ok(seen)
}

/// What source-controller fetched for `pin`, or the mismatch with its pinned digest.
fn check_digest(pin: &ChartPin, chart: &Value) -> Result<ChartSeen, AddonError> {
    let digest = chart
        .pointer("/status/artifact/digest")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if let Some(pinned) = &pin.digest
        && pinned != digest
    {
        return Err(AddonError::DigestMismatch(Box::new(
            ready::DigestMismatch {
                object: format!("HelmChart {}/{}", addons::FLUX_NAMESPACE, pin.name),
                chart: pin.chart.clone(),
                version: pin.version.clone(),
                seen: if digest.is_empty() {
                    "none".into()
                } else {
                    digest.into()
                },
                pinned: pinned.clone(),
                input: pin.input.into(),
            },
        )));
    }
    Ok(ChartSeen {
        chart: pin.chart.clone(),
        version: pin.version.clone(),
        digest: digest.to_string(),
        pinned: pin.digest.is_some(),
    })
}

/// The HelmReleases applied (their Deployments watched from before), then Ready and the
/// charts' Deployments Available.
async fn install(
    ctx: &Ctx,
    client: &kube::Client,
    plan: &AddonPlan,
    deadline: Instant,
    objects: &mut Vec<(String, &'static str)>,
) -> Result<(), Error> {
    let _group = Group::open(
        &ctx.host,
        "Install cert-manager and External Secrets (Flux)",
    );
    let progress = |line: &str| ctx.host.info(line);
    // The watches start before the apply, so nothing the charts do is missed.
    let mut trackers = Vec::new();
    for w in &plan.install_waits {
        if let Wait::Release {
            namespace,
            deployments,
            ..
        } = w
        {
            let tracker = Tracker::start(client, namespace, &[WorkloadKind::Deployment]);
            trackers.push((namespace.clone(), deployments.clone(), tracker));
        }
    }
    let applied = apply_all(ctx, client, &plan.install).await?;
    // An unchanged release rolls nothing out: its Deployments are judged as they are.
    let changed = applied
        .iter()
        .any(|(id, action)| id.starts_with("HelmRelease") && *action != "unchanged");
    objects.extend(applied);
    let releases = try_join_all(plan.install_waits.iter().filter_map(|w| match w {
        Wait::Release { name, .. } => {
            let ns = Some(addons::FLUX_NAMESPACE);
            Some(ready::wait(
                client,
                Waited::HelmRelease,
                ns,
                name,
                deadline,
                &progress,
            ))
        }
        _ => None,
    }));
    let workloads = try_join_all(trackers.iter_mut().map(|(ns, names, tracker)| {
        available(client, tracker, ns, names, changed, deadline, &progress)
    }));
    try_join(releases, workloads).await?;
    Ok(())
}

/// Issuers, stores and the certificate applied, then each waited for: (object, state).
async fn configure(
    ctx: &Ctx,
    client: &kube::Client,
    plan: &AddonPlan,
    deadline: Instant,
    objects: &mut Vec<(String, &'static str)>,
) -> Result<Vec<(String, String)>, Error> {
    let _group = Group::open(&ctx.host, "Issuers, secret stores, certificate");
    objects.extend(apply_all(ctx, client, &plan.configure).await?);
    let progress = |line: &str| ctx.host.info(line);
    let states = try_join_all(plan.configure_waits.iter().map(|w| {
        let progress = &progress;
        async move {
            let (waited, ns) = waited_of(w);
            let name = waited_name(w);
            let obj = ready::wait(client, waited, ns, name, deadline, progress).await?;
            let c = ready::condition(&obj).unwrap_or_default();
            Ok::<_, AddonError>((w.object(), state_words(waited, &c.reason)))
        }
    }))
    .await?;
    Ok(states)
}

/// How a wait is watched: the kind, and its namespace (None: cluster-wide).
fn waited_of(w: &Wait) -> (Waited, Option<&str>) {
    match w {
        Wait::Chart(_) => (Waited::HelmChart, Some(addons::FLUX_NAMESPACE)),
        Wait::Release { .. } => (Waited::HelmRelease, Some(addons::FLUX_NAMESPACE)),
        Wait::Issuer { .. } => (Waited::ClusterIssuer, None),
        Wait::Store { .. } => (Waited::ClusterSecretStore, None),
        Wait::Certificate { namespace, .. } => (Waited::Certificate, Some(namespace.as_str())),
    }
}

fn waited_name(w: &Wait) -> &str {
    match w {
        Wait::Chart(p) => &p.name,
        Wait::Release { name, .. }
        | Wait::Issuer { name }
        | Wait::Store { name }
        | Wait::Certificate { name, .. } => name,
    }
}

fn state_words(waited: Waited, reason: &str) -> String {
    match waited {
        Waited::ClusterIssuer => "ACME account registered".into(),
        Waited::ClusterSecretStore => "Ready (store validated)".into(),
        Waited::Certificate => "issued".into(),
        Waited::HelmRelease | Waited::HelmChart => format!("Ready ({reason})"),
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
pub fn step_row(o: &InfraOutcome, took: Duration) -> StepSummary {
    let mut row = StepSummary::new("infra", StepStatus::Ok);
    row.duration_ms = Some(took.as_millis() as u64);
    for (chart, version) in &o.versions {
        row.facts.push(Fact::code(chart.clone(), version.clone()));
    }
    for c in &o.charts {
        row.facts.push(Fact::code(
            format!("{} chart digest", c.chart),
            c.digest.clone(),
        ));
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
