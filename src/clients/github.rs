//! GitHub's REST API, through octocrab: the sticky pull-request comment, SARIF uploads
//! to code scanning, and (optionally) Deployments.
//!
//! Octocrab's typed routes where it has them (comments, `code_scannings().upload_sarif` /
//! `get_sarif`, `repos().deployments()` and their statuses); a raw route only for the
//! comment update: octocrab's `update_comment` sends POST where GitHub documents PATCH.
//!
//! The base URL comes from the caller (`GITHUB_API_URL`; tests point it at a loopback
//! mock). Secondary rate limits (403/429 with `retry-after` or `x-ratelimit-reset`)
//! are retried by octocrab's rate-limit policy; a plain 403 is not retried, because
//! that is how GitHub says "this token may not write here".
//!
//! A comment is ours when it carries our marker *and* was written by the token's own
//! identity: anyone can paste a marker with `run=999999.1`, nobody else can post as us.
//! The identity is `GET /user`'s login; an installation token (the Actions
//! `GITHUB_TOKEN`, a GitHub App) may not call `/user` ("Resource not accessible by
//! integration") and writes as the app's bot, `github-actions[bot]` by default, and as
//! whatever author GitHub gives the first comment we create.

use std::time::Duration;

use base64::prelude::{BASE64_STANDARD, Engine as _};
use octocrab::Octocrab;
use octocrab::models::issues::Comment;
use octocrab::models::repos::DeploymentStatusState;
use octocrab::service::middleware::retry::{RateLimitMetrics, RetryConfig};

use crate::clients::http::Limits;
use crate::model::diagnostic::{Diagnostic, Exit};
use crate::model::pipeline::{Marker, RunId};
use crate::secret::Secret;

#[derive(Debug, thiserror::Error)]
pub enum GitHubError {
    #[error("{what}: the token may not write to this repository (GitHub said: {message})")]
    ReadOnly { what: &'static str, message: String },
    #[error("SARIF upload refused (GitHub said: {message})")]
    CodeScanningForbidden { message: String },
    #[error("code scanning could not process the SARIF: {}", errors.join("; "))]
    SarifFailed { errors: Vec<String> },
    #[error("{what}: GitHub answered {status}: {message}")]
    Api {
        what: &'static str,
        status: u16,
        message: String,
    },
    #[error("{what}: {source}")]
    Transport {
        what: &'static str,
        source: Box<octocrab::Error>,
    },
    #[error("GitHub client: {0}")]
    Config(String),
}

impl Diagnostic for GitHubError {
    fn exit(&self) -> Exit {
        Exit::External
    }
    fn hint(&self) -> Option<String> {
        Some(match self {
            GitHubError::ReadOnly { .. } => "pull requests from forks and Dependabot get a read-only GITHUB_TOKEN; \
                 otherwise give the job `permissions: pull-requests: write` (or set comment: false)"
                .into(),
            GitHubError::CodeScanningForbidden { .. } => "code scanning must be enabled for the repository (GitHub Code Security for private repos) \
                 and the job needs `permissions: security-events: write`; set upload-sarif: false to skip"
                .into(),
            GitHubError::SarifFailed { .. } => {
                "the errors above are GitHub's own; the SARIF file is kept as an output".into()
            }
            GitHubError::Api { status: 404, .. } => {
                "check the repository name and that the token can see it".into()
            }
            GitHubError::Api { .. } | GitHubError::Transport { .. } => {
                "GitHub may be having trouble; re-run the job".into()
            }
            GitHubError::Config(_) => return None,
        })
    }
}

impl GitHubError {
    /// The token cannot do this (fork PR, Dependabot, missing permission): callers
    /// fall back instead of failing.
    pub fn is_permission(&self) -> bool {
        matches!(
            self,
            GitHubError::ReadOnly { .. } | GitHubError::CodeScanningForbidden { .. }
        )
    }
}

/// Turns an octocrab error into ours, keeping GitHub's own message.
fn classify(what: &'static str, e: octocrab::Error) -> GitHubError {
    match e {
        octocrab::Error::GitHub { source, .. } => {
            let status = source.status_code.as_u16();
            let message = source.message.clone();
            if status == 403 {
                GitHubError::ReadOnly { what, message }
            } else {
                GitHubError::Api {
                    what,
                    status,
                    message,
                }
            }
        }
        other => GitHubError::Transport {
            what,
            source: Box::new(other),
        },
    }
}

fn status_of(e: &octocrab::Error) -> Option<u16> {
    match e {
        octocrab::Error::GitHub { source, .. } => Some(source.status_code.as_u16()),
        _ => None,
    }
}

/// Logs each rate-limit wait (tracing; the step prints its own line).
struct LogRateLimits;

impl RateLimitMetrics for LogRateLimits {
    fn retry_after_error(
        &self,
        req: &http::Request<octocrab::OctoBody>,
        status: http::StatusCode,
        left: usize,
    ) {
        tracing::warn!(uri = %req.uri(), %status, left, "GitHub request failed; retrying");
    }
    fn rate_limited(
        &self,
        req: &http::Request<octocrab::OctoBody>,
        status: http::StatusCode,
        left: usize,
        wait: u64,
    ) {
        tracing::warn!(uri = %req.uri(), %status, left, wait, "GitHub rate limit; waiting");
    }
}

/// How long to wait between checks of a SARIF upload, and for how long in total.
#[derive(Clone, Copy, Debug)]
pub struct Polling {
    pub first: Duration,
    pub max_interval: Duration,
    pub total: Duration,
}

impl Default for Polling {
    fn default() -> Self {
        Polling {
            first: Duration::from_millis(500),
            max_interval: Duration::from_secs(30),
            total: Duration::from_secs(120),
        }
    }
}

/// Who writes when an installation token (the Actions `GITHUB_TOKEN`) writes.
pub const ACTIONS_BOT: &str = "github-actions[bot]";

pub struct GitHub {
    crab: Octocrab,
    owner: String,
    repo: String,
    /// The token's own login, once known.
    me: std::sync::Mutex<Option<String>>,
    /// After updating a comment, wait this long and check that no older run wrote
    /// over it (GitHub has no compare-and-swap on comment edits).
    pub settle: Duration,
}

/// A comment of ours found on the pull request.
#[derive(Clone, Debug)]
pub struct Owned {
    pub id: u64,
    pub run: RunId,
    pub body: String,
}

/// What the upsert did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Upsert {
    Created {
        id: u64,
    },
    Updated {
        id: u64,
    },
    Unchanged {
        id: u64,
    },
    /// A newer run already reported; its comment was left alone.
    NewerExists {
        id: u64,
        run: RunId,
    },
}

/// The result of a SARIF upload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SarifState {
    Complete {
        id: String,
    },
    /// Still pending when the wait ended; GitHub goes on processing it.
    StillPending {
        id: String,
    },
}

impl GitHub {
    /// `api_url` like `https://api.github.com`; `repository` is `owner/name`.
    pub fn new(api_url: &str, token: &Secret, repository: &str) -> Result<Self, GitHubError> {
        Self::with_limits(api_url, token, repository, Limits::default())
    }

    /// [`GitHub::new`] with the HTTP room's connect and read timeouts (octocrab keeps its
    /// own client and its own rate-limit retries, which honour `retry-after`).
    pub fn with_limits(
        api_url: &str,
        token: &Secret,
        repository: &str,
        limits: Limits,
    ) -> Result<Self, GitHubError> {
        let (owner, repo) = repository
            .split_once('/')
            .filter(|(o, r)| !o.is_empty() && !r.is_empty() && !r.contains('/'))
            .ok_or_else(|| {
                GitHubError::Config(format!("`{repository}` is not an owner/name repository"))
            })?;
        let crab = Octocrab::builder()
            .base_uri(api_url.trim_end_matches('/'))
            .map_err(|e| GitHubError::Config(format!("API URL `{api_url}`: {e}")))?
            .personal_token(token.expose().to_string())
            .add_retry_config(RetryConfig::HandleRateLimits {
                metrics: std::sync::Arc::new(LogRateLimits),
                max_retries: 4,
                min_wait_seconds: 5,
                retry_on_forbidden: false,
            })
            .set_connect_timeout(Some(limits.connect))
            .set_read_timeout(Some(limits.read))
            .build()
            .map_err(|e| GitHubError::Config(e.to_string()))?;
        Ok(GitHub {
            crab,
            owner: owner.to_string(),
            repo: repo.to_string(),
            me: std::sync::Mutex::new(None),
            settle: Duration::from_secs(1),
        })
    }

    fn route(&self, rest: &str) -> String {
        format!("/repos/{}/{}{rest}", self.owner, self.repo)
    }

    /// The login the token writes as: `GET /user`, or for an installation token (which
    /// may not read `/user`) the Actions bot.
    pub async fn me(&self) -> Result<String, GitHubError> {
        if let Some(me) = self.me.lock().unwrap_or_else(|e| e.into_inner()).clone() {
            return Ok(me);
        }
        #[derive(serde::Deserialize)]
        struct User {
            login: String,
        }
        let login = match self.crab.get::<User, _, _>("/user", None::<&()>).await {
            Ok(u) => u.login,
            Err(e) if matches!(status_of(&e), Some(401 | 403 | 404)) => ACTIONS_BOT.to_string(),
            Err(e) => return Err(classify("asking GitHub who the token is", e)),
        };
        self.learn(&login);
        Ok(login)
    }

    /// GitHub said who wrote a comment we created: that is who we are.
    fn learn(&self, login: &str) {
        *self.me.lock().unwrap_or_else(|e| e.into_inner()) = Some(login.to_string());
    }

    /// Every comment of ours with this key on the pull request (all pages).
    pub async fn owned_comments(&self, pr: u64, key: &str) -> Result<Vec<Owned>, GitHubError> {
        const WHAT: &str = "listing the pull request's comments";
        let me = self.me().await?;
        let issues = self.crab.issues(&self.owner, &self.repo);
        let mut page = issues
            .list_comments(pr)
            .per_page(100)
            .send()
            .await
            .map_err(|e| classify(WHAT, e))?;
        let mut out = Vec::new();
        loop {
            out.extend(page.items.iter().filter_map(|c| owned(c, key, &me)));
            match self
                .crab
                .get_page::<Comment>(&page.next)
                .await
                .map_err(|e| classify(WHAT, e))?
            {
                Some(next) => page = next,
                None => break,
            }
        }
        Ok(out)
    }

    async fn get_comment(&self, id: u64) -> Result<Option<Comment>, GitHubError> {
        match self
            .crab
            .issues(&self.owner, &self.repo)
            .get_comment(id.into())
            .await
        {
            Ok(c) => Ok(Some(c)),
            Err(e) if status_of(&e) == Some(404) => Ok(None),
            Err(e) => Err(classify("reading the comment", e)),
        }
    }

    async fn update(&self, id: u64, body: &str) -> Result<(), GitHubError> {
        // PATCH, as documented (octocrab's `update_comment` sends POST).
        self.crab
            .patch::<Comment, _, _>(
                self.route(&format!("/issues/comments/{id}")),
                Some(&serde_json::json!({ "body": body })),
            )
            .await
            .map(|_| ())
            .map_err(|e| classify("updating the pull request comment", e))
    }

    async fn delete(&self, id: u64) -> Result<(), GitHubError> {
        match self
            .crab
            .issues(&self.owner, &self.repo)
            .delete_comment(id.into())
            .await
        {
            // Another job removed it first.
            Err(e) if status_of(&e) == Some(404) => Ok(()),
            r => r.map_err(|e| classify("removing a duplicate comment", e)),
        }
    }

    /// Creates or updates our one comment for `marker.key` on pull request `pr`.
    ///
    /// Race-safe: an older run never overwrites a newer run's comment (checked right
    /// before writing, and once more after a short settle time), and when two jobs
    /// create at the same time, both re-list and keep only the newest run's comment
    /// (ties: the oldest comment), so they agree on which one to delete.
    pub async fn upsert_comment(
        &self,
        pr: u64,
        marker: &Marker,
        body: &str,
    ) -> Result<Upsert, GitHubError> {
        let mine = self.owned_comments(pr, &marker.key).await?;
        let Some(current) = winner(&mine) else {
            return self.create_deduplicated(pr, marker, body).await;
        };
        if current.run > marker.run {
            return Ok(Upsert::NewerExists {
                id: current.id,
                run: current.run,
            });
        }
        let id = current.id;
        for dup in mine.iter().filter(|c| c.id != id && c.run <= marker.run) {
            self.delete(dup.id).await?;
        }
        // Re-read right before writing: the shortest window we can get.
        let Some(fresh) = self.get_comment(id).await? else {
            return self.create_deduplicated(pr, marker, body).await;
        };
        let fresh_body = fresh.body.unwrap_or_default();
        if let Some(m) = Marker::parse(&fresh_body)
            && fresh.user.login == self.me().await?
            && m.run > marker.run
        {
            return Ok(Upsert::NewerExists { id, run: m.run });
        }
        if fresh_body == body {
            return Ok(Upsert::Unchanged { id });
        }
        self.update(id, body).await?;
        // An older run that read before our write may write after it: look again.
        tokio::time::sleep(self.settle).await;
        if let Some(after) = self.get_comment(id).await?
            && let Some(m) = after.body.as_deref().and_then(Marker::parse)
            && m.run < marker.run
        {
            self.update(id, body).await?;
        }
        Ok(Upsert::Updated { id })
    }

    async fn create_deduplicated(
        &self,
        pr: u64,
        marker: &Marker,
        body: &str,
    ) -> Result<Upsert, GitHubError> {
        let created = self
            .crab
            .issues(&self.owner, &self.repo)
            .create_comment(pr, body)
            .await
            .map_err(|e| classify("creating the pull request comment", e))?;
        let id = created.id.into_inner();
        self.learn(&created.user.login);
        let all = self.owned_comments(pr, &marker.key).await?;
        let Some(keep) = winner(&all) else {
            return Ok(Upsert::Created { id });
        };
        let keep = keep.clone();
        for dup in all.iter().filter(|c| c.id != keep.id) {
            self.delete(dup.id).await?;
        }
        if keep.id == id {
            Ok(Upsert::Created { id })
        } else if keep.run > marker.run {
            Ok(Upsert::NewerExists {
                id: keep.id,
                run: keep.run,
            })
        } else {
            // The same run created one too (a retried request): make it ours.
            if keep.body != body {
                self.update(keep.id, body).await?;
            }
            Ok(Upsert::Updated { id: keep.id })
        }
    }

    /// Uploads a SARIF file (gzip + base64) for `commit_sha` on `git_ref`; returns the
    /// upload id.
    pub async fn upload_sarif(
        &self,
        sarif: &[u8],
        commit_sha: &str,
        git_ref: &str,
    ) -> Result<String, GitHubError> {
        let body = octocrab::models::code_scannings::UploadSarif {
            commit_sha: commit_sha.to_string(),
            ref_field: git_ref.to_string(),
            sarif: gzip_base64(sarif),
            checkout_uri: None,
            started_at: None,
            tool_name: Some("aks-backend".to_string()),
            validate: None,
        };
        let r = self
            .crab
            .code_scannings(&self.owner, &self.repo)
            .upload_sarif(&body)
            .await;
        match r {
            Ok(r) => Ok(r.id),
            Err(e) if status_of(&e) == Some(403) => {
                let GitHubError::ReadOnly { message, .. } = classify("", e) else {
                    unreachable!("a 403 classifies as read-only")
                };
                Err(GitHubError::CodeScanningForbidden { message })
            }
            Err(e) => Err(classify("uploading the SARIF", e)),
        }
    }

    /// Polls the upload with growing intervals until GitHub has processed it or
    /// `polling.total` has passed. `failed` is an error carrying GitHub's own text.
    pub async fn wait_for_sarif(
        &self,
        id: &str,
        polling: Polling,
    ) -> Result<SarifState, GitHubError> {
        let started = tokio::time::Instant::now();
        let mut interval = polling.first;
        loop {
            tokio::time::sleep(interval).await;
            let s = self
                .crab
                .code_scannings(&self.owner, &self.repo)
                .get_sarif(id)
                .await
                .map_err(|e| match classify("checking the SARIF upload", e) {
                    GitHubError::ReadOnly { message, .. } => {
                        GitHubError::CodeScanningForbidden { message }
                    }
                    other => other,
                })?;
            match s.processing_status.as_str() {
                "complete" => return Ok(SarifState::Complete { id: id.to_string() }),
                "failed" => {
                    return Err(GitHubError::SarifFailed {
                        errors: s
                            .errors
                            .filter(|e| !e.is_empty())
                            .unwrap_or_else(|| vec!["(GitHub gave no reason)".into()]),
                    });
                }
                _ => {}
            }
            if started.elapsed() + interval > polling.total {
                return Ok(SarifState::StillPending { id: id.to_string() });
            }
            interval = (interval * 2).min(polling.max_interval);
        }
    }

    /// Creates a deployment of `git_ref` to `environment`; returns its id.
    pub async fn create_deployment(
        &self,
        git_ref: &str,
        environment: &str,
        description: &str,
    ) -> Result<u64, GitHubError> {
        let created = self
            .crab
            .repos(&self.owner, &self.repo)
            .deployments()
            .create(git_ref)
            .environment(environment)
            .description(description)
            .auto_merge(false)
            .required_contexts(Vec::<String>::new())
            .transient_environment(false)
            .send()
            .await
            .map_err(|e| classify("creating the deployment", e))?;
        Ok(created.id.into_inner())
    }

    /// Sets a deployment's state (`in_progress`, `success`, `failure`) and URLs.
    pub async fn deployment_status(
        &self,
        id: u64,
        state: &str,
        environment_url: Option<&str>,
        log_url: Option<&str>,
    ) -> Result<(), GitHubError> {
        let state: DeploymentStatusState = serde_json::from_value(state.into()).map_err(|_| {
            GitHubError::Config(format!("`{state}` is not a deployment status state"))
        })?;
        let deployments = self.crab.repos(&self.owner, &self.repo);
        let mut status = deployments
            .deployments()
            .statuses(id)
            .create(state)
            .auto_inactive(true);
        if let Some(u) = environment_url {
            status = status.environment_url(u);
        }
        if let Some(u) = log_url {
            status = status.log_url(u);
        }
        status
            .send()
            .await
            .map_err(|e| classify("setting the deployment status", e))?;
        Ok(())
    }
}

/// Ours: our marker with this key, written by us (`me`).
fn owned(c: &Comment, key: &str, me: &str) -> Option<Owned> {
    if c.user.login != me {
        return None;
    }
    let body = c.body.as_deref()?;
    let m = Marker::parse(body)?;
    (m.key == key).then(|| Owned {
        id: c.id.into_inner(),
        run: m.run,
        body: body.to_string(),
    })
}

/// The comment every racer keeps: the newest run, then the oldest comment.
fn winner(comments: &[Owned]) -> Option<&Owned> {
    comments
        .iter()
        .max_by_key(|c| (c.run, std::cmp::Reverse(c.id)))
}

/// What the code-scanning API wants in `sarif`: gzip, then base64.
#[allow(clippy::expect_used)] // why: gzip into a Vec<u8> writes to memory, which cannot fail
pub fn gzip_base64(bytes: &[u8]) -> String {
    use std::io::Write;
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(bytes).expect("writing to memory");
    BASE64_STANDARD.encode(enc.finish().expect("writing to memory"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_newest_run_wins_then_the_oldest_comment() {
        let c = |id, number| Owned {
            id,
            run: RunId { number, attempt: 1 },
            body: String::new(),
        };
        let all = vec![c(1, 5), c(2, 6), c(3, 6)];
        assert_eq!(winner(&all).unwrap().id, 2);
        assert!(winner(&[]).is_none());
    }

    #[test]
    fn sarif_payload_is_gzip_then_base64() {
        use std::io::Read;
        let enc = gzip_base64(b"{\"version\":\"2.1.0\"}");
        let raw = BASE64_STANDARD.decode(enc).unwrap();
        let mut out = String::new();
        flate2::read::GzDecoder::new(&raw[..])
            .read_to_string(&mut out)
            .unwrap();
        assert_eq!(out, "{\"version\":\"2.1.0\"}");
    }
}
