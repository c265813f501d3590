//! Settings for reporting: the pull-request comment, the SARIF upload and GitHub
//! Deployments. Global (every step, and `run`), so each step can update the comment.

use std::time::Duration;

use crate::env::Env;
use crate::inputs::{InputError, Resolved, key, parse};
use crate::secret::Secret;

/// The documented range of `sarif-wait` (its help in the catalog states it).
pub const SARIF_WAIT: (Duration, Duration) = (Duration::ZERO, Duration::from_secs(3600));

#[derive(Clone, Debug, serde::Serialize)]
pub struct PublishSettings {
    /// `github-token`, else `GITHUB_TOKEN` from the environment.
    pub github_token: Option<Secret>,
    /// `azure-devops-token`, else `SYSTEM_ACCESSTOKEN`.
    pub azure_devops_token: Option<Secret>,
    pub comment: bool,
    pub upload_sarif: bool,
    pub sarif_upload_required: bool,
    pub sarif_wait: Duration,
    pub github_deployment: bool,
    pub environment: Option<String>,
    pub pr_status: bool,
    /// The app part of the comment key (`app`, where the step has it).
    pub app: Option<String>,
}

impl PublishSettings {
    pub fn resolve(r: &Resolved, env: &Env) -> Result<Self, InputError> {
        let sarif_wait = {
            let (v, i) = r.value(key::SARIF_WAIT);
            parse::duration_in(&i, v, SARIF_WAIT.0, SARIF_WAIT.1)?
        };
        Ok(PublishSettings {
            github_token: r
                .string(key::GITHUB_TOKEN)
                .or_else(|| env.get("GITHUB_TOKEN").map(String::from))
                .map(Secret::new),
            azure_devops_token: r
                .string(key::AZURE_DEVOPS_TOKEN)
                .or_else(|| env.get("SYSTEM_ACCESSTOKEN").map(String::from))
                .map(Secret::new),
            comment: r.bool(key::COMMENT)?,
            upload_sarif: r.bool(key::UPLOAD_SARIF)?,
            sarif_upload_required: r.bool(key::SARIF_UPLOAD_REQUIRED)?,
            sarif_wait,
            github_deployment: r.bool(key::GITHUB_DEPLOYMENT)?,
            environment: r.string(key::DEPLOYMENT_ENVIRONMENT),
            pr_status: r.bool(key::PR_STATUS)?,
            app: r.string(key::APP),
        })
    }
}
