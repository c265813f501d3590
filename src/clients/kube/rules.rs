//! When a Deployment rollout is done, and when it has failed, decided by pure functions
//! over the objects the watches keep (Deployment, its ReplicaSets, Pods, Events) and the
//! current time. The watch plumbing lives in `track`; keeping the decisions here makes
//! every rule a unit test.
//!
//! Done is `kubectl rollout status` made strict (as kubedog does): the controller has
//! observed our generation, every replica is updated, no old replica is left, and every
//! replica is available. Failed is anything that will not fix itself in time: image
//! pulls, bad config, crash loops past the allowed restarts, OOM kills, refused pod
//! creation, unschedulable pods, failing mounts, readiness failing past a grace computed
//! from the probe settings, and the controller's own ProgressDeadlineExceeded.

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::{Container, ContainerStatus, Event, Pod, Probe};
use k8s_openapi::jiff::Timestamp;

pub const REVISION: &str = "deployment.kubernetes.io/revision";

/// Waiting reasons that never resolve by waiting.
const HOPELESS_WAITING: &[&str] = &[
    "ErrImagePull",
    "ImagePullBackOff",
    "InvalidImageName",
    "ErrImageNeverPull",
    "CreateContainerConfigError",
    "CreateContainerError",
    "RunContainerError",
];

#[derive(Clone, Debug)]
pub struct Policy {
    /// Restarts a container may have before CrashLoopBackOff fails the rollout.
    pub max_restarts: i32,
    pub now: Timestamp,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    /// One line, with the cluster's own words.
    pub reason: String,
    /// The pod and container at fault, when there is one (for its logs).
    pub pod: Option<String>,
    pub container: Option<String>,
    /// The container restarted: its previous instance has logs too.
    pub restarted: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Assessment {
    /// Still going; a progress line (wanted / updated / ready / available, per pod).
    Progressing(String),
    Done,
    Failed(Failure),
    /// Not judged, and why (an OnDelete update strategy: nothing rolls out by itself).
    Untracked(String),
}

fn revision_of(meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta) -> Option<i64> {
    meta.annotations.as_ref()?.get(REVISION)?.parse().ok()
}

pub(crate) fn owned_by(
    meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
    uid: Option<&str>,
) -> bool {
    let Some(uid) = uid else { return false };
    meta.owner_references
        .iter()
        .flatten()
        .any(|r| r.uid == uid && r.controller == Some(true))
}

pub fn deployment_revision(d: &Deployment) -> Option<i64> {
    revision_of(&d.metadata)
}

/// The ReplicaSet of the Deployment's current revision, once the controller made it.
pub fn new_replica_set<'a>(d: &Deployment, sets: &[&'a ReplicaSet]) -> Option<&'a ReplicaSet> {
    let rev = revision_of(&d.metadata)?;
    sets.iter()
        .copied()
        .filter(|rs| owned_by(&rs.metadata, d.metadata.uid.as_deref()))
        .find(|rs| revision_of(&rs.metadata) == Some(rev))
}

/// The ReplicaSets the Deployment owns, newest revision first.
pub fn owned_sets<'a>(d: &Deployment, sets: &[&'a ReplicaSet]) -> Vec<&'a ReplicaSet> {
    let mut out: Vec<&ReplicaSet> = sets
        .iter()
        .copied()
        .filter(|rs| owned_by(&rs.metadata, d.metadata.uid.as_deref()))
        .collect();
    out.sort_by_key(|rs| std::cmp::Reverse(revision_of(&rs.metadata).unwrap_or(0)));
    out
}

/// The ReplicaSet `kubectl rollout undo` would go back to: the highest revision below
/// the current one.
pub fn previous_replica_set<'a>(d: &Deployment, sets: &[&'a ReplicaSet]) -> Option<&'a ReplicaSet> {
    let current = revision_of(&d.metadata)?;
    owned_sets(d, sets)
        .into_iter()
        .find(|rs| revision_of(&rs.metadata).is_some_and(|r| r < current))
}

pub fn pods_of<'a>(rs: &ReplicaSet, pods: &[&'a Pod]) -> Vec<&'a Pod> {
    let mut out: Vec<&Pod> = pods
        .iter()
        .copied()
        .filter(|p| owned_by(&p.metadata, rs.metadata.uid.as_deref()))
        .filter(|p| p.metadata.deletion_timestamp.is_none())
        .collect();
    out.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
    out
}

pub(crate) fn name(meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta) -> &str {
    meta.name.as_deref().unwrap_or("?")
}

/// Seconds a container may run unready before its readiness probe counts as failing:
/// the startup probe's whole budget, then the readiness probe's initial delay and
/// enough periods to fail and succeed once more (kubedog's rule, from the probe specs).
pub fn readiness_grace(c: &Container) -> Option<i64> {
    let r = c.readiness_probe.as_ref()?;
    let budget = |p: &Probe| {
        p.initial_delay_seconds.unwrap_or(0) as i64
            + p.period_seconds.unwrap_or(10) as i64 * p.failure_threshold.unwrap_or(3) as i64
    };
    let startup = c.startup_probe.as_ref().map_or(0, budget);
    let period = r.period_seconds.unwrap_or(10) as i64;
    Some(
        startup
            + r.initial_delay_seconds.unwrap_or(0) as i64
            + period
                * (r.failure_threshold.unwrap_or(3) as i64
                    + r.success_threshold.unwrap_or(1) as i64),
    )
}

pub(crate) fn container_failure(
    pod: &Pod,
    spec: Option<&Container>,
    cs: &ContainerStatus,
    events: &[&Event],
    policy: &Policy,
) -> Option<Failure> {
    let pod_name = name(&pod.metadata).to_string();
    let fail = |reason: String, restarted: bool| Failure {
        reason,
        pod: Some(pod_name.clone()),
        container: Some(cs.name.clone()),
        restarted,
    };
    let state = cs.state.as_ref();
    let last = cs.last_state.as_ref();
    for t in [
        state.and_then(|s| s.terminated.as_ref()),
        last.and_then(|s| s.terminated.as_ref()),
    ]
    .into_iter()
    .flatten()
    {
        if t.reason.as_deref() == Some("OOMKilled") {
            let limit = spec
                .and_then(|c| c.resources.as_ref())
                .and_then(|r| r.limits.as_ref())
                .and_then(|l| l.get("memory"))
                .map(|q| format!(" (memory limit {})", q.0))
                .unwrap_or_default();
            return Some(fail(
                format!(
                    "pod {pod_name}: container {} was OOMKilled{limit}, exit code {}",
                    cs.name, t.exit_code
                ),
                cs.restart_count > 0 || last.and_then(|l| l.terminated.as_ref()).is_some(),
            ));
        }
    }
    if let Some(w) = state.and_then(|s| s.waiting.as_ref()) {
        let reason = w.reason.as_deref().unwrap_or("");
        let message = w.message.as_deref().unwrap_or("").trim();
        let message = if message.is_empty() {
            String::new()
        } else {
            format!(": {message}")
        };
        if HOPELESS_WAITING.contains(&reason) {
            return Some(fail(
                format!("pod {pod_name}: container {} is {reason}{message}", cs.name),
                false,
            ));
        }
        if reason == "CrashLoopBackOff" && cs.restart_count >= policy.max_restarts {
            let exit = last
                .and_then(|l| l.terminated.as_ref())
                .map(|t| {
                    format!(
                        ", last exit code {}{}",
                        t.exit_code,
                        t.reason
                            .as_deref()
                            .map(|r| format!(" ({r})"))
                            .unwrap_or_default()
                    )
                })
                .unwrap_or_default();
            return Some(fail(
                format!(
                    "pod {pod_name}: container {} is in CrashLoopBackOff after {} restart(s){exit}",
                    cs.name, cs.restart_count
                ),
                true,
            ));
        }
    }
    // Readiness failing past its grace.
    if let (Some(running), false, Some(c)) =
        (state.and_then(|s| s.running.as_ref()), cs.ready, spec)
        && let (Some(grace), Some(started)) = (readiness_grace(c), running.started_at.as_ref())
    {
        let unready_for = policy.now.as_second() - started.0.as_second();
        if unready_for > grace {
            let probe = events
                .iter()
                .filter(|e| involves(e, &pod.metadata))
                .filter(|e| e.reason.as_deref() == Some("Unhealthy"))
                .filter_map(|e| e.message.as_deref())
                .find(|m| m.starts_with("Readiness probe failed"))
                .map(|m| format!(": {m}"))
                .unwrap_or_default();
            return Some(fail(
                format!(
                    "pod {pod_name}: container {} not ready for {unready_for}s (grace {grace}s from its probes){probe}",
                    cs.name
                ),
                cs.restart_count > 0,
            ));
        }
    }
    None
}

pub(crate) fn involves(
    e: &Event,
    meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
) -> bool {
    meta.uid.is_some() && e.involved_object.uid == meta.uid
}

/// Pod-level failures: events and conditions that are about the pod, not a container.
fn pod_failure(pod: &Pod, events: &[&Event]) -> Option<Failure> {
    let pod_name = name(&pod.metadata).to_string();
    let status = pod.status.as_ref();
    let unschedulable = status
        .and_then(|s| s.conditions.as_ref())
        .into_iter()
        .flatten()
        .find(|c| {
            c.type_ == "PodScheduled"
                && c.status == "False"
                && c.reason.as_deref() == Some("Unschedulable")
        });
    if let Some(c) = unschedulable {
        return Some(Failure {
            reason: format!(
                "pod {pod_name}: FailedScheduling: {}",
                c.message.as_deref().unwrap_or("unschedulable")
            ),
            pod: Some(pod_name),
            container: None,
            restarted: false,
        });
    }
    for e in events.iter().filter(|e| involves(e, &pod.metadata)) {
        let reason = e.reason.as_deref().unwrap_or("");
        if matches!(
            reason,
            "FailedScheduling" | "FailedMount" | "FailedAttachVolume"
        ) {
            return Some(Failure {
                reason: format!(
                    "pod {pod_name}: {reason}: {}",
                    e.message.as_deref().unwrap_or("").trim()
                ),
                pod: Some(pod_name),
                container: None,
                restarted: false,
            });
        }
    }
    None
}

/// The state of one pod for progress lines: `Running`, `ImagePullBackOff`, ...
pub fn pod_state(pod: &Pod) -> String {
    let Some(status) = pod.status.as_ref() else {
        return "Pending".into();
    };
    let statuses = status.container_statuses.as_deref().unwrap_or(&[]);
    for cs in statuses {
        if let Some(w) = cs.state.as_ref().and_then(|s| s.waiting.as_ref()) {
            return w.reason.clone().unwrap_or_else(|| "Waiting".into());
        }
        if let Some(t) = cs.state.as_ref().and_then(|s| s.terminated.as_ref()) {
            return t.reason.clone().unwrap_or_else(|| "Terminated".into());
        }
    }
    let ready = !statuses.is_empty() && statuses.iter().all(|c| c.ready);
    let restarts: i32 = statuses.iter().map(|c| c.restart_count).sum();
    let phase = status.phase.clone().unwrap_or_else(|| "Pending".into());
    let mut s = if ready {
        format!("{phase}, ready")
    } else if phase == "Running" {
        "Running, not ready".into()
    } else {
        phase
    };
    if restarts > 0 {
        s.push_str(&format!(", {restarts} restart(s)"));
    }
    s
}

/// The first failure among `pods` (a workload's current pods): pod-level events and
/// conditions, then every init and app container. Every workload kind uses this, so
/// a StatefulSet's or Job's pod fails for the same reasons, in the same words, as a
/// Deployment's.
pub fn pods_failure(pods: &[&Pod], events: &[&Event], policy: &Policy) -> Option<Failure> {
    for pod in pods {
        if let Some(f) = pod_failure(pod, events) {
            return Some(f);
        }
        let pspec = pod.spec.as_ref();
        let status = pod.status.as_ref();
        let groups = [
            (
                status
                    .and_then(|s| s.init_container_statuses.as_deref())
                    .unwrap_or(&[]),
                pspec
                    .and_then(|s| s.init_containers.as_deref())
                    .unwrap_or(&[]),
            ),
            (
                status
                    .and_then(|s| s.container_statuses.as_deref())
                    .unwrap_or(&[]),
                pspec.map(|s| s.containers.as_slice()).unwrap_or(&[]),
            ),
        ];
        for (statuses, specs) in groups {
            for cs in statuses {
                let c = specs.iter().find(|c| c.name == cs.name);
                if let Some(f) = container_failure(pod, c, cs, events, policy) {
                    return Some(f);
                }
            }
        }
    }
    None
}

/// The verdict on one Deployment right now. `generation` is the one our apply produced.
pub fn assess(
    d: &Deployment,
    generation: i64,
    sets: &[&ReplicaSet],
    pods: &[&Pod],
    events: &[&Event],
    policy: &Policy,
) -> Assessment {
    let spec = &d.spec;
    let wanted = spec.replicas.unwrap_or(1);
    let status = d.status.clone().unwrap_or_default();
    let observed = status.observed_generation.unwrap_or(0)
        >= generation.max(d.metadata.generation.unwrap_or(0));
    if !observed {
        return Assessment::Progressing(format!(
            "waiting for the controller to observe generation {generation}"
        ));
    }
    let conditions = status.conditions.as_deref().unwrap_or(&[]);
    if let Some(c) = conditions.iter().find(|c| {
        c.type_.as_deref() == Some("Progressing")
            && c.reason.as_deref() == Some("ProgressDeadlineExceeded")
    }) {
        let secs = spec.progress_deadline_seconds.unwrap_or(600);
        return Assessment::Failed(Failure {
            reason: format!(
                "ProgressDeadlineExceeded after {secs}s: {}",
                c.message
                    .as_deref()
                    .unwrap_or("the rollout made no progress")
            ),
            pod: None,
            container: None,
            restarted: false,
        });
    }
    let new_rs = new_replica_set(d, sets);
    if let Some(rs) = new_rs {
        let rs_failure = rs
            .status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .into_iter()
            .flatten()
            .find(|c| {
                c.type_.as_deref() == Some("ReplicaFailure") && c.status.as_deref() == Some("True")
            })
            .map(|c| {
                (
                    c.reason.clone().unwrap_or_default(),
                    c.message.clone().unwrap_or_default(),
                )
            })
            .or_else(|| {
                events
                    .iter()
                    .filter(|e| involves(e, &rs.metadata))
                    .find(|e| e.reason.as_deref() == Some("FailedCreate"))
                    .map(|e| {
                        (
                            "FailedCreate".to_string(),
                            e.message.clone().unwrap_or_default(),
                        )
                    })
            });
        if let Some((reason, message)) = rs_failure {
            return Assessment::Failed(Failure {
                reason: format!("replica set {}: {reason}: {message}", name(&rs.metadata)),
                pod: None,
                container: None,
                restarted: false,
            });
        }
        if let Some(f) = pods_failure(&pods_of(rs, pods), events, policy) {
            return Assessment::Failed(f);
        }
    }
    let updated = status.updated_replicas.unwrap_or(0);
    let total = status.replicas.unwrap_or(0);
    let available = status.available_replicas.unwrap_or(0);
    let ready = status.ready_replicas.unwrap_or(0);
    if updated == wanted && total == wanted && available == wanted {
        return Assessment::Done;
    }
    let mut line =
        format!("{wanted} wanted, {updated} updated, {ready} ready, {available} available");
    if total > updated {
        line.push_str(&format!(", {} old pending termination", total - updated));
    }
    if let Some(rs) = new_rs {
        for p in pods_of(rs, pods) {
            line.push_str(&format!("; {}: {}", name(&p.metadata), pod_state(p)));
        }
    }
    Assessment::Progressing(line)
}

/// A running image that is not the digest we deployed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DigestMismatch {
    pub pod: String,
    pub container: String,
    pub expected: String,
    pub image_id: String,
}

/// A pod's (regular) containers: their specs and their statuses.
pub fn containers(pod: &Pod) -> (&[Container], &[ContainerStatus]) {
    let specs = pod
        .spec
        .as_ref()
        .map(|s| s.containers.as_slice())
        .unwrap_or(&[]);
    let statuses = pod
        .status
        .as_ref()
        .and_then(|s| s.container_statuses.as_deref())
        .unwrap_or(&[]);
    (specs, statuses)
}

/// Every container of `pods` whose spec pins a digest must run that digest.
pub fn digest_mismatches(pods: &[&Pod]) -> Vec<DigestMismatch> {
    let mut out = Vec::new();
    for pod in pods {
        let (specs, statuses) = containers(pod);
        for c in specs {
            let Some(expected) = c
                .image
                .as_deref()
                .and_then(|i| i.split_once('@'))
                .map(|(_, d)| d)
            else {
                continue;
            };
            let id = statuses
                .iter()
                .find(|s| s.name == c.name)
                .map(|s| s.image_id.clone())
                .unwrap_or_default();
            let running = id.rsplit_once('@').map_or(id.as_str(), |(_, d)| d);
            if running != expected {
                out.push(DigestMismatch {
                    pod: name(&pod.metadata).to_string(),
                    container: c.name.clone(),
                    expected: expected.to_string(),
                    image_id: id,
                });
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const NOW: &str = "2026-01-01T00:01:00Z";

    fn policy() -> Policy {
        Policy {
            max_restarts: 0,
            now: NOW.parse().unwrap(),
        }
    }

    fn deployment(status: serde_json::Value) -> Deployment {
        serde_json::from_value(json!({
            "metadata": {"name": "api", "uid": "d1", "generation": 2,
                         "annotations": {REVISION: "2"}},
            "spec": {"replicas": 2, "selector": {}, "template": {}},
            "status": status,
        }))
        .unwrap()
    }

    fn rs(uid: &str, revision: &str) -> ReplicaSet {
        serde_json::from_value(json!({
            "metadata": {"name": format!("api-{uid}"), "uid": uid,
                         "annotations": {REVISION: revision},
                         "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment",
                                              "name": "api", "uid": "d1", "controller": true}]},
            "spec": {"selector": {}},
        }))
        .unwrap()
    }

    fn pod(container_status: serde_json::Value, container: serde_json::Value) -> Pod {
        serde_json::from_value(json!({
            "metadata": {"name": "api-new-x", "uid": "p1",
                         "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet",
                                              "name": "api-new", "uid": "new", "controller": true}]},
            "spec": {"containers": [container]},
            "status": {"phase": "Running", "containerStatuses": [container_status]},
        }))
        .unwrap()
    }

    fn event(uid: &str, reason: &str, message: &str) -> Event {
        serde_json::from_value(json!({
            "metadata": {"name": "e"}, "involvedObject": {"uid": uid},
            "reason": reason, "message": message, "type": "Warning",
        }))
        .unwrap()
    }

    fn assess_with(d: &Deployment, pods: &[Pod], events: &[Event]) -> Assessment {
        let sets = [rs("old", "1"), rs("new", "2")];
        let sets: Vec<&ReplicaSet> = sets.iter().collect();
        let pods: Vec<&Pod> = pods.iter().collect();
        let events: Vec<&Event> = events.iter().collect();
        assess(d, 2, &sets, &pods, &events, &policy())
    }

    fn progressing() -> Deployment {
        deployment(
            json!({"observedGeneration": 2, "replicas": 3, "updatedReplicas": 1,
                          "availableReplicas": 2}),
        )
    }

    #[test]
    fn done_is_strict() {
        let done = deployment(json!({"observedGeneration": 2, "replicas": 2,
            "updatedReplicas": 2, "availableReplicas": 2, "readyReplicas": 2}));
        assert_eq!(assess_with(&done, &[], &[]), Assessment::Done);
        // kubectl would say done here (available >= updated), but an old pod remains.
        let old_left = deployment(json!({"observedGeneration": 2, "replicas": 3,
            "updatedReplicas": 2, "availableReplicas": 3}));
        assert!(
            matches!(assess_with(&old_left, &[], &[]), Assessment::Progressing(l) if l.contains("1 old pending"))
        );
        let unobserved = deployment(json!({"observedGeneration": 1, "replicas": 2,
            "updatedReplicas": 2, "availableReplicas": 2}));
        assert!(
            matches!(assess_with(&unobserved, &[], &[]), Assessment::Progressing(l) if l.contains("observe generation 2"))
        );
    }

    #[test]
    fn progress_deadline() {
        let d = deployment(
            json!({"observedGeneration": 2, "conditions": [{"type": "Progressing",
            "status": "False", "reason": "ProgressDeadlineExceeded",
            "message": "ReplicaSet \"api-new\" has timed out progressing."}]}),
        );
        let Assessment::Failed(f) = assess_with(&d, &[], &[]) else {
            panic!()
        };
        assert!(
            f.reason
                .starts_with("ProgressDeadlineExceeded after 600s: ReplicaSet")
        );
    }

    #[test]
    fn image_pull_and_config_errors_fail_at_once() {
        for reason in [
            "ImagePullBackOff",
            "ErrImagePull",
            "InvalidImageName",
            "CreateContainerConfigError",
        ] {
            let p = pod(
                json!({"name": "api", "ready": false, "restartCount": 0, "image": "x", "imageID": "",
                "state": {"waiting": {"reason": reason, "message": "the words"}}}),
                json!({"name": "api"}),
            );
            let Assessment::Failed(f) = assess_with(&progressing(), &[p], &[]) else {
                panic!("{reason}")
            };
            assert_eq!(
                f.reason,
                format!("pod api-new-x: container api is {reason}: the words")
            );
            assert_eq!(f.container.as_deref(), Some("api"));
        }
    }

    #[test]
    fn old_pods_are_not_judged() {
        let mut p = pod(
            json!({"name": "api", "ready": false, "restartCount": 0, "image": "x", "imageID": "",
            "state": {"waiting": {"reason": "ImagePullBackOff"}}}),
            json!({"name": "api"}),
        );
        p.metadata.owner_references.as_mut().unwrap()[0].uid = "old".into();
        assert!(matches!(
            assess_with(&progressing(), &[p], &[]),
            Assessment::Progressing(_)
        ));
    }

    #[test]
    fn crash_loop_after_the_allowed_restarts() {
        let p = pod(
            json!({"name": "api", "ready": false, "restartCount": 1, "image": "x", "imageID": "",
            "state": {"waiting": {"reason": "CrashLoopBackOff"}},
            "lastState": {"terminated": {"exitCode": 1, "reason": "Error"}}}),
            json!({"name": "api"}),
        );
        let Assessment::Failed(f) = assess_with(&progressing(), std::slice::from_ref(&p), &[])
        else {
            panic!()
        };
        assert_eq!(
            f.reason,
            "pod api-new-x: container api is in CrashLoopBackOff after 1 restart(s), last exit code 1 (Error)"
        );
        assert!(f.restarted);
        let sets = [rs("new", "2")];
        let sets: Vec<&ReplicaSet> = sets.iter().collect();
        let lenient = Policy {
            max_restarts: 3,
            ..policy()
        };
        assert!(matches!(
            assess(&progressing(), 2, &sets, &[&p], &[], &lenient),
            Assessment::Progressing(_)
        ));
    }

    #[test]
    fn oom_killed() {
        let p = pod(
            json!({"name": "api", "ready": false, "restartCount": 0, "image": "x", "imageID": "",
            "state": {"terminated": {"exitCode": 137, "reason": "OOMKilled"}}}),
            json!({"name": "api", "resources": {"limits": {"memory": "64Mi"}}}),
        );
        let Assessment::Failed(f) = assess_with(&progressing(), &[p], &[]) else {
            panic!()
        };
        assert_eq!(
            f.reason,
            "pod api-new-x: container api was OOMKilled (memory limit 64Mi), exit code 137"
        );
    }

    #[test]
    fn scheduling_mount_and_create_failures() {
        let p = pod(
            json!({"name": "api", "ready": false, "restartCount": 0, "image": "x", "imageID": "",
            "state": {"waiting": {"reason": "ContainerCreating"}}}),
            json!({"name": "api"}),
        );
        let e = event("p1", "FailedMount", "MountVolume.SetUp failed");
        let Assessment::Failed(f) = assess_with(&progressing(), std::slice::from_ref(&p), &[e])
        else {
            panic!()
        };
        assert_eq!(
            f.reason,
            "pod api-new-x: FailedMount: MountVolume.SetUp failed"
        );
        let e = event(
            "p1",
            "FailedScheduling",
            "0/3 nodes are available: 3 Insufficient cpu.",
        );
        let Assessment::Failed(f) = assess_with(&progressing(), std::slice::from_ref(&p), &[e])
        else {
            panic!()
        };
        assert!(
            f.reason
                .ends_with("FailedScheduling: 0/3 nodes are available: 3 Insufficient cpu.")
        );
        let e = event("new", "FailedCreate", "Error creating: exceeded quota");
        let Assessment::Failed(f) = assess_with(&progressing(), &[], &[e]) else {
            panic!()
        };
        assert_eq!(
            f.reason,
            "replica set api-new: FailedCreate: Error creating: exceeded quota"
        );
    }

    #[test]
    fn readiness_grace_from_probes() {
        let c: Container = serde_json::from_value(json!({"name": "api",
            "readinessProbe": {"periodSeconds": 5, "failureThreshold": 3},
            "startupProbe": {"initialDelaySeconds": 2, "periodSeconds": 1, "failureThreshold": 10}})).unwrap();
        assert_eq!(readiness_grace(&c), Some(12 + 20));
        let c: Container =
            serde_json::from_value(json!({"name": "api", "readinessProbe": {}})).unwrap();
        assert_eq!(readiness_grace(&c), Some(40));
        let c: Container = serde_json::from_value(json!({"name": "api"})).unwrap();
        assert_eq!(readiness_grace(&c), None);
    }

    #[test]
    fn readiness_failing_past_grace() {
        let spec =
            json!({"name": "api", "readinessProbe": {"periodSeconds": 1, "failureThreshold": 1}});
        let running = |started: &str| {
            pod(
                json!({"name": "api", "ready": false, "restartCount": 0, "image": "x",
            "imageID": "", "state": {"running": {"startedAt": started}}}),
                spec.clone(),
            )
        };
        let e = event(
            "p1",
            "Unhealthy",
            "Readiness probe failed: HTTP probe failed with statuscode: 503",
        );
        assert!(matches!(
            assess_with(
                &progressing(),
                &[running("2026-01-01T00:00:59Z")],
                std::slice::from_ref(&e)
            ),
            Assessment::Progressing(_)
        ));
        let Assessment::Failed(f) =
            assess_with(&progressing(), &[running("2026-01-01T00:00:50Z")], &[e])
        else {
            panic!()
        };
        assert_eq!(
            f.reason,
            "pod api-new-x: container api not ready for 10s (grace 2s from its probes): \
            Readiness probe failed: HTTP probe failed with statuscode: 503"
        );
    }

    #[test]
    fn digests() {
        let d = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
        let ok = pod(
            json!({"name": "api", "ready": true, "restartCount": 0, "image": "x",
            "imageID": format!("docker-pullable://r/api@{d}")}),
            json!({"name": "api", "image": format!("r/api@{d}")}),
        );
        assert!(digest_mismatches(&[&ok]).is_empty());
        let stale = pod(
            json!({"name": "api", "ready": true, "restartCount": 0, "image": "x",
            "imageID": "docker-pullable://r/api@sha256:2222"}),
            json!({"name": "api", "image": format!("r/api@{d}")}),
        );
        assert_eq!(
            digest_mismatches(&[&stale])[0].image_id,
            "docker-pullable://r/api@sha256:2222"
        );
    }

    #[test]
    fn previous_revision() {
        let d = progressing();
        let sets = [rs("old", "1"), rs("new", "2")];
        let sets: Vec<&ReplicaSet> = sets.iter().collect();
        assert_eq!(
            previous_replica_set(&d, &sets)
                .unwrap()
                .metadata
                .uid
                .as_deref(),
            Some("old")
        );
        assert_eq!(
            new_replica_set(&d, &sets).unwrap().metadata.uid.as_deref(),
            Some("new")
        );
    }
}
