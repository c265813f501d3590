//! The apply: every object of the plan, in order, by server-side apply (field manager
//! `aks-backend`), with the tracker's watches already running so nothing is missed.

use serde_json::Value;

use crate::clients::kube::apply::{self, Target};
use crate::clients::kube::track::Watched;
use crate::clients::kube::workloads::WorkloadKind;
use crate::error::Error;
use crate::model::rollout::ObjectChange;

use super::super::{Ctx, Group};

/// What the apply leaves to track: each workload applied, with the generation to wait
/// for, and its target (the rollback needs it).
pub(super) struct Applied {
    pub watched: Vec<Watched>,
    pub workloads: Vec<Target>,
}

/// Applies every target; `changes` (the dry run's, one per target) says which workloads
/// this deploy leaves unchanged (no new revision: their pods already ran).
pub(super) async fn run(
    ctx: &Ctx,
    client: &kube::Client,
    targets: &[Target],
    changes: &[ObjectChange],
) -> Result<Applied, Error> {
    let _group = Group::open(&ctx.host, "Apply");
    let mut applied = Applied {
        watched: Vec::new(),
        workloads: Vec::new(),
    };
    for (t, change) in targets.iter().zip(changes) {
        let stored = apply::apply(client, t).await?;
        ctx.host.info(&format!("{} applied", t.id()));
        if let Some(kind) = WorkloadKind::of(&t.resource.group, &t.resource.kind) {
            applied.watched.push(Watched {
                kind,
                name: t.name.clone(),
                generation: stored
                    .pointer("/metadata/generation")
                    .and_then(Value::as_i64)
                    .unwrap_or(1),
                // Unchanged by this deploy: no new revision, its pods already ran.
                settles: change.action != "unchanged",
            });
            applied.workloads.push(t.clone());
        }
    }
    Ok(applied)
}
