//! The rollout tracker: watches of the namespace (Deployments and ReplicaSets, Pods and
//! Events always; StatefulSets, DaemonSets, their ControllerRevisions and Jobs when the
//! deploy applies one) kept as local caches, all workloads judged together by `rules`
//! and `workloads` on every change and on a short tick, under one deadline. Watches
//! that drop or answer 410/5xx are resumed by kube's watcher with back-off; nothing is
//! polled.

use std::time::{Duration, Instant};

use futures::StreamExt;
use k8s_openapi::api::apps::v1::{
    ControllerRevision, DaemonSet, Deployment, ReplicaSet, StatefulSet,
};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{Event, Pod};
use kube::api::{Api, LogParams};
use kube::runtime::reflector::{self, Store};
use kube::runtime::{WatchStreamExt, watcher};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::KubeError;
use super::rules::{self, Assessment, Failure, Policy};
use super::settle;
use super::workloads::{self, Judged, WorkloadKind};
use crate::model::rollout::{EventLine, Verdict};

/// A workload to track and the generation our apply gave it.
#[derive(Clone, Debug)]
pub struct Watched {
    pub kind: WorkloadKind,
    pub name: String,
    pub generation: i64,
    /// Gets the settle window (this deploy changed it: a new revision to watch).
    pub settles: bool,
}

#[derive(Clone, Debug)]
pub struct Outcome {
    pub kind: WorkloadKind,
    pub name: String,
    pub verdict: Verdict,
    pub reason: Option<String>,
    pub failure: Option<Failure>,
    pub revision: Option<i64>,
    pub seconds: f64,
    /// The current pods when the verdict was reached (a Deployment's new ReplicaSet's,
    /// a StatefulSet's or DaemonSet's current revision's, a Job's).
    pub new_pods: Vec<Pod>,
    /// The workload, its new ReplicaSet and current pods (whose events matter).
    pub related_uids: Vec<String>,
}

pub struct Tracker {
    namespace: String,
    deployments: Store<Deployment>,
    sets: Store<ReplicaSet>,
    stateful_sets: Option<Store<StatefulSet>>,
    daemon_sets: Option<Store<DaemonSet>>,
    revisions: Option<Store<ControllerRevision>>,
    jobs: Option<Store<Job>>,
    pods: Store<Pod>,
    events: Store<Event>,
    changes: mpsc::Receiver<()>,
    tasks: Vec<JoinHandle<()>>,
    /// Workloads that are separate components (`--component`, `--compose`): one failing
    /// does not cancel the others, which are tracked to their own verdict, so only the
    /// failing ones are rolled back.
    independent: bool,
}

impl Drop for Tracker {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

fn spawn_watch<K>(api: Api<K>, tx: mpsc::Sender<()>) -> (Store<K>, JoinHandle<()>)
where
    K: kube::Resource<DynamicType = ()>
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug
        + Send
        + Sync
        + 'static,
{
    let (reader, writer) = reflector::store();
    let stream = reflector(
        writer,
        watcher(api, watcher::Config::default()).default_backoff(),
    );
    let task = tokio::spawn(async move {
        stream
            .for_each(|ev| {
                if let Err(e) = &ev {
                    tracing::debug!("watch error (resuming): {e}");
                }
                let _ = tx.try_send(());
                async {}
            })
            .await;
    });
    (reader, task)
}

use kube::runtime::reflector::reflector;

/// The object called `name` in an optional watch's cache.
fn find_named<K>(store: &Option<Store<K>>, name: &str) -> Option<std::sync::Arc<K>>
where
    K: kube::Resource<DynamicType = ()> + Clone + 'static,
{
    store
        .as_ref()?
        .find(|o| o.meta().name.as_deref() == Some(name))
}

/// A watch of `K` in the namespace, its task kept in `tasks`.
fn spawn_into<K>(
    tasks: &mut Vec<JoinHandle<()>>,
    client: &kube::Client,
    namespace: &str,
    tx: &mpsc::Sender<()>,
) -> Store<K>
where
    K: kube::Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug
        + Send
        + Sync
        + 'static,
{
    let (store, task) = spawn_watch(Api::namespaced(client.clone(), namespace), tx.clone());
    tasks.push(task);
    store
}

impl Tracker {
    /// Starts the watches (before the apply, so nothing is missed) for these kinds.
    pub fn start(client: &kube::Client, namespace: &str, kinds: &[WorkloadKind]) -> Self {
        let (tx, rx) = mpsc::channel(64);
        let mut tasks = Vec::new();
        let has = |k| kinds.contains(&k);
        let deployments = spawn_into(&mut tasks, client, namespace, &tx);
        let sets = spawn_into(&mut tasks, client, namespace, &tx);
        let pods = spawn_into(&mut tasks, client, namespace, &tx);
        let events = spawn_into(&mut tasks, client, namespace, &tx);
        let stateful_sets =
            has(WorkloadKind::StatefulSet).then(|| spawn_into(&mut tasks, client, namespace, &tx));
        let daemon_sets =
            has(WorkloadKind::DaemonSet).then(|| spawn_into(&mut tasks, client, namespace, &tx));
        let revisions = (has(WorkloadKind::StatefulSet) || has(WorkloadKind::DaemonSet))
            .then(|| spawn_into(&mut tasks, client, namespace, &tx));
        let jobs = has(WorkloadKind::Job).then(|| spawn_into(&mut tasks, client, namespace, &tx));
        Tracker {
            namespace: namespace.into(),
            deployments,
            sets,
            stateful_sets,
            daemon_sets,
            revisions,
            jobs,
            pods,
            events,
            changes: rx,
            tasks,
            independent: false,
        }
    }

    /// See [`Tracker::independent`]: a failure no longer cancels the other workloads.
    pub fn track_independently(&mut self) {
        self.independent = true;
    }

    async fn ready(&self, deadline: Instant) -> bool {
        let all = async {
            let _ = self.deployments.wait_until_ready().await;
            let _ = self.sets.wait_until_ready().await;
            let _ = self.pods.wait_until_ready().await;
            let _ = self.events.wait_until_ready().await;
            if let Some(s) = &self.stateful_sets {
                let _ = s.wait_until_ready().await;
            }
            if let Some(s) = &self.daemon_sets {
                let _ = s.wait_until_ready().await;
            }
            if let Some(s) = &self.revisions {
                let _ = s.wait_until_ready().await;
            }
            if let Some(s) = &self.jobs {
                let _ = s.wait_until_ready().await;
            }
        };
        tokio::time::timeout_at(deadline.into(), all).await.is_ok()
    }

    fn assess(
        &self,
        w: &Watched,
        policy: &Policy,
    ) -> (Assessment, Option<i64>, Vec<Pod>, Vec<String>) {
        let pods = self.pods.state();
        let pods: Vec<&Pod> = pods.iter().map(|a| a.as_ref()).collect();
        let events = self.events.state();
        let events: Vec<&Event> = events.iter().map(|a| a.as_ref()).collect();
        let revisions = self
            .revisions
            .as_ref()
            .map(Store::state)
            .unwrap_or_default();
        let revisions: Vec<&ControllerRevision> = revisions.iter().map(|a| a.as_ref()).collect();
        let named = |n: Option<&String>| n.map(String::as_str) == Some(w.name.as_str());
        let missing = || {
            (
                Assessment::Progressing(format!("waiting for the {} to appear", w.kind.as_str())),
                None,
                Vec::new(),
                Vec::new(),
            )
        };
        let with = |uid: Option<&String>, j: Judged| {
            let mut related: Vec<String> = uid.into_iter().cloned().collect();
            related.extend(j.pods.iter().filter_map(|p| p.metadata.uid.clone()));
            let pods = j.pods.iter().map(|p| (*p).clone()).collect();
            (j.assessment, j.revision, pods, related)
        };
        match w.kind {
            WorkloadKind::Deployment => {
                let Some(d) = self.deployments.find(|d| named(d.metadata.name.as_ref())) else {
                    return missing();
                };
                let sets = self.sets.state();
                let sets: Vec<&ReplicaSet> = sets.iter().map(|a| a.as_ref()).collect();
                let a = rules::assess(&d, w.generation, &sets, &pods, &events, policy);
                let mut related: Vec<String> = d.metadata.uid.iter().cloned().collect();
                let mut new_pods = Vec::new();
                if let Some(rs) = rules::new_replica_set(&d, &sets) {
                    related.extend(rs.metadata.uid.iter().cloned());
                    for p in rules::pods_of(rs, &pods) {
                        related.extend(p.metadata.uid.iter().cloned());
                        new_pods.push(p.clone());
                    }
                }
                (a, rules::deployment_revision(&d), new_pods, related)
            }
            WorkloadKind::StatefulSet => match find_named(&self.stateful_sets, &w.name) {
                None => missing(),
                Some(s) => with(
                    s.metadata.uid.as_ref(),
                    workloads::assess_stateful_set(
                        &s,
                        w.generation,
                        &revisions,
                        &pods,
                        &events,
                        policy,
                    ),
                ),
            },
            WorkloadKind::DaemonSet => match find_named(&self.daemon_sets, &w.name) {
                None => missing(),
                Some(d) => with(
                    d.metadata.uid.as_ref(),
                    workloads::assess_daemon_set(
                        &d,
                        w.generation,
                        &revisions,
                        &pods,
                        &events,
                        policy,
                    ),
                ),
            },
            WorkloadKind::Job => match find_named(&self.jobs, &w.name) {
                None => missing(),
                Some(j) => with(
                    j.metadata.uid.as_ref(),
                    workloads::assess_job(&j, &pods, &events, policy),
                ),
            },
        }
    }

    /// The workload's `minReadySeconds`, as the watch sees it (Jobs have none).
    fn min_ready_seconds(&self, w: &Watched) -> Option<i32> {
        match w.kind {
            WorkloadKind::Deployment => {
                self.deployments
                    .find(|d| d.metadata.name.as_deref() == Some(w.name.as_str()))?
                    .spec
                    .min_ready_seconds
            }
            WorkloadKind::StatefulSet => {
                find_named(&self.stateful_sets, &w.name)?
                    .spec
                    .min_ready_seconds
            }
            WorkloadKind::DaemonSet => {
                find_named(&self.daemon_sets, &w.name)?
                    .spec
                    .min_ready_seconds
            }
            WorkloadKind::Job => None,
        }
    }

    /// Tracks every workload until all are done, one fails (the others are then
    /// cancelled, unless they are independent components), or the deadline passes. `progress` gets a line per workload every
    /// `every`. With `settle`, a Deployment, StatefulSet or DaemonSet is healthy only
    /// after its new pods stayed up for the settle window past Available (see
    /// `settle`); `None` (a rollback to a revision that ran before) judges at Available.
    // why: the deadline, restart limit, settle window and progress cadence are the caller's
    // settings for this one wait, each used once; bundling them would only rename the list.
    #[allow(clippy::too_many_arguments)]
    pub async fn wait(
        &mut self,
        workloads: &[Watched],
        deadline: Instant,
        max_restarts: i32,
        settle: Option<Duration>,
        every: Duration,
        progress: &(dyn Fn(&str) + Sync),
    ) -> Vec<Outcome> {
        let started = Instant::now();
        let mut done: Vec<Option<Outcome>> = vec![None; workloads.len()];
        // Per workload, once available: when its window closes, its length, and the
        // restart counts it opened with.
        let mut settling: Vec<Option<(Instant, Duration, settle::Baseline)>> =
            vec![None; workloads.len()];
        let mut lines: Vec<String> = vec!["waiting for the watches".into(); workloads.len()];
        let synced = self.ready(deadline).await;
        let mut next_progress = Instant::now() + every;
        let mut ticker = tokio::time::interval(Duration::from_millis(200));
        loop {
            let policy = Policy {
                max_restarts,
                now: k8s_openapi::jiff::Timestamp::now(),
            };
            let mut failed = false;
            if synced {
                let slots = done
                    .iter_mut()
                    .zip(settling.iter_mut())
                    .zip(lines.iter_mut());
                for (w, ((done_i, settling_i), line)) in workloads.iter().zip(slots) {
                    if done_i.is_some() {
                        continue;
                    }
                    let (mut a, revision, new_pods, related_uids) = self.assess(w, &policy);
                    let window = match (settle, w.kind) {
                        (Some(s), k) if k != WorkloadKind::Job && w.settles => {
                            settle::window(self.min_ready_seconds(w), s)
                        }
                        _ => Duration::ZERO,
                    };
                    if !window.is_zero() {
                        let pods: Vec<&Pod> = new_pods.iter().collect();
                        if let Some((until, window, baseline)) = &*settling_i {
                            if let Some(f) = settle::failure(&pods, baseline, *window, &policy) {
                                a = Assessment::Failed(f);
                            } else if matches!(a, Assessment::Done) && Instant::now() < *until {
                                a = Assessment::Progressing(format!(
                                    "available; watching the new pods for restarts ({}s left)",
                                    until.saturating_duration_since(Instant::now()).as_secs() + 1
                                ));
                            } else if let Assessment::Progressing(l) = &a {
                                a = Assessment::Progressing(format!(
                                    "{l} (no longer available while settling)"
                                ));
                            }
                        } else if matches!(a, Assessment::Done) {
                            *settling_i =
                                Some((Instant::now() + window, window, settle::baseline(&pods)));
                            progress(&format!(
                                "{}: available; watching the new pods for {}s before calling it healthy",
                                self.label(w),
                                window.as_secs()
                            ));
                            a = Assessment::Progressing(format!(
                                "available; watching the new pods for restarts ({}s left)",
                                window.as_secs()
                            ));
                        }
                    }
                    let finished = |verdict, reason: Option<String>, failure| Outcome {
                        kind: w.kind,
                        name: w.name.clone(),
                        verdict,
                        reason,
                        failure,
                        revision,
                        seconds: started.elapsed().as_secs_f64(),
                        new_pods: new_pods.clone(),
                        related_uids: related_uids.clone(),
                    };
                    match a {
                        Assessment::Progressing(l) => *line = l,
                        Assessment::Done => {
                            progress(&format!(
                                "{}: {}",
                                self.label(w),
                                match (w.kind, revision) {
                                    (WorkloadKind::Job, _) => "complete".to_string(),
                                    (_, r) => format!(
                                        "rolled out (revision {})",
                                        r.map_or("?".into(), |r| r.to_string())
                                    ),
                                }
                            ));
                            *done_i = Some(finished(Verdict::Healthy, None, None));
                        }
                        Assessment::Untracked(why) => {
                            progress(&format!("{}: not tracked: {why}", self.label(w)));
                            *done_i = Some(finished(Verdict::NotTracked, Some(why), None));
                        }
                        Assessment::Failed(f) => {
                            failed = true;
                            *done_i =
                                Some(finished(Verdict::Failed, Some(f.reason.clone()), Some(f)));
                        }
                    }
                }
            }
            let timed_out = Instant::now() >= deadline;
            if (failed && !self.independent) || timed_out || done.iter().all(Option::is_some) {
                for (w, (done_i, line)) in workloads.iter().zip(done.iter_mut().zip(&lines)) {
                    if done_i.is_none() {
                        let (_, revision, new_pods, related_uids) = self.assess(w, &policy);
                        let (verdict, reason) = if timed_out {
                            (Verdict::TimedOut, format!("timed out; {line}"))
                        } else {
                            (
                                Verdict::Cancelled,
                                format!("not finished when another workload failed; {line}"),
                            )
                        };
                        *done_i = Some(Outcome {
                            kind: w.kind,
                            name: w.name.clone(),
                            verdict,
                            reason: Some(reason),
                            failure: None,
                            revision,
                            seconds: started.elapsed().as_secs_f64(),
                            new_pods,
                            related_uids,
                        });
                    }
                }
                // Every slot is set by now.
                return done.into_iter().flatten().collect();
            }
            if Instant::now() >= next_progress {
                for (w, (done_i, line)) in workloads.iter().zip(done.iter().zip(&lines)) {
                    if done_i.is_none() {
                        progress(&format!("{}: {line}", self.label(w)));
                    }
                }
                next_progress = Instant::now() + every;
            }
            // Wake when a settle window closes, not a tick later.
            let wake = settling
                .iter()
                .flatten()
                .map(|(until, _, _)| *until)
                .filter(|u| *u > Instant::now())
                .min()
                .unwrap_or(deadline)
                .min(deadline);
            tokio::select! {
                _ = self.changes.recv() => {
                    while self.changes.try_recv().is_ok() {}
                }
                _ = ticker.tick() => {}
                _ = tokio::time::sleep_until(wake.into()) => {}
            }
        }
    }

    /// `ns/name` for a Deployment (as always), `ns/Kind/name` for the other kinds.
    fn label(&self, w: &Watched) -> String {
        match w.kind {
            WorkloadKind::Deployment => format!("{}/{}", self.namespace, w.name),
            k => format!("{}/{}/{}", self.namespace, k.as_str(), w.name),
        }
    }

    /// A StatefulSet's or DaemonSet's ControllerRevisions (newest first), the name of
    /// the one in force, and the pods of that revision that are not Ready (StatefulSets
    /// only: a DaemonSet replaces them itself), as the watches see them now.
    pub fn revision_state(
        &self,
        kind: WorkloadKind,
        name: &str,
    ) -> Option<(Vec<ControllerRevision>, String, Vec<String>)> {
        let revisions = self.revisions.as_ref()?.state();
        let revisions: Vec<&ControllerRevision> = revisions.iter().map(|a| a.as_ref()).collect();
        let pods = self.pods.state();
        let pods: Vec<Pod> = pods.iter().map(|p| (**p).clone()).collect();
        let owned = |meta: &kube::api::ObjectMeta| -> Vec<ControllerRevision> {
            workloads::revisions_of(meta, &revisions)
                .into_iter()
                .cloned()
                .collect()
        };
        match kind {
            WorkloadKind::StatefulSet => {
                let s = find_named(&self.stateful_sets, name)?;
                let current = s.status.as_ref()?.update_revision.clone()?;
                let mine: Vec<Pod> = pods
                    .into_iter()
                    .filter(|p| rules::owned_by(&p.metadata, s.metadata.uid.as_deref()))
                    .collect();
                let stuck = super::rollback::stuck_pods(&mine, &current);
                Some((owned(&s.metadata), current, stuck))
            }
            WorkloadKind::DaemonSet => {
                let d = find_named(&self.daemon_sets, name)?;
                let revisions = owned(&d.metadata);
                let current = revisions.first()?.metadata.name.clone()?;
                Some((revisions, current, Vec::new()))
            }
            _ => None,
        }
    }

    /// The Deployment and its ReplicaSets as the watch sees them now.
    pub fn deployment(&self, name: &str) -> Option<(Deployment, Vec<ReplicaSet>)> {
        let d = self
            .deployments
            .find(|d| d.metadata.name.as_deref() == Some(name))?;
        let sets = self.sets.state();
        let sets: Vec<&ReplicaSet> = sets.iter().map(|a| a.as_ref()).collect();
        let owned = rules::owned_sets(&d, &sets).into_iter().cloned().collect();
        Some(((*d).clone(), owned))
    }
}

/// The Warning events about these objects, most frequent first, listed fresh (the
/// kubelet writes a pod's status a moment before its events). Waits up to `settle` for
/// the first one to show up.
pub async fn warning_events(
    client: &kube::Client,
    namespace: &str,
    uids: &[String],
    settle: Duration,
) -> Result<Vec<EventLine>, KubeError> {
    let api: Api<Event> = Api::namespaced(client.clone(), namespace);
    let until = Instant::now() + settle;
    loop {
        let list = super::retrying(|| async {
            api.list(&kube::api::ListParams::default())
                .await
                .map_err(|e| KubeError::from_kube("events", e))
        })
        .await?;
        let mut out: Vec<EventLine> = list
            .items
            .iter()
            .filter(|e| e.type_.as_deref() == Some("Warning"))
            .filter(|e| {
                e.involved_object
                    .uid
                    .as_ref()
                    .is_some_and(|u| uids.contains(u))
            })
            .map(|e| EventLine {
                object: format!(
                    "{}/{}",
                    e.involved_object.kind.as_deref().unwrap_or("?"),
                    e.involved_object.name.as_deref().unwrap_or("?")
                ),
                reason: e.reason.clone().unwrap_or_default(),
                message: e.message.clone().unwrap_or_default(),
                count: e.count.unwrap_or(1),
            })
            .collect();
        if !out.is_empty() || Instant::now() >= until {
            out.sort_by(|a, b| b.count.cmp(&a.count).then(a.object.cmp(&b.object)));
            return Ok(out);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The last `tail` lines of a container's log (`previous`: its crashed instance).
pub async fn logs(
    client: &kube::Client,
    namespace: &str,
    pod: &str,
    container: &str,
    previous: bool,
    tail: i64,
) -> Result<Vec<String>, KubeError> {
    let api: Api<Pod> = Api::namespaced(client.clone(), namespace);
    let params = LogParams {
        container: Some(container.into()),
        previous,
        tail_lines: Some(tail),
        ..Default::default()
    };
    let text = api
        .logs(pod, &params)
        .await
        .map_err(|e| KubeError::from_kube(format!("logs of {pod}/{container}"), e))?;
    Ok(text.lines().map(String::from).collect())
}
