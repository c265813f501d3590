//! Rollback: what `kubectl rollout undo` does (the Deployment's pod template becomes the
//! one of the previous revision's ReplicaSet, so the controller scales that ReplicaSet
//! back up under a new revision number), done as a server-side apply of our own
//! manifest with that template, so the fields stay ours and the next deploy applies
//! without a conflict.

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use serde_json::Value;

use super::KubeError;
use super::apply::{self, Target};
use super::rules;

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
    t.object["spec"]["template"] = template;
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
