//! The deploy step: plan (pure) -> pre-flight (access review, namespace, server-side dry
//! run with diff) -> Azure DNS/NSG -> server-side apply -> track every Deployment,
//! StatefulSet, DaemonSet and Job under one deadline -> verify the running digests ->
//! roll back the Deployments that failed (the other kinds are reported as not rolled
//! back) -> wait for the certificate -> report. Everything is one process talking to the API server.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::clients::kube::apply::{self, Target};
use crate::clients::kube::rollback;
use crate::clients::kube::rules;
use crate::clients::kube::track::{self, Outcome, Tracker, Watched};
use crate::clients::kube::workloads::WorkloadKind;
use crate::clients::kube::{self as kube_client, certificate};
use crate::error::{Error, Exit};
use crate::host::{Level, Location};
use crate::inputs::InputError;
use crate::inputs::settings::{DeploySettings, ManifestSource};
use crate::model::pod_security;
use crate::model::rollout::{
    DeployReport, LogExcerpt, ObjectChange, RollbackReport, RunningImage, Verdict, WorkloadReport,
};
use crate::plan::deploy::{Action, DeployPlan};
use crate::render::manifests::Trace;

use super::Ctx;

const LOG_LINES: i64 = 50;
const PROGRESS_EVERY: Duration = Duration::from_secs(3);
/// How long a rollback waits for the failed pods' logs before it starts anyway.
const LOG_HEAD_START: Duration = Duration::from_millis(500);

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

pub async fn run(ctx: &Ctx, s: &DeploySettings) -> Result<Option<DeployOutcome>, Error> {
    let started = Instant::now();
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
    if s.dry_run {
        if let Some(dir) = s
            .compose
            .as_ref()
            .and_then(|a| a.render_dir.as_ref().map(|d| (a, d)))
        {
            super::compose::render(ctx, &plan, dir.0, dir.1)?;
        }
        let json = serde_json::to_string_pretty(&plan).expect("the plan serializes");
        ctx.host.print_data(&json);
        return Ok(None);
    }
    let kubeconfig = s
        .kubeconfig
        .as_deref()
        .expect("resolved when not a dry run");
    let client = kube_client::connect(kubeconfig).await?;
    let ns = &s.namespace;

    // --- pre-flight: nothing changes until all of it passed ---
    ctx.host
        .group_start(&format!("Pre-flight in namespace {ns}"));
    let pre = preflight(ctx, &client, &plan, s).await;
    ctx.host.group_end();
    let Preflight {
        targets,
        ns_exists,
        changes,
    } = pre?;

    // --- apply, with the watches already running so nothing is missed ---
    let kinds: Vec<WorkloadKind> = targets
        .iter()
        .filter_map(|t| WorkloadKind::of(&t.resource.group, &t.resource.kind))
        .collect();
    let mut tracker = Tracker::start(&client, ns, &kinds);
    ctx.host.group_start("Apply");
    let mut watched = Vec::new();
    let mut applied: Vec<Target> = Vec::new();
    for (t, change) in targets.iter().zip(&changes) {
        let stored = match apply::apply(&client, t).await {
            Ok(v) => v,
            Err(e) => {
                ctx.host.group_end();
                return Err(e.into());
            }
        };
        ctx.host.info(&format!("{} applied", t.id()));
        if let Some(kind) = WorkloadKind::of(&t.resource.group, &t.resource.kind) {
            watched.push(Watched {
                kind,
                name: t.name.clone(),
                generation: stored
                    .pointer("/metadata/generation")
                    .and_then(Value::as_i64)
                    .unwrap_or(1),
                // Unchanged by this deploy: no new revision, its pods already ran.
                settles: change.action != "unchanged",
            });
            applied.push(t.clone());
        }
    }
    ctx.host.group_end();

    // --- track ---
    ctx.host.group_start("Rollout");
    let deadline = Instant::now() + s.timeout;
    let progress = |line: &str| ctx.host.info(line);
    let outcomes = tracker
        .wait(
            &watched,
            deadline,
            s.max_restarts as i32,
            Some(s.settle),
            PROGRESS_EVERY,
            &progress,
        )
        .await;
    ctx.host.group_end();

    let mut workloads = Vec::new();
    for o in &outcomes {
        let mut w = workload_report(ns, o);
        if o.verdict == Verdict::Healthy {
            let pods: Vec<&k8s_openapi::api::core::v1::Pod> = o.new_pods.iter().collect();
            let bad = rules::digest_mismatches(&pods);
            if let Some(m) = bad.first() {
                w.verdict = Verdict::Failed;
                w.reason = Some(format!(
                    "pod {}: container {} runs {} instead of the deployed {}",
                    m.pod,
                    m.container,
                    if m.image_id.is_empty() {
                        "an unknown image"
                    } else {
                        &m.image_id
                    },
                    m.expected
                ));
            }
        }
        workloads.push(w);
    }

    // --- rollback what did not become healthy, and meanwhile the failed pods' events and
    // logs: each log fetch has its own short deadline, so a kubelet that cannot be
    // reached never holds the rollback up (and the pods are still there to ask) ---
    let failed = workloads.iter().any(|w| w.verdict.is_failure());
    let failing: Vec<bool> = workloads.iter().map(|w| w.verdict.is_failure()).collect();
    // The rollback soon deletes the failed pods, so it gives the log fetches a short head
    // start (LOG_HEAD_START at most) before it begins.
    let (logs_in, logs_fetched) = tokio::sync::oneshot::channel::<()>();
    let words = async {
        let mut logs = Vec::new();
        for (o, bad) in outcomes.iter().zip(&failing) {
            logs.push(if *bad {
                failure_logs(&client, ns, o, s.log_timeout).await
            } else {
                Vec::new()
            });
        }
        let _ = logs_in.send(());
        let mut out = Vec::new();
        for ((o, bad), logs) in outcomes.iter().zip(&failing).zip(logs) {
            let events = if *bad {
                track::warning_events(&client, ns, &o.related_uids, Duration::from_secs(1))
                    .await
                    .unwrap_or_default()
            } else {
                Vec::new()
            };
            out.push((events, logs));
        }
        out
    };
    let rollbacks = async {
        let mut out: Vec<Option<RollbackReport>> = vec![None; failing.len()];
        if !failed || s.no_rollback {
            return out;
        }
        let _ = tokio::time::timeout(LOG_HEAD_START.min(s.log_timeout), logs_fetched).await;
        ctx.host.group_start("Rollback");
        for (i, (target, o)) in applied.iter().zip(&outcomes).enumerate() {
            if !failing[i] {
                continue;
            }
            out[i] = Some(match o.kind {
                WorkloadKind::Deployment => roll_back(ctx, &client, &mut tracker, target, s).await,
                WorkloadKind::Job => not_rolled_back(ctx, target),
                kind => roll_back_revision(ctx, &client, &mut tracker, kind, target, s).await,
            });
        }
        ctx.host.group_end();
        out
    };
    let (words, rollbacks) = tokio::join!(words, rollbacks);
    for ((w, (events, logs)), rollback) in workloads.iter_mut().zip(words).zip(rollbacks) {
        w.events = events;
        w.logs = logs;
        w.rollback = rollback;
    }

    // --- Azure: the A record and the gateway's NSG rule, once the app is healthy (the
    // certificate's HTTP-01 challenge needs the record) ---
    // A failure here does not hide the rollout: the report and outputs are published
    // first, then the error decides the exit code.
    let (azure_done, azure_error) = if failed {
        (Vec::new(), None)
    } else {
        match azure_side(ctx, s).await {
            Ok(done) => (done, None),
            Err(e) => (vec![format!("Azure: failed: {e}")], Some(e)),
        }
    };

    // --- certificate ---
    // Like the Azure side, an error here is reported after the outputs are published.
    let mut url = None;
    let mut certificate_ready = None;
    let mut certificate_error = None;
    if !failed
        && let Some(Action::WaitCertificate { name }) = plan
            .actions
            .iter()
            .find(|a| matches!(a, Action::WaitCertificate { .. }))
    {
        match certificate::wait_ready(&client, ns, name, Instant::now() + s.timeout).await {
            Ok(true) => {
                certificate_ready = Some(true);
                url = s.host.as_ref().map(|h| format!("https://{h}"));
            }
            Ok(false) => {
                certificate_ready = Some(false);
                ctx.host.annotate(
                    Level::Warning,
                    &format!("Certificate {name} was not Ready within {:?}", s.timeout),
                    &Location::default(),
                );
            }
            Err(e) => certificate_error = Some(Error::from(e)),
        }
    }

    let verdict = if failed {
        if workloads.iter().any(|w| w.verdict == Verdict::TimedOut) {
            Verdict::TimedOut
        } else {
            Verdict::Failed
        }
    } else {
        Verdict::Healthy
    };
    let report = DeployReport {
        namespace: ns.clone(),
        namespace_created: !ns_exists,
        objects: changes,
        workloads,
        url,
        certificate_ready,
        azure: azure_done,
        verdict,
        seconds: started.elapsed().as_secs_f64(),
    };
    tell(ctx, &report);
    let outputs = [
        ("rollout", verdict.as_str().to_string()),
        ("namespace", ns.clone()),
        ("url", report.url.clone().unwrap_or_default()),
        ("rollout-reason", report.reasons().join("\n")),
        (
            "rolled-back",
            report
                .workloads
                .iter()
                .any(|w| {
                    w.rollback
                        .as_ref()
                        .is_some_and(|r| r.verdict == Verdict::Healthy)
                })
                .to_string(),
        ),
        (
            "deploy-report",
            serde_json::to_string(&report).expect("the report serializes"),
        ),
    ];
    let published = ctx.publish(&outputs, s.outputs_file.as_deref());
    // The first error after the apply decides the exit; the outcome still carries the
    // report, so the job summary and the PR comment show the rollout with it.
    let error = azure_error.or(certificate_error).or(published.err());
    let exit = if failed { Exit::Refused } else { Exit::Ok };
    Ok(Some(DeployOutcome {
        report,
        exit,
        error,
    }))
}

struct Preflight {
    targets: Vec<Target>,
    ns_exists: bool,
    changes: Vec<ObjectChange>,
}

/// Discovery of every type the plan needs (all missing ones named at once), the access
/// review (first, so an identity that may not even read the namespace gets the list of
/// what it lacks), the namespace, and the server-side dry run of every object.
async fn preflight(
    ctx: &Ctx,
    client: &kube::Client,
    plan: &DeployPlan,
    s: &DeploySettings,
) -> Result<Preflight, Error> {
    let ns = &s.namespace;
    let wait_certificate = plan
        .actions
        .iter()
        .any(|a| matches!(a, Action::WaitCertificate { .. }));
    let targets = apply::resolve(client, &plan.objects, wait_certificate).await?;
    let perms = apply::permissions(&targets, ns, wait_certificate);
    let mut denied = apply::denied(client, &perms).await?;
    let may_read_ns = !denied
        .iter()
        .any(|p| p.resource == "namespaces" && p.verb == "get");
    // Whether the namespace exists is known only to who may read it; creating it is
    // needed only when it does not.
    let ns_exists = if may_read_ns {
        apply::namespace_exists(client, ns).await?
    } else {
        false
    };
    if ns_exists {
        denied.retain(|p| !p.creates_namespace());
    }
    ctx.host.info(&format!(
        "access review: {} permission(s), {} denied",
        perms.len(),
        denied.len()
    ));
    if !denied.is_empty() {
        return Err(kube_client::KubeError::AccessDenied {
            denied: denied.iter().map(|p| p.describe()).collect(),
        }
        .into());
    }
    if !ns_exists {
        ctx.host.info(&format!("creating namespace {ns}"));
        let labels = plan
            .actions
            .iter()
            .find_map(|a| match a {
                Action::EnsureNamespace { labels, .. } => Some(labels.clone()),
                _ => None,
            })
            .unwrap_or_default();
        apply::create_namespace(client, ns, &labels).await?;
    }
    let mut changes: Vec<ObjectChange> = Vec::new();
    for t in &targets {
        let c = apply::dry_run(client, t).await?;
        ctx.host.info(&format!(
            "dry run: {} would be {}{}",
            t.id(),
            c.action,
            if c.diff.is_empty() {
                String::new()
            } else {
                format!(" ({} change(s))", c.diff.len())
            }
        ));
        changes.push(c);
    }
    Ok(Preflight {
        targets,
        ns_exists,
        changes,
    })
}

fn workload_report(ns: &str, o: &Outcome) -> WorkloadReport {
    let images = o
        .new_pods
        .iter()
        .flat_map(|p| {
            let pod = p.metadata.name.clone().unwrap_or_default();
            p.status
                .as_ref()
                .and_then(|s| s.container_statuses.clone())
                .unwrap_or_default()
                .into_iter()
                .map(move |c| RunningImage {
                    pod: pod.clone(),
                    container: c.name,
                    image: c.image,
                    image_id: c.image_id,
                })
        })
        .collect();
    WorkloadReport {
        kind: o.kind.as_str().into(),
        name: o.name.clone(),
        namespace: ns.into(),
        verdict: o.verdict,
        // A pod refused by PodSecurity admission: name the setting that relaxes it.
        reason: o
            .reason
            .clone()
            .map(|r| match pod_security::relax_hint(&r) {
                Some(hint) => format!("{r}. {hint}"),
                None => r,
            }),
        revision: o.revision,
        events: Vec::new(),
        logs: Vec::new(),
        images,
        seconds: o.seconds,
        rollback: None,
    }
}

/// The failing container's last lines, and its crashed predecessor's when it restarted,
/// each fetched under `deadline`; one that cannot be had says why instead.
async fn failure_logs(
    client: &kube::Client,
    ns: &str,
    o: &Outcome,
    deadline: Duration,
) -> Vec<LogExcerpt> {
    let (pod, container, restarted) = match &o.failure {
        Some(rules::Failure {
            pod: Some(p),
            container: Some(c),
            restarted,
            ..
        }) => (p.clone(), c.clone(), *restarted),
        // No container at fault: the first new pod's first container, if it ran.
        _ => match o.new_pods.first().and_then(|p| {
            Some((
                p.metadata.name.clone()?,
                p.spec.as_ref()?.containers.first()?.name.clone(),
            ))
        }) {
            Some((p, c)) => (p, c, false),
            None => return Vec::new(),
        },
    };
    let mut out = Vec::new();
    let mut wanted = vec![false];
    if restarted {
        wanted.insert(0, true);
    }
    for previous in wanted {
        let fetched = tokio::time::timeout(
            deadline,
            track::logs(client, ns, &pod, &container, previous, LOG_LINES),
        )
        .await;
        let (lines, unavailable) = match fetched {
            Ok(Ok(lines)) => (lines, None),
            // The container never ran (still pulling, bad config): no log to show, and
            // its events say why.
            Ok(Err(kube_client::KubeError::Api { code: 400, .. })) => continue,
            Ok(Err(e)) => (
                Vec::new(),
                Some(format!("the cluster could not give it: {e}")),
            ),
            Err(_) => (
                Vec::new(),
                Some(format!(
                    "no answer within {}s (the node's kubelet may be unreachable)",
                    deadline.as_secs_f64()
                )),
            ),
        };
        out.push(LogExcerpt {
            pod: pod.clone(),
            container: container.clone(),
            previous,
            lines,
            unavailable,
        });
    }
    out
}

/// What we say for a failed Job: left as it is (a Job has no revisions to go back to).
/// Never a claim that it was rolled back.
fn not_rolled_back(ctx: &Ctx, target: &Target) -> RollbackReport {
    let reason = "Jobs are not rolled back; the failed Job is left as it is".to_string();
    ctx.host.info(&format!("{}: {reason}", target.id()));
    RollbackReport {
        to_revision: None,
        verdict: Verdict::Cancelled,
        reason: Some(reason),
        seconds: 0.0,
    }
}

/// Applies the undo target of either rollback (a Deployment's previous ReplicaSet, or a
/// StatefulSet's/DaemonSet's previous ControllerRevision): the revision and the generation
/// to track back, or why not (a first deploy has nothing to go back to).
async fn undo_to(
    ctx: &Ctx,
    client: &kube::Client,
    target: &Target,
    found: Option<(Target, i64)>,
) -> Result<(i64, i64), (Verdict, String, Option<i64>)> {
    let Some((undo, revision)) = found else {
        ctx.host.info(&format!(
            "{}: no earlier revision to roll back to; left as it is",
            target.id()
        ));
        return Err((
            Verdict::Cancelled,
            "no earlier revision (first deploy)".into(),
            None,
        ));
    };
    ctx.host.info(&format!(
        "{}: rolling back to revision {revision}",
        target.id()
    ));
    match rollback::undo(client, &undo).await {
        Ok(g) => Ok((revision, g)),
        Err(e) => Err((Verdict::Failed, e.to_string(), Some(revision))),
    }
}

/// A StatefulSet or DaemonSet back to its previous ControllerRevision (what `kubectl
/// rollout undo` applies), the StatefulSet's pods stuck on the failed revision deleted,
/// then tracked back.
async fn roll_back_revision(
    ctx: &Ctx,
    client: &kube::Client,
    tracker: &mut Tracker,
    kind: WorkloadKind,
    target: &Target,
    s: &DeploySettings,
) -> RollbackReport {
    let started = Instant::now();
    let report = |verdict, reason: Option<String>, to_revision| RollbackReport {
        to_revision,
        verdict,
        reason,
        seconds: started.elapsed().as_secs_f64(),
    };
    let Some((revisions, current, stuck)) = tracker.revision_state(kind, &target.name) else {
        return report(
            Verdict::Failed,
            Some(format!("the {} or its revisions are gone", kind.as_str())),
            None,
        );
    };
    let (revision, generation) = match undo_to(
        ctx,
        client,
        target,
        rollback::undo_revision_target(target, &current, &revisions),
    )
    .await
    {
        Ok(done) => done,
        Err((verdict, reason, to)) => return report(verdict, Some(reason), to),
    };
    if !stuck.is_empty() {
        ctx.host.info(&format!(
            "{}: deleting pod(s) stuck on the failed revision: {}",
            target.id(),
            stuck.join(", ")
        ));
        if let Err(e) = rollback::delete_pods(client, &s.namespace, &stuck).await {
            return report(Verdict::Failed, Some(e.to_string()), Some(revision));
        }
    }
    let o = track_back(ctx, tracker, kind, target, generation, revision, s).await;
    report(o.verdict, o.reason, Some(revision))
}

/// Tracks a rolled-back workload to its verdict under a fresh deadline.
async fn track_back(
    ctx: &Ctx,
    tracker: &mut Tracker,
    kind: WorkloadKind,
    target: &Target,
    generation: i64,
    revision: i64,
    s: &DeploySettings,
) -> Outcome {
    let progress = |line: &str| ctx.host.info(line);
    let w = Watched {
        kind,
        name: target.name.clone(),
        generation,
        settles: false,
    };
    let o = tracker
        .wait(
            &[w],
            Instant::now() + s.timeout,
            s.max_restarts as i32,
            None,
            PROGRESS_EVERY,
            &progress,
        )
        .await
        .remove(0);
    ctx.host.info(&format!(
        "{}: rollback to revision {revision} {}",
        target.id(),
        o.verdict.as_str()
    ));
    o
}

async fn roll_back(
    ctx: &Ctx,
    client: &kube::Client,
    tracker: &mut Tracker,
    target: &Target,
    s: &DeploySettings,
) -> RollbackReport {
    let started = Instant::now();
    let report = |verdict, reason: Option<String>, to_revision| RollbackReport {
        to_revision,
        verdict,
        reason,
        seconds: started.elapsed().as_secs_f64(),
    };
    let Some((d, sets)) = tracker.deployment(&target.name) else {
        return report(Verdict::Failed, Some("the Deployment is gone".into()), None);
    };
    let (revision, generation) = match undo_to(
        ctx,
        client,
        target,
        rollback::undo_target(target, &d, &sets),
    )
    .await
    {
        Ok(done) => done,
        Err((verdict, reason, to)) => return report(verdict, Some(reason), to),
    };
    let o = track_back(
        ctx,
        tracker,
        WorkloadKind::Deployment,
        target,
        generation,
        revision,
        s,
    )
    .await;
    report(o.verdict, o.reason, Some(revision))
}

/// One line per workload, its events and its pod's own words, where people look.
fn tell(ctx: &Ctx, r: &DeployReport) {
    for w in &r.workloads {
        let id = format!("{}/{}/{}", w.namespace, w.kind, w.name);
        match (&w.verdict, &w.reason) {
            (Verdict::Healthy, _) => ctx.host.info(&format!(
                "{id}: healthy{} in {:.1}s",
                w.revision
                    .map(|r| format!(" (revision {r})"))
                    .unwrap_or_default(),
                w.seconds
            )),
            (Verdict::NotTracked, reason) => ctx.host.annotate(
                Level::Warning,
                &format!("{id}: not tracked: {}", reason.as_deref().unwrap_or("")),
                &Location {
                    title: Some(format!("Rollout of {}", w.name)),
                    ..Default::default()
                },
            ),
            (v, reason) => {
                ctx.host.annotate(
                    Level::Error,
                    &format!("{id}: {}: {}", v.as_str(), reason.as_deref().unwrap_or("")),
                    &Location {
                        title: Some(format!("Rollout of {}", w.name)),
                        ..Default::default()
                    },
                );
                if !w.events.is_empty() {
                    ctx.host.info("Warning events:");
                    let lines: Vec<String> = w
                        .events
                        .iter()
                        .map(|e| {
                            format!("  {} {} (x{}): {}", e.object, e.reason, e.count, e.message)
                        })
                        .collect();
                    ctx.host.untrusted(&lines);
                }
                for l in &w.logs {
                    if let Some(why) = &l.unavailable {
                        // The reason may hold the server's words: untrusted text.
                        ctx.host.untrusted(&[format!(
                            "no log of {}/{}{}: {why}",
                            l.pod,
                            l.container,
                            if l.previous {
                                " (previous instance)"
                            } else {
                                ""
                            }
                        )]);
                        continue;
                    }
                    ctx.host.info(&format!(
                        "last {} log line(s) of {}/{}{}:",
                        l.lines.len(),
                        l.pod,
                        l.container,
                        if l.previous {
                            " (previous instance)"
                        } else {
                            ""
                        }
                    ));
                    ctx.host.untrusted(&l.lines);
                }
            }
        }
        if let Some(rb) = &w.rollback {
            ctx.host.info(&format!(
                "{id}: rollback{} {}{}",
                rb.to_revision
                    .map(|r| format!(" to revision {r}"))
                    .unwrap_or_default(),
                rb.verdict.as_str(),
                rb.reason
                    .as_deref()
                    .map(|r| format!(": {r}"))
                    .unwrap_or_default()
            ));
        }
    }
}

/// Points the app's FQDN at the gateway and opens TCP 443 on the gateway's NSG (from the
/// allow-list, or from anywhere as the seed says). Returns one line per change; a target
/// that is not known (no `refer`, no flags) is skipped with a line saying so.
async fn azure_side(ctx: &Ctx, s: &DeploySettings) -> Result<Vec<String>, Error> {
    use crate::clients::azure::{arm, credential::Credential, dns, network};
    let mut done = Vec::new();
    if s.host.is_none() {
        return Ok(done);
    }
    if s.dns.is_none() && s.nsg.is_none() {
        ctx.host.info(
            "DNS record and NSG rule skipped: the zone and the gateway NSG are unknown (run `refer` first, or pass --dns-zone / --gateway-nsg-name)",
        );
        return Ok(done);
    }
    ctx.host.group_start("Azure: DNS record and gateway NSG");
    let result = async {
        let cred = Credential::from_settings(&s.azure, &ctx.env, &ctx.http, &ctx.host)?;
        // The scope `Arm` and refer use (the endpoint's origin), not the URL with its path.
        let token = cred.token(&arm::arm_scope(&s.azure.arm_endpoint)).await?;
        if let Some(d) = &s.dns {
            let r = dns::upsert_a_record(
                &ctx.http,
                &s.azure.arm_endpoint,
                &token,
                &dns::ARecord {
                    subscription_id: d.subscription_id.clone(),
                    resource_group: d.resource_group.clone(),
                    zone: d.zone.clone(),
                    name: d.name.clone(),
                    ttl: 300,
                    addresses: vec![d.gateway_ip],
                },
            )
            .await?;
            let line = format!(
                "DNS: {} A {} in zone {} ({})",
                d.name,
                d.gateway_ip,
                d.zone,
                if r.created { "created" } else { "updated" }
            );
            ctx.host.info(&line);
            done.push(line);
        }
        if let Some(n) = &s.nsg {
            let sources = if s.allow_cidrs.is_empty() {
                network::Sources::Any
            } else {
                network::Sources::Cidrs(
                    s.allow_cidrs
                        .iter()
                        .map(|c| network::Cidr::parse(&c.0))
                        .collect::<Result<_, _>>()?,
                )
            };
            let r = network::upsert_https_allow_rule(
                &ctx.http,
                &s.azure.arm_endpoint,
                &token,
                &network::HttpsAllowRule {
                    subscription_id: n.subscription_id.clone(),
                    resource_group: n.resource_group.clone(),
                    nsg: n.name.clone(),
                    name: "aks-backend-https".into(),
                    priority: 300,
                    sources,
                    description: "HTTPS to the app, managed by aks-backend".into(),
                },
            )
            .await?;
            let line = format!(
                "NSG {}: TCP 443 from {} ({})",
                n.name,
                if s.allow_cidrs.is_empty() {
                    "anywhere".to_string()
                } else {
                    s.allow_cidrs
                        .iter()
                        .map(|c| c.0.clone())
                        .collect::<Vec<_>>()
                        .join(", ")
                },
                if r.created { "created" } else { "updated" }
            );
            ctx.host.info(&line);
            done.push(line);
        }
        Ok::<_, Error>(())
    }
    .await;
    ctx.host.group_end();
    result.map(|_| done)
}
