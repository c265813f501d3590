//! Tracking: every applied workload (Deployment, StatefulSet, DaemonSet, Job) to healthy
//! or failed under one deadline, the running digests checked against the deployed ones,
//! and, for what failed, the pods' own words (warning events, the last log lines).

use std::time::{Duration, Instant};

use crate::clients::kube::track::{self, Outcome, Tracker, Watched};
use crate::clients::kube::{self as kube_client, rules};
use crate::host::{Level, Location};
use crate::inputs::settings::DeploySettings;
use crate::model::pod_security;
use crate::model::rollout::{
    DeployReport, EventLine, LogExcerpt, RunningImage, Verdict, WorkloadReport,
};

use super::super::{Ctx, Group};
use super::PROGRESS_EVERY;

const LOG_LINES: i64 = 50;

/// Waits for every watched workload under the step's deadline.
pub(super) async fn wait(
    ctx: &Ctx,
    tracker: &mut Tracker,
    watched: &[Watched],
    s: &DeploySettings,
) -> Vec<Outcome> {
    let _group = Group::open(&ctx.host, "Rollout");
    let deadline = Instant::now() + s.timeout;
    let progress = |line: &str| ctx.host.info(line);
    tracker
        .wait(
            watched,
            deadline,
            s.max_restarts as i32,
            Some(s.settle),
            PROGRESS_EVERY,
            &progress,
        )
        .await
}

/// One report per outcome; with `verify_digests`, a healthy workload whose new pods run
/// another image than the deployed digest is failed.
pub(super) fn reports(ns: &str, outcomes: &[Outcome], verify_digests: bool) -> Vec<WorkloadReport> {
    let mut workloads = Vec::new();
    for o in outcomes {
        let mut w = workload_report(ns, o);
        if verify_digests && o.verdict == Verdict::Healthy {
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
    workloads
}

/// A failed workload's warning events (each fetch under a short deadline).
pub(super) async fn warning_events(client: &kube::Client, ns: &str, o: &Outcome) -> Vec<EventLine> {
    track::warning_events(client, ns, &o.related_uids, Duration::from_secs(1))
        .await
        .unwrap_or_default()
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
pub(super) async fn failure_logs(
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

/// One line per workload, its events and its pod's own words, where people look.
pub(super) fn tell(ctx: &Ctx, r: &DeployReport) {
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
                say_logs(ctx, &w.logs);
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

/// The failed pods' last log lines, or why there are none.
fn say_logs(ctx: &Ctx, logs: &[LogExcerpt]) {
    for l in logs {
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
