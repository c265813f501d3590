//! The settle window: a workload that just became available is not yet healthy. A
//! container without a readiness probe is Ready the moment it runs, so a process that
//! crashes a second after starting makes a one-pod rollout "available" before it dies.
//! For a while after Available (the larger of the workload's `minReadySeconds` and the
//! `settle-seconds` setting) the new revision's containers are watched, and any restart,
//! exit or waiting reason there fails the rollout in the same words the tracker uses.
//! Pure functions over the pods the watches keep, so every rule is a unit test.

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;

use super::rules::{self, Failure, Policy};

/// Restart counts when the window opened, by `pod-uid/container`.
pub type Baseline = BTreeMap<String, i32>;

fn key(pod: &Pod, container: &str) -> String {
    format!(
        "{}/{container}",
        pod.metadata.uid.as_deref().unwrap_or_default()
    )
}

/// Every container's restart count now: what later restarts are measured against.
pub fn baseline(pods: &[&Pod]) -> Baseline {
    let mut out = Baseline::new();
    for p in pods {
        let statuses = p
            .status
            .as_ref()
            .and_then(|s| s.container_statuses.as_ref());
        for cs in statuses.into_iter().flatten() {
            out.insert(key(p, &cs.name), cs.restart_count);
        }
    }
    out
}

/// How long to watch after Available: the larger of `minReadySeconds` and the setting.
pub fn window(min_ready_seconds: Option<i32>, setting: Duration) -> Duration {
    let min_ready = Duration::from_secs(min_ready_seconds.unwrap_or(0).max(0) as u64);
    setting.max(min_ready)
}

/// The first sign, among the new revision's `pods`, that a container did not stay up
/// since the window opened: a restart, an exit, a waiting reason. Pods that appeared
/// after the window opened count from zero restarts.
pub fn failure(
    pods: &[&Pod],
    baseline: &Baseline,
    window: Duration,
    policy: &Policy,
) -> Option<Failure> {
    let within = format!(
        "within the {}s settle window after the rollout was available",
        window.as_secs()
    );
    // CrashLoopBackOff, OOMKilled and hopeless waits in the tracker's own words. The
    // restarts `--max-restarts` allows are allowed here too (none by default).
    let allowed = policy.max_restarts.max(0);
    for pod in pods {
        let pod_name = rules::name(&pod.metadata).to_string();
        let (specs, statuses) = rules::containers(pod);
        for cs in statuses {
            let spec = specs.iter().find(|c| c.name == cs.name);
            if let Some(f) = rules::container_failure(pod, spec, cs, &[], policy) {
                return Some(f);
            }
            let fail = |reason: String, restarted: bool| Failure {
                reason,
                pod: Some(pod_name.clone()),
                container: Some(cs.name.clone()),
                restarted,
            };
            let state = cs.state.as_ref();
            let last_exit = |t: &k8s_openapi::api::core::v1::ContainerStateTerminated| {
                format!(
                    "exit code {}{}",
                    t.exit_code,
                    t.reason
                        .as_deref()
                        .map(|r| format!(" ({r})"))
                        .unwrap_or_default()
                )
            };
            let before = baseline.get(&key(pod, &cs.name)).copied().unwrap_or(0);
            let restarts = cs.restart_count - before;
            if allowed > 0 {
                // Within the allowance a crash is judged by CrashLoopBackOff above.
                if restarts > allowed {
                    return Some(fail(
                        format!(
                            "pod {pod_name}: container {} restarted {restarts} time(s) {within}, more than the {allowed} allowed",
                            cs.name
                        ),
                        true,
                    ));
                }
                continue;
            }
            if let Some(t) = state.and_then(|s| s.terminated.as_ref()) {
                return Some(fail(
                    format!(
                        "pod {pod_name}: container {} terminated with {} {within}",
                        cs.name,
                        last_exit(t)
                    ),
                    cs.restart_count > 0,
                ));
            }
            if restarts > 0 {
                let exit = cs
                    .last_state
                    .as_ref()
                    .and_then(|s| s.terminated.as_ref())
                    .map(|t| format!(", last {}", last_exit(t)))
                    .unwrap_or_default();
                return Some(fail(
                    format!(
                        "pod {pod_name}: container {} restarted {restarts} time(s) {within}{exit}",
                        cs.name
                    ),
                    true,
                ));
            }
            if let Some(w) = state.and_then(|s| s.waiting.as_ref()) {
                let reason = w.reason.as_deref().unwrap_or("Waiting");
                let message = w
                    .message
                    .as_deref()
                    .map(str::trim)
                    .filter(|m| !m.is_empty())
                    .map(|m| format!(": {m}"))
                    .unwrap_or_default();
                return Some(fail(
                    format!(
                        "pod {pod_name}: container {} is {reason}{message} {within}",
                        cs.name
                    ),
                    cs.restart_count > 0,
                ));
            }
        }
    }
    None
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

    fn pod(status: serde_json::Value) -> Pod {
        serde_json::from_value(json!({
            "metadata": {"name": "api-x", "uid": "p1"},
            "spec": {"containers": [{"name": "app"}]},
            "status": {"phase": "Running", "containerStatuses": [status]},
        }))
        .unwrap()
    }

    fn running(restarts: i32) -> Pod {
        pod(
            json!({"name": "app", "ready": true, "restartCount": restarts, "image": "x",
                   "imageID": "", "state": {"running": {}}}),
        )
    }

    const W: Duration = Duration::from_secs(10);

    #[test]
    fn the_window_is_the_larger_of_min_ready_seconds_and_the_setting() {
        assert_eq!(window(Some(30), W), Duration::from_secs(30));
        assert_eq!(window(Some(0), W), W);
        assert_eq!(window(None, Duration::ZERO), Duration::ZERO);
        assert_eq!(window(Some(-5), Duration::ZERO), Duration::ZERO);
    }

    #[test]
    fn containers_that_stay_up_pass() {
        let p = running(0);
        let b = baseline(&[&p]);
        assert_eq!(failure(&[&p], &b, W, &policy()), None);
        // Restarts from before the window (allowed by --max-restarts) do not count.
        let p = running(2);
        let b = baseline(&[&p]);
        assert_eq!(failure(&[&p], &b, W, &policy()), None);
    }

    #[test]
    fn a_restart_in_the_window_fails_with_the_last_exit() {
        let b = baseline(&[&running(0)]);
        let p = pod(
            json!({"name": "app", "ready": true, "restartCount": 1, "image": "x",
            "imageID": "", "state": {"running": {}},
            "lastState": {"terminated": {"exitCode": 1, "reason": "Error"}}}),
        );
        let f = failure(&[&p], &b, W, &policy()).unwrap();
        assert_eq!(
            f.reason,
            "pod api-x: container app restarted 1 time(s) within the 10s settle window after \
             the rollout was available, last exit code 1 (Error)"
        );
        assert!(f.restarted);
        assert_eq!(f.container.as_deref(), Some("app"));
    }

    #[test]
    fn an_exit_in_the_window_fails() {
        let b = baseline(&[&running(0)]);
        let p = pod(
            json!({"name": "app", "ready": false, "restartCount": 0, "image": "x",
            "imageID": "", "state": {"terminated": {"exitCode": 1, "reason": "Error"}}}),
        );
        let f = failure(&[&p], &b, W, &policy()).unwrap();
        assert_eq!(
            f.reason,
            "pod api-x: container app terminated with exit code 1 (Error) within the 10s \
             settle window after the rollout was available"
        );
    }

    #[test]
    fn crash_loop_back_off_in_the_window_uses_the_trackers_words_without_allowance() {
        let b = baseline(&[&running(0)]);
        let p = pod(
            json!({"name": "app", "ready": false, "restartCount": 1, "image": "x",
            "imageID": "", "state": {"waiting": {"reason": "CrashLoopBackOff"}},
            "lastState": {"terminated": {"exitCode": 1, "reason": "Error"}}}),
        );
        let f = failure(&[&p], &b, W, &policy()).unwrap();
        assert_eq!(
            f.reason,
            "pod api-x: container app is in CrashLoopBackOff after 1 restart(s), last exit code 1 (Error)"
        );
    }

    #[test]
    fn max_restarts_allows_that_many_restarts_in_the_window_too() {
        let lenient = Policy {
            max_restarts: 2,
            ..policy()
        };
        let b = baseline(&[&running(0)]);
        let crashed = pod(
            json!({"name": "app", "ready": false, "restartCount": 0, "image": "x",
            "imageID": "", "state": {"terminated": {"exitCode": 1, "reason": "Error"}}}),
        );
        assert_eq!(failure(&[&crashed], &b, W, &lenient), None);
        let looping = pod(
            json!({"name": "app", "ready": false, "restartCount": 2, "image": "x",
            "imageID": "", "state": {"waiting": {"reason": "CrashLoopBackOff"}},
            "lastState": {"terminated": {"exitCode": 1, "reason": "Error"}}}),
        );
        let f = failure(&[&looping], &b, W, &lenient).unwrap();
        assert!(
            f.reason.contains("CrashLoopBackOff after 2 restart(s)"),
            "{}",
            f.reason
        );
    }

    #[test]
    fn any_waiting_reason_in_the_window_fails() {
        let b = baseline(&[&running(0)]);
        let p = pod(
            json!({"name": "app", "ready": false, "restartCount": 0, "image": "x",
            "imageID": "", "state": {"waiting": {"reason": "ContainerCreating"}}}),
        );
        let f = failure(&[&p], &b, W, &policy()).unwrap();
        assert!(
            f.reason
                .starts_with("pod api-x: container app is ContainerCreating within the 10s"),
            "{}",
            f.reason
        );
    }
}
