//! Rolling back what did not become healthy: one `roll_back` for every kind (a
//! Deployment to its previous ReplicaSet, a StatefulSet or DaemonSet to its previous
//! ControllerRevision, a Job left as it is), each tracked back under a fresh deadline,
//! while the failed pods' events and logs are fetched (they are gone once rolled back).

use std::time::{Duration, Instant};

use crate::clients::kube::apply::Target;
use crate::clients::kube::rollback;
use crate::clients::kube::track::{Outcome, Tracker, Watched};
use crate::clients::kube::workloads::WorkloadKind;
use crate::inputs::settings::DeploySettings;
use crate::model::rollout::{RollbackReport, Verdict, WorkloadReport};

use super::super::{Ctx, Group};
use super::{PROGRESS_EVERY, track};

/// How long a rollback waits for the failed pods' logs before it starts anyway.
const LOG_HEAD_START: Duration = Duration::from_millis(500);

/// For every failed workload, concurrently: its events and logs, and (unless
/// `--no-rollback`) its rollback. Each log fetch has its own short deadline, so a
/// kubelet that cannot be reached never holds the rollback up (and the pods are still
/// there to ask); the rollback soon deletes the failed pods, so it gives the log fetches
/// a short head start (LOG_HEAD_START at most) before it begins.
pub(super) async fn after_failure(
    ctx: &Ctx,
    client: &kube::Client,
    tracker: &mut Tracker,
    s: &DeploySettings,
    applied: &[Target],
    outcomes: &[Outcome],
    workloads: &mut [WorkloadReport],
) {
    let failing: Vec<bool> = workloads.iter().map(|w| w.verdict.is_failure()).collect();
    let ns = &s.namespace;
    let (logs_in, logs_fetched) = tokio::sync::oneshot::channel::<()>();
    let words = async {
        let mut logs = Vec::new();
        for (o, bad) in outcomes.iter().zip(&failing) {
            logs.push(if *bad {
                track::failure_logs(client, ns, o, s.log_timeout).await
            } else {
                Vec::new()
            });
        }
        let _ = logs_in.send(());
        let mut out = Vec::new();
        for ((o, bad), logs) in outcomes.iter().zip(&failing).zip(logs) {
            let events = if *bad {
                track::warning_events(client, ns, o).await
            } else {
                Vec::new()
            };
            out.push((events, logs));
        }
        out
    };
    let rollbacks = async {
        let mut out: Vec<Option<RollbackReport>> = vec![None; failing.len()];
        if s.no_rollback || !failing.contains(&true) {
            return out;
        }
        let _ = tokio::time::timeout(LOG_HEAD_START.min(s.log_timeout), logs_fetched).await;
        let _group = Group::open(&ctx.host, "Rollback");
        for ((slot, target), (o, bad)) in out
            .iter_mut()
            .zip(applied)
            .zip(outcomes.iter().zip(&failing))
        {
            if *bad {
                *slot = Some(roll_back(ctx, client, tracker, o.kind, target, s).await);
            }
        }
        out
    };
    let (words, rollbacks) = tokio::join!(words, rollbacks);
    for ((w, (events, logs)), rollback) in workloads.iter_mut().zip(words).zip(rollbacks) {
        w.events = events;
        w.logs = logs;
        w.rollback = rollback;
    }
}

/// Puts one failed workload back to its previous revision and tracks it back. A Job has
/// no revisions: it is left as it is, and the report says so (never that it was rolled
/// back). A StatefulSet's pods stuck on the failed revision are deleted (what `kubectl
/// rollout undo` needs too).
async fn roll_back(
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
    let found = match kind {
        WorkloadKind::Job => {
            let reason = "Jobs are not rolled back; the failed Job is left as it is";
            ctx.host.info(&format!("{}: {reason}", target.id()));
            return RollbackReport {
                to_revision: None,
                verdict: Verdict::Cancelled,
                reason: Some(reason.into()),
                seconds: 0.0,
            };
        }
        WorkloadKind::Deployment => tracker
            .deployment(&target.name)
            .map(|(d, sets)| (rollback::undo_target(target, &d, &sets), Vec::new()))
            .ok_or_else(|| "the Deployment is gone".to_string()),
        kind => tracker
            .revision_state(kind, &target.name)
            .map(|(revisions, current, stuck)| {
                (
                    rollback::undo_revision_target(target, &current, &revisions),
                    stuck,
                )
            })
            .ok_or_else(|| format!("the {} or its revisions are gone", kind.as_str())),
    };
    let (undo, stuck) = match found {
        Ok(found) => found,
        Err(why) => return report(Verdict::Failed, Some(why), None),
    };
    let (revision, generation) = match undo_to(ctx, client, target, undo).await {
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
        .into_iter()
        .next()
        // `wait` answers once per watched workload; this is never taken.
        .unwrap_or_else(|| Outcome {
            kind,
            name: target.name.clone(),
            verdict: Verdict::Failed,
            reason: Some("the tracker gave no verdict".into()),
            failure: None,
            revision: None,
            seconds: 0.0,
            new_pods: Vec::new(),
            related_uids: Vec::new(),
        });
    ctx.host.info(&format!(
        "{}: rollback to revision {revision} {}",
        target.id(),
        o.verdict.as_str()
    ));
    o
}
