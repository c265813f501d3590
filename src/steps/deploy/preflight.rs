//! Pre-flight: nothing changes in the cluster until all of it passed. Discovery of every
//! type the plan names, the access review, the namespace (created with the plan's labels
//! when it is missing), and the server-side dry run of every object with its diff.

use crate::clients::kube::apply::{self, Target};
use crate::clients::kube::{self as kube_client};
use crate::error::Error;
use crate::inputs::settings::DeploySettings;
use crate::model::rollout::ObjectChange;
use crate::plan::deploy::{Action, DeployPlan};

use super::super::{Ctx, Group};

/// What pre-flight learned: the objects' API targets, whether the namespace was there,
/// and what the apply will change.
pub(super) struct Preflight {
    pub targets: Vec<Target>,
    pub ns_exists: bool,
    pub changes: Vec<ObjectChange>,
}

/// Discovery of every type the plan needs (all missing ones named at once), the access
/// review (first, so an identity that may not even read the namespace gets the list of
/// what it lacks), the namespace, and the server-side dry run of every object.
pub(super) async fn run(
    ctx: &Ctx,
    client: &kube::Client,
    plan: &DeployPlan,
    s: &DeploySettings,
) -> Result<Preflight, Error> {
    let ns = &s.namespace;
    let _group = Group::open(&ctx.host, &format!("Pre-flight in namespace {ns}"));
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
    let changes = dry_run(ctx, client, &targets).await?;
    Ok(Preflight {
        targets,
        ns_exists,
        changes,
    })
}

/// The server-side dry run of every object: what the apply would change.
async fn dry_run(
    ctx: &Ctx,
    client: &kube::Client,
    targets: &[Target],
) -> Result<Vec<ObjectChange>, Error> {
    let mut changes: Vec<ObjectChange> = Vec::new();
    for t in targets {
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
    Ok(changes)
}
