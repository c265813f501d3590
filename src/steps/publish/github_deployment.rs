//! A GitHub Deployment around the deploy step (`github-deployment: true`): created with
//! `in_progress` before anything is applied, then `success` (with the app's URL as the
//! environment URL) or `failure`, so the environment page and the PR show what runs where.
//!
//! Like the PR comment, this is reporting: a refused or failing GitHub API call is a
//! warning with the permission it needs, never a failed deploy.

use crate::clients::github::{GitHub, GitHubError};
use crate::error::Error;
use crate::host::{HostKind, Level, Location};
use crate::inputs::settings::PublishSettings;
use crate::model::rollout::Verdict;

use crate::steps::Ctx;
use crate::steps::deploy::DeployOutcome;

pub struct Recorded {
    gh: GitHub,
    id: u64,
    environment: String,
}

fn warn(ctx: &Ctx, what: &str, e: &GitHubError) {
    let hint = if e.is_permission() {
        " (the workflow needs `permissions: deployments: write`)"
    } else {
        ""
    };
    ctx.host.annotate(
        Level::Warning,
        &format!("GitHub deployment: {what} failed: {e}{hint}"),
        &Location::default(),
    );
}

/// Creates the deployment (`environment`, default the namespace) and marks it in progress.
pub async fn start(ctx: &Ctx, s: &PublishSettings, namespace: &str) -> Option<Recorded> {
    if !s.github_deployment {
        return None;
    }
    if ctx.ci.host != HostKind::GitHubActions {
        ctx.host
            .info("github-deployment: not on GitHub Actions, no GitHub deployment recorded");
        return None;
    }
    let (Some(token), Some(repo), Some(api), Some(sha)) = (
        &s.github_token,
        &ctx.ci.repository,
        &ctx.ci.api_url,
        &ctx.ci.commit,
    ) else {
        ctx.host.annotate(
            Level::Warning,
            "github-deployment needs a GitHub token (github-token or GITHUB_TOKEN), GITHUB_REPOSITORY and GITHUB_SHA",
            &Location::default(),
        );
        return None;
    };
    ctx.host.mask(token);
    let gh = match GitHub::with_limits(api, token, repo, ctx.http.limits()) {
        Ok(g) => g,
        Err(e) => {
            warn(ctx, "connecting", &e);
            return None;
        }
    };
    let environment = s
        .environment
        .clone()
        .unwrap_or_else(|| namespace.to_string());
    let description = format!("aks-backend deploy to {namespace}");
    let id = match gh.create_deployment(sha, &environment, &description).await {
        Ok(id) => id,
        Err(e) => {
            warn(ctx, "creating the deployment", &e);
            return None;
        }
    };
    if let Err(e) = gh
        .deployment_status(id, "in_progress", None, ctx.ci.run_url.as_deref())
        .await
    {
        warn(ctx, "marking it in progress", &e);
    }
    Some(Recorded {
        gh,
        id,
        environment,
    })
}

/// Sets the final state from the deploy's outcome (`Err`: the step failed before a verdict).
pub async fn finish(ctx: &Ctx, d: Recorded, outcome: Result<Option<&DeployOutcome>, &Error>) {
    let (state, url) = match outcome {
        Ok(Some(o)) if o.report.verdict == Verdict::Healthy => ("success", o.report.url.clone()),
        Ok(Some(_)) | Err(_) => ("failure", None),
        Ok(None) => ("inactive", None),
    };
    match d
        .gh
        .deployment_status(d.id, state, url.as_deref(), ctx.ci.run_url.as_deref())
        .await
    {
        Ok(()) => ctx.host.info(&format!(
            "GitHub deployment {} to {}: {state}",
            d.id, d.environment
        )),
        Err(e) => warn(ctx, "setting its final state", &e),
    }
}
