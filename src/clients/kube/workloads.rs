//! When a StatefulSet, DaemonSet or Job is done, and when it has failed: pure functions
//! over what the watches keep, as `rules` does for Deployments. Done follows
//! `kubectl rollout status` (StatefulSet: the controller observed our generation, every
//! replica ready and updated, at or above the partition, and the update revision is
//! current; DaemonSet: every scheduled pod updated and available; Job: its Complete
//! condition). Failed is a Job's Failed condition (BackoffLimitExceeded,
//! DeadlineExceeded) or any current pod failing by the same `rules::pods_failure` as a
//! Deployment's pods, so a StatefulSet that cannot pull its image fails in seconds with
//! the pod's own words. OnDelete update strategies roll nothing out by themselves: they
//! are reported as not tracked, as kubectl does, instead of waiting forever.

use k8s_openapi::api::apps::v1::{ControllerRevision, DaemonSet, StatefulSet};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{Event, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::rules::{self, Assessment, Failure, Policy};

/// The label a StatefulSet (the revision's name) or DaemonSet (its hash) puts on its pods.
pub const HASH_LABEL: &str = "controller-revision-hash";
/// The DaemonSet generation a pod's template came from (set by its controller).
const TEMPLATE_GENERATION_LABEL: &str = "pod-template-generation";

pub use crate::model::workload_kind::WorkloadKind;

/// A verdict, the revision it is about, and the current pods (for the digest check,
/// the logs and the events).
pub struct Judged<'a> {
    pub assessment: Assessment,
    pub revision: Option<i64>,
    pub pods: Vec<&'a Pod>,
}

fn label<'a>(meta: &'a ObjectMeta, key: &str) -> Option<&'a str> {
    meta.labels.as_ref()?.get(key).map(String::as_str)
}

/// Live pods the owner controls (not being deleted), by name.
fn owned_pods<'a>(owner: &ObjectMeta, pods: &[&'a Pod]) -> Vec<&'a Pod> {
    let mut out: Vec<&Pod> = pods
        .iter()
        .copied()
        .filter(|p| rules::owned_by(&p.metadata, owner.uid.as_deref()))
        .filter(|p| p.metadata.deletion_timestamp.is_none())
        .collect();
    out.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
    out
}

/// The ControllerRevisions the owner controls, newest revision first.
pub fn revisions_of<'a>(
    owner: &ObjectMeta,
    revisions: &[&'a ControllerRevision],
) -> Vec<&'a ControllerRevision> {
    let mut out: Vec<&ControllerRevision> = revisions
        .iter()
        .copied()
        .filter(|r| rules::owned_by(&r.metadata, owner.uid.as_deref()))
        .collect();
    out.sort_by_key(|r| std::cmp::Reverse(r.revision.unwrap_or(0)));
    out
}

fn not_observed(meta: &ObjectMeta, observed: Option<i64>, generation: i64) -> Option<Assessment> {
    let wanted = generation.max(meta.generation.unwrap_or(0));
    (observed.unwrap_or(0) < wanted).then(|| {
        Assessment::Progressing(format!(
            "waiting for the controller to observe generation {generation}"
        ))
    })
}

/// The controller's refusal to create pods (quota, admission), from its events.
fn create_failure(meta: &ObjectMeta, kind: WorkloadKind, events: &[&Event]) -> Option<Failure> {
    events
        .iter()
        .filter(|e| rules::involves(e, meta))
        .find(|e| e.reason.as_deref() == Some("FailedCreate"))
        .map(|e| Failure {
            reason: format!(
                "{} {}: FailedCreate: {}",
                kind.as_str(),
                rules::name(meta),
                e.message.as_deref().unwrap_or("").trim()
            ),
            pod: None,
            container: None,
            restarted: false,
        })
}

fn with_pods(mut line: String, pods: &[&Pod]) -> String {
    for p in pods {
        line.push_str(&format!(
            "; {}: {}",
            rules::name(&p.metadata),
            rules::pod_state(p)
        ));
    }
    line
}

const ON_DELETE: &str = "updateStrategy OnDelete: pods change only when deleted, so the \
     rollout is not tracked (as `kubectl rollout status` says)";

/// The verdict on one StatefulSet. Its current pods are those labelled with the update
/// revision.
pub fn assess_stateful_set<'a>(
    s: &StatefulSet,
    generation: i64,
    revisions: &[&ControllerRevision],
    pods: &[&'a Pod],
    events: &[&Event],
    policy: &Policy,
) -> Judged<'a> {
    let status = s.status.clone().unwrap_or_default();
    let update = status.update_revision.as_deref();
    let revision = update.and_then(|u| {
        revisions_of(&s.metadata, revisions)
            .into_iter()
            .find(|r| r.metadata.name.as_deref() == Some(u))
            .and_then(|r| r.revision)
    });
    let current: Vec<&Pod> = owned_pods(&s.metadata, pods)
        .into_iter()
        .filter(|p| update.is_some() && label(&p.metadata, HASH_LABEL) == update)
        .collect();
    let judged = |assessment| Judged {
        assessment,
        revision,
        pods: current.clone(),
    };
    let strategy = s.spec.update_strategy.as_ref();
    if strategy.and_then(|u| u.type_.as_deref()) == Some("OnDelete") {
        return judged(Assessment::Untracked(ON_DELETE.into()));
    }
    if let Some(a) = not_observed(&s.metadata, status.observed_generation, generation) {
        return judged(a);
    }
    if let Some(f) = create_failure(&s.metadata, WorkloadKind::StatefulSet, events)
        .or_else(|| rules::pods_failure(&current, events, policy))
    {
        return judged(Assessment::Failed(f));
    }
    let wanted = s.spec.replicas.unwrap_or(1);
    let ready = status.ready_replicas.unwrap_or(0);
    let updated = status.updated_replicas.unwrap_or(0);
    let partition = strategy
        .and_then(|u| u.rolling_update.as_ref())
        .and_then(|r| r.partition)
        .unwrap_or(0)
        .max(0);
    let done = if partition > 0 {
        // Only ordinals >= partition are updated (kubectl's rule for partitioned sets).
        ready >= wanted && updated >= wanted - partition
    } else {
        ready >= wanted
            && updated >= wanted
            && status.replicas == wanted
            && status.current_revision.is_some()
            && status.current_revision == status.update_revision
    };
    if done {
        return judged(Assessment::Done);
    }
    let mut line = format!("{wanted} wanted, {updated} updated, {ready} ready");
    if partition > 0 {
        line.push_str(&format!(" (partition {partition})"));
    }
    judged(Assessment::Progressing(with_pods(line, &current)))
}

/// The verdict on one DaemonSet. Its current pods are the ones its controller counts as
/// updated (`IsPodUpdated`): made from the DaemonSet's template generation
/// (`pod-template-generation`), or, for pods without that label, carrying the hash of
/// its newest ControllerRevision (`<name>-<hash>`). The generation comes with the
/// DaemonSet itself, so a ControllerRevision watch that lags right after a template
/// change (a deploy, a rollback) cannot make the previous template's pods look current.
pub fn assess_daemon_set<'a>(
    d: &DaemonSet,
    generation: i64,
    revisions: &[&ControllerRevision],
    pods: &[&'a Pod],
    events: &[&Event],
    policy: &Policy,
) -> Judged<'a> {
    let newest = revisions_of(&d.metadata, revisions).into_iter().next();
    let revision = newest.and_then(|r| r.revision);
    let prefix = format!("{}-", rules::name(&d.metadata));
    let hash = newest
        .and_then(|r| r.metadata.name.as_deref())
        .and_then(|n| n.strip_prefix(prefix.as_str()));
    let template_generation = d.metadata.generation.map(|g| g.to_string());
    let current: Vec<&Pod> = owned_pods(&d.metadata, pods)
        .into_iter()
        .filter(|p| match label(&p.metadata, TEMPLATE_GENERATION_LABEL) {
            Some(g) => Some(g) == template_generation.as_deref(),
            None => hash.is_some() && label(&p.metadata, HASH_LABEL) == hash,
        })
        .collect();
    let judged = |assessment| Judged {
        assessment,
        revision,
        pods: current.clone(),
    };
    if d.spec
        .update_strategy
        .as_ref()
        .and_then(|u| u.type_.as_deref())
        == Some("OnDelete")
    {
        return judged(Assessment::Untracked(ON_DELETE.into()));
    }
    let status = d.status.clone().unwrap_or_default();
    if let Some(a) = not_observed(&d.metadata, status.observed_generation, generation) {
        return judged(a);
    }
    if let Some(f) = create_failure(&d.metadata, WorkloadKind::DaemonSet, events)
        .or_else(|| rules::pods_failure(&current, events, policy))
    {
        return judged(Assessment::Failed(f));
    }
    let desired = status.desired_number_scheduled;
    let updated = status.updated_number_scheduled.unwrap_or(0);
    let available = status.number_available.unwrap_or(0);
    if updated >= desired && available >= desired {
        return judged(Assessment::Done);
    }
    let line = format!(
        "{desired} scheduled, {updated} updated, {} ready, {available} available",
        status.number_ready
    );
    judged(Assessment::Progressing(with_pods(line, &current)))
}

fn phase(p: &Pod) -> &str {
    p.status
        .as_ref()
        .and_then(|s| s.phase.as_deref())
        .unwrap_or("Pending")
}

/// The failed pod to show: the newest Failed one, and its container that exited
/// non-zero (else its first).
fn failed_pod(pods: &[&Pod]) -> (Option<String>, Option<String>) {
    let Some(p) = pods.iter().filter(|p| phase(p) == "Failed").max_by(|a, b| {
        a.metadata
            .creation_timestamp
            .cmp(&b.metadata.creation_timestamp)
            .then(a.metadata.name.cmp(&b.metadata.name))
    }) else {
        return (None, None);
    };
    let statuses = p
        .status
        .as_ref()
        .and_then(|s| s.container_statuses.as_deref())
        .unwrap_or(&[]);
    let container = statuses
        .iter()
        .find(|c| {
            c.state
                .as_ref()
                .and_then(|s| s.terminated.as_ref())
                .is_some_and(|t| t.exit_code != 0)
        })
        .map(|c| c.name.clone())
        .or_else(|| {
            p.spec
                .as_ref()
                .and_then(|s| s.containers.first())
                .map(|c| c.name.clone())
        });
    (p.metadata.name.clone(), container)
}

/// The verdict on one Job: its conditions, and its running pods judged like any pod
/// (a Job whose image cannot be pulled does not wait for its backoff limit).
pub fn assess_job<'a>(j: &Job, pods: &[&'a Pod], events: &[&Event], policy: &Policy) -> Judged<'a> {
    let mine = owned_pods(&j.metadata, pods);
    let judged = |assessment| Judged {
        assessment,
        revision: None,
        pods: mine.clone(),
    };
    let status = j.status.clone().unwrap_or_default();
    let conditions = status.conditions.as_deref().unwrap_or(&[]);
    let holds = |t: &str| {
        conditions
            .iter()
            .find(|c| c.type_ == t && c.status == "True")
    };
    if let Some(c) = holds("Failed") {
        let (pod, container) = failed_pod(&mine);
        return judged(Assessment::Failed(Failure {
            reason: format!(
                "Job {}: {}: {}",
                rules::name(&j.metadata),
                c.reason.as_deref().unwrap_or("Failed"),
                c.message.as_deref().unwrap_or("the Job failed")
            ),
            pod,
            container,
            restarted: false,
        }));
    }
    if holds("Complete").is_some() {
        return judged(Assessment::Done);
    }
    let running: Vec<&Pod> = mine
        .iter()
        .copied()
        .filter(|p| !matches!(phase(p), "Succeeded" | "Failed"))
        .collect();
    if let Some(f) = create_failure(&j.metadata, WorkloadKind::Job, events)
        .or_else(|| rules::pods_failure(&running, events, policy))
    {
        return judged(Assessment::Failed(f));
    }
    let completions = j.spec.as_ref().and_then(|s| s.completions).unwrap_or(1);
    let line = format!(
        "{}/{completions} succeeded, {} active, {} failed",
        status.succeeded.unwrap_or(0),
        status.active.unwrap_or(0),
        status.failed.unwrap_or(0)
    );
    judged(Assessment::Progressing(with_pods(line, &running)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn policy() -> Policy {
        Policy {
            max_restarts: 0,
            now: "2026-01-01T00:01:00Z".parse().unwrap(),
        }
    }

    fn owner_ref(kind: &str, name: &str, uid: &str) -> serde_json::Value {
        json!([{"apiVersion": "apps/v1", "kind": kind, "name": name, "uid": uid, "controller": true}])
    }

    fn pod(
        name: &str,
        owner: serde_json::Value,
        hash: &str,
        phase: &str,
        state: serde_json::Value,
    ) -> Pod {
        serde_json::from_value(json!({
            "metadata": {"name": name, "uid": format!("p-{name}"), "ownerReferences": owner,
                         "labels": {HASH_LABEL: hash}},
            "spec": {"containers": [{"name": "app"}]},
            "status": {"phase": phase, "containerStatuses": [{"name": "app", "ready": false,
                "restartCount": 0, "image": "x", "imageID": "", "state": state}]},
        }))
        .unwrap()
    }

    fn sts(spec: serde_json::Value, status: serde_json::Value) -> StatefulSet {
        let mut spec_all =
            json!({"replicas": 3, "selector": {}, "template": {}, "serviceName": "db"});
        spec_all
            .as_object_mut()
            .unwrap()
            .extend(spec.as_object().unwrap().clone());
        serde_json::from_value(json!({
            "metadata": {"name": "db", "uid": "s1", "generation": 2},
            "spec": spec_all, "status": status,
        }))
        .unwrap()
    }

    fn revision(owner: &str, uid: &str, name: &str, n: i64) -> ControllerRevision {
        serde_json::from_value(json!({
            "metadata": {"name": name, "ownerReferences": owner_ref(owner, "x", uid)},
            "data": {}, "revision": n,
        }))
        .unwrap()
    }

    fn sts_status(ready: i32, updated: i32, current: &str) -> serde_json::Value {
        json!({"observedGeneration": 2, "replicas": 3, "readyReplicas": ready,
               "updatedReplicas": updated, "currentRevision": current, "updateRevision": "db-new"})
    }

    fn judge_sts(s: &StatefulSet, pods: &[Pod]) -> Assessment {
        let revs = [
            revision("StatefulSet", "s1", "db-old", 1),
            revision("StatefulSet", "s1", "db-new", 2),
        ];
        let revs: Vec<&ControllerRevision> = revs.iter().collect();
        let pods: Vec<&Pod> = pods.iter().collect();
        let j = assess_stateful_set(s, 2, &revs, &pods, &[], &policy());
        assert_eq!(j.revision, Some(2));
        j.assessment
    }

    #[test]
    fn stateful_set_is_done_when_every_replica_is_updated_ready_and_current() {
        let done = sts(json!({}), sts_status(3, 3, "db-new"));
        assert_eq!(judge_sts(&done, &[]), Assessment::Done);
        let rolling = sts(json!({}), sts_status(3, 2, "db-old"));
        assert!(
            matches!(judge_sts(&rolling, &[]), Assessment::Progressing(l) if l == "3 wanted, 2 updated, 3 ready")
        );
        let not_current = sts(json!({}), sts_status(3, 3, "db-old"));
        assert!(matches!(
            judge_sts(&not_current, &[]),
            Assessment::Progressing(_)
        ));
        let mut unobserved = sts_status(3, 3, "db-new");
        unobserved["observedGeneration"] = json!(1);
        assert!(
            matches!(judge_sts(&sts(json!({}), unobserved), &[]), Assessment::Progressing(l) if l.contains("generation 2"))
        );
    }

    #[test]
    fn stateful_set_partition_counts_only_ordinals_at_or_above_it() {
        let part =
            json!({"updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"partition": 2}}});
        assert_eq!(
            judge_sts(&sts(part.clone(), sts_status(3, 1, "db-old")), &[]),
            Assessment::Done
        );
        assert!(matches!(
            judge_sts(&sts(part, sts_status(3, 0, "db-old")), &[]),
            Assessment::Progressing(l) if l.ends_with("(partition 2)")
        ));
    }

    #[test]
    fn on_delete_is_not_tracked() {
        let s = sts(
            json!({"updateStrategy": {"type": "OnDelete"}}),
            sts_status(0, 0, "db-old"),
        );
        assert!(matches!(judge_sts(&s, &[]), Assessment::Untracked(l) if l.contains("OnDelete")));
        let d: DaemonSet = serde_json::from_value(json!({
            "metadata": {"name": "agent", "uid": "d1", "generation": 1},
            "spec": {"selector": {}, "template": {}, "updateStrategy": {"type": "OnDelete"}},
        }))
        .unwrap();
        let j = assess_daemon_set(&d, 1, &[], &[], &[], &policy());
        assert!(matches!(j.assessment, Assessment::Untracked(_)));
    }

    #[test]
    fn stateful_set_pods_of_the_update_revision_fail_with_their_own_words() {
        let owner = owner_ref("StatefulSet", "db", "s1");
        let pulling = json!({"waiting": {"reason": "ImagePullBackOff", "message": "Back-off pulling image \"x\""}});
        let new = pod("db-2", owner.clone(), "db-new", "Pending", pulling.clone());
        let s = sts(json!({}), sts_status(2, 0, "db-old"));
        let Assessment::Failed(f) = judge_sts(&s, std::slice::from_ref(&new)) else {
            panic!()
        };
        assert_eq!(
            f.reason,
            "pod db-2: container app is ImagePullBackOff: Back-off pulling image \"x\""
        );
        assert_eq!(f.pod.as_deref(), Some("db-2"));
        // A pod of the old revision is not this rollout's.
        let old = pod("db-1", owner, "db-old", "Pending", pulling);
        assert!(matches!(judge_sts(&s, &[old]), Assessment::Progressing(_)));
    }

    fn ds(status: serde_json::Value) -> DaemonSet {
        serde_json::from_value(json!({
            "metadata": {"name": "agent", "uid": "d1", "generation": 1},
            "spec": {"selector": {}, "template": {}}, "status": status,
        }))
        .unwrap()
    }

    fn judge_ds(d: &DaemonSet, pods: &[Pod]) -> (Assessment, Option<i64>) {
        let revs = [
            revision("DaemonSet", "d1", "agent-aaa", 1),
            revision("DaemonSet", "d1", "agent-bbb", 2),
        ];
        let revs: Vec<&ControllerRevision> = revs.iter().collect();
        let pods: Vec<&Pod> = pods.iter().collect();
        let j = assess_daemon_set(d, 1, &revs, &pods, &[], &policy());
        (j.assessment, j.revision)
    }

    #[test]
    fn daemon_set_done_and_crash_loop() {
        let done = ds(
            json!({"observedGeneration": 1, "desiredNumberScheduled": 2, "currentNumberScheduled": 2,
            "numberMisscheduled": 0, "numberReady": 2, "updatedNumberScheduled": 2, "numberAvailable": 2}),
        );
        assert_eq!(judge_ds(&done, &[]).0, Assessment::Done);
        let half = ds(
            json!({"observedGeneration": 1, "desiredNumberScheduled": 2, "currentNumberScheduled": 2,
            "numberMisscheduled": 0, "numberReady": 1, "updatedNumberScheduled": 1, "numberAvailable": 1}),
        );
        let owner = owner_ref("DaemonSet", "agent", "d1");
        let mut crashing = pod(
            "agent-x",
            owner.clone(),
            "bbb",
            "Running",
            json!({"waiting": {"reason": "CrashLoopBackOff"}}),
        );
        crashing
            .status
            .as_mut()
            .unwrap()
            .container_statuses
            .as_mut()
            .unwrap()[0]
            .restart_count = 2;
        let (a, revision) = judge_ds(&half, std::slice::from_ref(&crashing));
        assert_eq!(revision, Some(2));
        let Assessment::Failed(f) = a else { panic!() };
        assert_eq!(
            f.reason,
            "pod agent-x: container app is in CrashLoopBackOff after 2 restart(s)"
        );
        assert!(f.restarted);
        // The same pod on the old hash is not judged.
        let mut old = crashing;
        old.metadata
            .labels
            .as_mut()
            .unwrap()
            .insert(HASH_LABEL.into(), "aaa".into());
        assert!(matches!(
            judge_ds(&half, &[old]).0,
            Assessment::Progressing(_)
        ));
    }

    /// Right after a rollback the DaemonSet's template is the good one again, but the
    /// revisions' watch may not have delivered the bump of the good revision yet: the
    /// newest revision seen is the bad one, and its crashing pods must not fail the
    /// rollback. Once the good revision is the newest, its pods are judged.
    #[test]
    fn daemon_set_pods_are_not_judged_by_a_stale_revision() {
        let mut d = ds(
            json!({"observedGeneration": 3, "desiredNumberScheduled": 2, "currentNumberScheduled": 2,
            "numberMisscheduled": 0, "numberReady": 1, "updatedNumberScheduled": 1, "numberAvailable": 1}),
        );
        d.metadata.generation = Some(3);
        let rev = |name: &str, n: i64| revision("DaemonSet", "d1", name, n);
        let owner = owner_ref("DaemonSet", "agent", "d1");
        let crash = json!({"waiting": {"reason": "CrashLoopBackOff"}});
        // Made from the bad template, generation 2.
        let mut bad_pod = pod("agent-x", owner, "bbb", "Running", crash);
        bad_pod
            .metadata
            .labels
            .as_mut()
            .unwrap()
            .insert(TEMPLATE_GENERATION_LABEL.into(), "2".into());
        let judge = |d: &DaemonSet, revs: &[ControllerRevision]| {
            let revs: Vec<&ControllerRevision> = revs.iter().collect();
            assess_daemon_set(d, 3, &revs, &[&bad_pod], &[], &policy()).assessment
        };
        let stale = [rev("agent-aaa", 1), rev("agent-bbb", 2)];
        assert!(matches!(judge(&d, &stale), Assessment::Progressing(_)));
        let bumped = [rev("agent-aaa", 3), rev("agent-bbb", 2)];
        assert!(matches!(judge(&d, &bumped), Assessment::Progressing(_)));
        // The bad template itself (a deploy, not a rollback): its pods are judged.
        d.metadata.generation = Some(2);
        assert!(matches!(judge(&d, &stale), Assessment::Failed(_)));
    }

    fn job(status: serde_json::Value) -> Job {
        serde_json::from_value(json!({
            "metadata": {"name": "migrate", "uid": "j1"},
            "spec": {"template": {}, "completions": 1}, "status": status,
        }))
        .unwrap()
    }

    #[test]
    fn job_complete_and_failed_with_the_failed_pod() {
        let owner = json!([{"apiVersion": "batch/v1", "kind": "Job", "name": "migrate", "uid": "j1", "controller": true}]);
        let complete =
            job(json!({"succeeded": 1, "conditions": [{"type": "Complete", "status": "True"}]}));
        assert_eq!(
            assess_job(&complete, &[], &[], &policy()).assessment,
            Assessment::Done
        );
        let failed = job(
            json!({"failed": 2, "conditions": [{"type": "Failed", "status": "True",
            "reason": "BackoffLimitExceeded", "message": "Job has reached the specified backoff limit"}]}),
        );
        let p = pod(
            "migrate-abc",
            owner.clone(),
            "",
            "Failed",
            json!({"terminated": {"exitCode": 1, "reason": "Error"}}),
        );
        let pods = [&p];
        let Assessment::Failed(f) = assess_job(&failed, &pods, &[], &policy()).assessment else {
            panic!()
        };
        assert_eq!(
            f.reason,
            "Job migrate: BackoffLimitExceeded: Job has reached the specified backoff limit"
        );
        assert_eq!(
            (f.pod.as_deref(), f.container.as_deref()),
            (Some("migrate-abc"), Some("app"))
        );
        // A failed pod alone is the Job controller's to retry, not a failure yet.
        let running = job(json!({"failed": 1, "active": 1}));
        assert!(matches!(
            assess_job(&running, &pods, &[], &policy()).assessment,
            Assessment::Progressing(l) if l == "0/1 succeeded, 1 active, 1 failed"
        ));
        // A running pod that cannot pull fails at once.
        let stuck = pod(
            "migrate-def",
            owner,
            "",
            "Pending",
            json!({"waiting": {"reason": "ErrImagePull", "message": "not found"}}),
        );
        let pods = [&stuck];
        assert!(matches!(
            assess_job(&running, &pods, &[], &policy()).assessment,
            Assessment::Failed(f) if f.reason == "pod migrate-def: container app is ErrImagePull: not found"
        ));
    }
}
