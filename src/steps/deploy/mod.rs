//! The deploy step: plan (pure) -> pre-flight (access review, namespace, server-side dry
//! run with diff) -> server-side apply -> track every Deployment, StatefulSet, DaemonSet
//! and Job under one deadline -> verify the running digests -> roll back the workloads
//! that failed (a Job is reported as not rolled back) -> Azure DNS/NSG -> wait for the
//! certificate -> report. Everything is one process talking to the API server.
//!
//! One file per phase, in the order [`execute`] runs them, each taking its part of
//! `plan.actions`: `preflight`, `apply`, `track`, `rollback`, `azure`.

mod apply;
mod azure;
mod preflight;
mod rollback;
mod track;

use std::path::Path;
use std::time::{Duration, Instant};

use crate::clients::kube::track::Tracker;
use crate::clients::kube::workloads::WorkloadKind;
use crate::clients::kube::{self as kube_client, certificate};
use crate::error::{Error, Exit};
use crate::host::{Level, Location};
use crate::inputs::InputError;
use crate::inputs::settings::{DeploySettings, ManifestSource};
use crate::model::rollout::{DeployReport, Verdict, WorkloadReport};
use crate::plan::deploy::{Action, DeployPlan};
use crate::plan::manifests::Trace;

use super::Ctx;

const PROGRESS_EVERY: Duration = Duration::from_secs(3);

#[derive(Debug)]
pub struct DeployOutcome {
    pub report: DeployReport,
    pub exit: Exit,
    /// An error after a successful apply (Azure side, certificate wait, outputs): the
    /// report above is complete and published; this decides the exit code.
    pub error: Option<Error>,
}

/// The user's manifest files, read: every `.yaml`/`.yml`/`.json` under each path.
fn read_manifests(s: &DeploySettings) -> Result<Vec<(String, String)>, Error> {
    let ManifestSource::User { paths, .. } = &s.source else {
        return Ok(Vec::new());
    };
    let mut files = Vec::new();
    for p in paths {
        collect(p, &mut files)?;
    }
    let mut out = Vec::new();
    for f in files {
        use crate::fsx;
        let text = fsx::read_to_string(&f, "manifest", fsx::Follow::No, fsx::MEDIUM)
            .map_err(InputError::from)?;
        out.push((f.display().to_string(), text));
    }
    Ok(out)
}

fn collect(p: &Path, out: &mut Vec<std::path::PathBuf>) -> Result<(), Error> {
    if p.is_dir() {
        let mut entries: Vec<_> = std::fs::read_dir(p)
            .map_err(|source| InputError::File {
                what: "manifest directory",
                path: p.to_path_buf(),
                source,
            })?
            .filter_map(Result::ok)
            .map(|e| e.path())
            .collect();
        entries.sort();
        for e in entries {
            if e.is_dir() {
                collect(&e, out)?;
            } else if e
                .extension()
                .is_some_and(|x| x == "yaml" || x == "yml" || x == "json")
            {
                out.push(e);
            }
        }
    } else {
        out.push(p.to_path_buf());
    }
    Ok(())
}

pub fn trace(ctx: &Ctx) -> Trace {
    Trace {
        commit: ctx.ci.commit.clone(),
        run_url: ctx.ci.run_url.clone(),
        pr: ctx.ci.pr_number,
        workflow: ctx.ci.workflow.clone(),
        repository: ctx.ci.repository.clone(),
    }
}

/// The plan: the user's manifests read (or the app's generated), images substituted, the
/// actions in order. `--dry-run` prints it; the warnings it found are annotated.
pub fn plan(ctx: &Ctx, s: &DeploySettings) -> Result<DeployPlan, Error> {
    let documents = read_manifests(s)?;
    let plan = DeployPlan::new(s, &documents, &trace(ctx))?;
    for i in &plan.unpinned_images {
        ctx.host.annotate(
            Level::Warning,
            &format!(
                "image {i} is not pinned by digest; what runs may differ from what was tested"
            ),
            &Location::default(),
        );
    }
    for w in &plan.warnings {
        ctx.host.annotate(Level::Warning, w, &Location::default());
    }
    Ok(plan)
}

/// Whether the plan holds an action of this shape.
fn has(plan: &DeployPlan, wanted: impl Fn(&Action) -> bool) -> bool {
    plan.actions.iter().any(wanted)
}

/// Runs the plan's actions against the cluster (and Azure), and publishes the report.
pub async fn execute(
    ctx: &Ctx,
    s: &DeploySettings,
    plan: &DeployPlan,
) -> Result<DeployOutcome, Error> {
    let started = Instant::now();
    let kubeconfig = s.kubeconfig.as_deref().ok_or_else(|| {
        InputError::Missing(
            "no kubeconfig".into(),
            "give --kubeconfig PATH or set KUBECONFIG".into(),
        )
    })?;
    let client = kube_client::connect(kubeconfig).await?;
    let ns = &s.namespace;
    // Pre-flight: nothing changes until all of it passed.
    let pre = preflight::run(ctx, &client, plan, s).await?;
    // The watches start before the apply, so nothing is missed.
    let kinds: Vec<WorkloadKind> = pre
        .targets
        .iter()
        .filter_map(|t| WorkloadKind::of(&t.resource.group, &t.resource.kind))
        .collect();
    let mut tracker = Tracker::start(&client, ns, &kinds);
    // Separate components (`--component`, `--compose`) scale, fail and roll back alone.
    if matches!(&s.source, ManifestSource::Generated { components, .. } if components.len() > 1) {
        tracker.track_independently();
    }
    let applied = apply::run(ctx, &client, &pre.targets, &pre.changes).await?;
    let outcomes = track::wait(ctx, &mut tracker, &applied.watched, s).await;
    let verify = has(plan, |a| matches!(a, Action::VerifyDigests));
    let mut workloads = track::reports(ns, &outcomes, verify);
    let failed = workloads.iter().any(|w| w.verdict.is_failure());
    rollback::after_failure(
        ctx,
        &client,
        &mut tracker,
        s,
        &applied.workloads,
        &outcomes,
        &mut workloads,
    )
    .await;
    // Once the app is healthy: the A record and the gateway's NSG rule (the certificate's
    // HTTP-01 challenge needs the record), then the certificate. A failure in either
    // does not hide the rollout: the report and outputs are published first, then the
    // error decides the exit code.
    let mut after = After::default();
    if !failed {
        match azure::run(ctx, s).await {
            Ok(done) => after.azure = done,
            Err(e) => {
                after.azure = vec![format!("Azure: failed: {e}")];
                after.error = Some(e);
            }
        }
        wait_certificate(ctx, &client, plan, s, &mut after).await;
    }
    let report = DeployReport {
        namespace: ns.clone(),
        namespace_created: !pre.ns_exists,
        objects: pre.changes,
        verdict: verdict(&workloads),
        workloads,
        url: after.url,
        certificate_ready: after.certificate_ready,
        azure: after.azure,
        seconds: started.elapsed().as_secs_f64(),
    };
    track::tell(ctx, &report);
    let published = publish(ctx, s, &report);
    // The first error after the apply decides the exit; the outcome still carries the
    // report, so the job summary and the PR comment show the rollout with it.
    Ok(DeployOutcome {
        exit: if failed { Exit::Refused } else { Exit::Ok },
        error: after.error.or(published.err()),
        report,
    })
}

/// What happened after a healthy rollout: the Azure side's lines, the certificate, the
/// first error.
#[derive(Default)]
struct After {
    azure: Vec<String>,
    url: Option<String>,
    certificate_ready: Option<bool>,
    error: Option<Error>,
}

/// The cert-manager Certificate for the host, when the plan waits for it.
async fn wait_certificate(
    ctx: &Ctx,
    client: &kube::Client,
    plan: &DeployPlan,
    s: &DeploySettings,
    after: &mut After,
) {
    let Some(name) = plan.actions.iter().find_map(|a| match a {
        Action::WaitCertificate { name } => Some(name),
        _ => None,
    }) else {
        return;
    };
    match certificate::wait_ready(client, &s.namespace, name, Instant::now() + s.timeout).await {
        Ok(true) => {
            after.certificate_ready = Some(true);
            after.url = s.host.as_ref().map(|h| format!("https://{h}"));
        }
        Ok(false) => {
            after.certificate_ready = Some(false);
            ctx.host.annotate(
                Level::Warning,
                &format!("Certificate {name} was not Ready within {:?}", s.timeout),
                &Location::default(),
            );
        }
        Err(e) => {
            if after.error.is_none() {
                after.error = Some(Error::from(e));
            }
        }
    }
}

/// The rollout's verdict: healthy, or the worst failure (a timeout over a failure).
fn verdict(workloads: &[WorkloadReport]) -> Verdict {
    if !workloads.iter().any(|w| w.verdict.is_failure()) {
        Verdict::Healthy
    } else if workloads.iter().any(|w| w.verdict == Verdict::TimedOut) {
        Verdict::TimedOut
    } else {
        Verdict::Failed
    }
}

/// The step's outputs, on the host and in `--outputs-file`.
fn publish(ctx: &Ctx, s: &DeploySettings, report: &DeployReport) -> Result<(), Error> {
    let rolled_back = report.workloads.iter().any(|w| {
        w.rollback
            .as_ref()
            .is_some_and(|r| r.verdict == Verdict::Healthy)
    });
    // The report is plain data (strings, numbers, lists): it always serializes.
    let json = serde_json::to_string(report).unwrap_or_default();
    let outputs = [
        ("rollout", report.verdict.as_str().to_string()),
        ("namespace", report.namespace.clone()),
        ("url", report.url.clone().unwrap_or_default()),
        ("rollout-reason", report.reasons().join("\n")),
        ("rolled-back", rolled_back.to_string()),
        ("deploy-report", json),
    ];
    ctx.publish(&outputs, s.outputs_file.as_deref())
}
