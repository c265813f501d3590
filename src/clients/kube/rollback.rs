//! Rollback: what `kubectl rollout undo` does (the Deployment's pod template becomes the
//! one of the previous revision's ReplicaSet, so the controller scales that ReplicaSet
//! back up under a new revision number; a StatefulSet's or DaemonSet's becomes the one
//! of its previous ControllerRevision), done as a server-side apply of our own manifest
//! with that template, so the fields stay ours and the next deploy applies without a
//! conflict. A StatefulSet does not replace a pod stuck on the bad revision by itself
//! (the "forced rollback" of the Kubernetes docs): those pods are deleted so the
//! controller recreates them from the restored template.

use k8s_openapi::api::apps::v1::{ControllerRevision, Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, DeleteParams};
use serde_json::Value;

use super::KubeError;
use super::apply::{self, Target};
use super::rules;
use super::workloads::HASH_LABEL as REVISION_HASH_LABEL;

const HASH_LABEL: &str = "pod-template-hash";

/// The apply that restores the previous revision, and that revision's number; `None`
/// when there is no earlier revision (a first deploy).
pub fn undo_target(applied: &Target, d: &Deployment, sets: &[ReplicaSet]) -> Option<(Target, i64)> {
    let refs: Vec<&ReplicaSet> = sets.iter().collect();
    let prev = rules::previous_replica_set(d, &refs)?;
    let revision = prev
        .metadata
        .annotations
        .as_ref()?
        .get(rules::REVISION)?
        .parse()
        .ok()?;
    let mut template = serde_json::to_value(prev.spec.template.as_ref()?).ok()?;
    if let Some(labels) = template
        .pointer_mut("/metadata/labels")
        .and_then(Value::as_object_mut)
    {
        labels.remove(HASH_LABEL);
    }
    let mut t = applied.clone();
    *t.object.pointer_mut("/spec/template")? = template;
    Some((t, revision))
}

/// Applies the undo; the Deployment's new generation.
pub async fn undo(client: &kube::Client, t: &Target) -> Result<i64, KubeError> {
    let stored = apply::apply_forced(client, t).await?;
    Ok(stored
        .pointer("/metadata/generation")
        .and_then(Value::as_i64)
        .unwrap_or(0))
}

/// The apply that restores the ControllerRevision before `current` (the one in force,
/// by name) of a StatefulSet or DaemonSet, and that revision's number; `None` when
/// there is no earlier one. `revisions`: the owner's, newest first.
pub fn undo_revision_target(
    applied: &Target,
    current: &str,
    revisions: &[ControllerRevision],
) -> Option<(Target, i64)> {
    let now = revisions
        .iter()
        .find(|r| r.metadata.name.as_deref() == Some(current))?
        .revision?;
    let prev = revisions
        .iter()
        .find(|r| r.revision.is_some_and(|n| n < now))?;
    let mut template = prev.data.0.pointer("/spec/template")?.clone();
    let object = template.as_object_mut()?;
    object.remove("$patch");
    if let Some(labels) = object
        .get_mut("metadata")
        .and_then(|m| m.get_mut("labels"))
        .and_then(Value::as_object_mut)
    {
        labels.remove(REVISION_HASH_LABEL);
    }
    let mut t = applied.clone();
    *t.object.pointer_mut("/spec/template")? = template;
    Some((t, prev.revision?))
}

/// The pods of the revision labelled `label` that are not Ready: what a StatefulSet
/// leaves stuck after its template is rolled back.
pub fn stuck_pods(pods: &[Pod], label: &str) -> Vec<String> {
    pods.iter()
        .filter(|p| {
            p.metadata
                .labels
                .as_ref()
                .and_then(|l| l.get(REVISION_HASH_LABEL))
                .is_some_and(|v| v == label)
        })
        .filter(|p| {
            !p.status
                .as_ref()
                .and_then(|s| s.conditions.as_ref())
                .into_iter()
                .flatten()
                .any(|c| c.type_ == "Ready" && c.status == "True")
        })
        .filter_map(|p| p.metadata.name.clone())
        .collect()
}

/// Deletes these pods (their controller recreates them).
pub async fn delete_pods(
    client: &kube::Client,
    namespace: &str,
    names: &[String],
) -> Result<(), KubeError> {
    let api: Api<Pod> = Api::namespaced(client.clone(), namespace);
    for name in names {
        super::retrying(|| async {
            match api.delete(name, &DeleteParams::default()).await {
                Ok(_) => Ok(()),
                Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
                Err(e) => Err(KubeError::from_kube(format!("Pod/{name}"), e)),
            }
        })
        .await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube::discovery::ApiResource;
    use serde_json::json;

    fn revision(name: &str, n: i64, image: &str) -> ControllerRevision {
        serde_json::from_value(json!({
            "metadata": {"name": name},
            "data": {"spec": {"template": {"$patch": "replace",
                "metadata": {"labels": {"app": "db", REVISION_HASH_LABEL: "x"}},
                "spec": {"containers": [{"name": "db", "image": image}]}}}},
            "revision": n,
        }))
        .unwrap()
    }

    fn target() -> Target {
        Target {
            object: json!({"apiVersion": "apps/v1", "kind": "StatefulSet",
                "metadata": {"name": "db"}, "spec": {"replicas": 2,
                "template": {"spec": {"containers": [{"name": "db", "image": "bad"}]}}}}),
            resource: ApiResource::erase::<k8s_openapi::api::apps::v1::StatefulSet>(&()),
            namespace: Some("web".into()),
            name: "db".into(),
        }
    }

    #[test]
    fn the_previous_controller_revision_template_is_applied() {
        let revs = [revision("db-b", 2, "bad"), revision("db-a", 1, "good")];
        let (t, n) = undo_revision_target(&target(), "db-b", &revs).unwrap();
        assert_eq!(n, 1);
        assert_eq!(
            t.object["spec"]["template"],
            json!({"metadata": {"labels": {"app": "db"}},
                   "spec": {"containers": [{"name": "db", "image": "good"}]}})
        );
        assert_eq!(t.object["spec"]["replicas"], 2);
        // A first deploy has nothing before it.
        assert!(undo_revision_target(&target(), "db-a", &revs).is_none());
    }

    #[test]
    fn only_unready_pods_of_the_bad_revision_are_stuck() {
        let pod = |name: &str, label: &str, ready: &str| -> Pod {
            serde_json::from_value(
                json!({"metadata": {"name": name, "labels": {REVISION_HASH_LABEL: label}},
                "status": {"conditions": [{"type": "Ready", "status": ready}]}}),
            )
            .unwrap()
        };
        let pods = [
            pod("db-0", "db-a", "True"),
            pod("db-1", "db-b", "False"),
            pod("db-2", "db-b", "True"),
        ];
        assert_eq!(stuck_pods(&pods, "db-b"), ["db-1"]);
    }
}
