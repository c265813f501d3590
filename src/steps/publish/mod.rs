//! Publishing the report where people look: the pull-request comment (GitHub) or
//! thread (Azure DevOps), and the SARIF (GitHub code scanning, or the
//! `CodeAnalysisLogs` build artifact). Any step — and `run` after each step — calls
//! [`summary`] with the [`Summary`] so far.
//!
//! Reporting never fails a pipeline because the token cannot write (fork pull
//! requests, Dependabot, missing permissions): it says so in one line and falls back
//! to the job summary and an annotation. Only a SARIF upload asked to be required
//! (`sarif-upload-required`) turns into an error.

use std::time::Duration;

use crate::clients::azure_devops::{AzureDevOps, ThreadUpsert};
use crate::clients::github::{GitHub, GitHubError, Polling, SarifState, Upsert};
use crate::error::Error;
use crate::host::{HostKind, Level, Location};
use crate::inputs::settings::PublishSettings;
use crate::model::Severity;
use crate::model::gate::{Disposition, GateResult, Verdict};
use crate::model::pipeline::{
    Fact, Failure, FindingRow, KEPT_FINDINGS, Links, Overall, RunId, ServiceRow, StepStatus,
    StepSummary, Summary, SummaryKey,
};
use crate::model::rollout::{Verdict as Rollout, WorkloadReport};
use crate::render::comment::{self, Platform};
use crate::render::scan_summary;

pub mod github_deployment;

use super::Ctx;
use super::scan::ScanOutcome;

/// A report for this run, with no steps yet: key, run, commit and links from the CI
/// context.
pub fn new_summary(ctx: &Ctx, s: &PublishSettings, default_app: &str) -> Summary {
    let ci = &ctx.ci;
    let run = match ci.host {
        HostKind::GitHubActions => RunId {
            number: ci.run_number.unwrap_or(0),
            attempt: ci.run_attempt.unwrap_or(1),
        },
        // Build ids only grow; the job attempt orders re-runs of one build.
        _ => RunId {
            number: ci
                .run_id
                .as_deref()
                .and_then(|i| i.parse().ok())
                .unwrap_or(0),
            attempt: ci.run_attempt.unwrap_or(1),
        },
    };
    let mut links = Links {
        run: ci.run_url.clone(),
        ..Default::default()
    };
    match ci.host {
        HostKind::GitHubActions => {
            if let (Some(server), Some(repo)) = (&ci.server_url, &ci.repository) {
                links.security = Some(match ci.pr_number {
                    Some(n) => format!("{server}/{repo}/security/code-scanning?query=pr%3A{n}"),
                    None => format!("{server}/{repo}/security/code-scanning"),
                });
            }
            // Job summaries are shown on the run's page.
            links.summary = ci.run_url.clone();
        }
        HostKind::AzurePipelines => {
            links.summary = ci
                .run_url
                .as_ref()
                .map(|u| format!("{u}&view=ms.vss-build-web.run-extensions-tab"));
        }
        HostKind::Local => {}
    }
    Summary {
        key: SummaryKey {
            workflow: ci.workflow.clone().unwrap_or_else(|| "local".into()),
            job: ci.job.clone().unwrap_or_else(|| "job".into()),
            app: s.app.clone().unwrap_or_else(|| default_app.to_string()),
        },
        run,
        commit: ci.commit.clone(),
        steps: Vec::new(),
        links,
        services: Vec::new(),
    }
}

/// The app name an image reference stands for: its last path part, without tag or
/// digest (`acr.io/team/api:1.2@sha256:…` -> `api`).
pub fn app_from_image(image: &str) -> String {
    let no_digest = image.split('@').next().unwrap_or(image);
    let last = no_digest.rsplit('/').next().unwrap_or(no_digest);
    let name = last.split(':').next().unwrap_or(last);
    if name.is_empty() {
        "app".into()
    } else {
        name.to_string()
    }
}

/// `--compose`: build's part of each service's row (image and digest).
pub fn build_services(built: &[super::build::BuildOutcome]) -> Vec<ServiceRow> {
    built
        .iter()
        .filter_map(|o| {
            Some(ServiceRow {
                name: o.service.clone()?,
                image: Some(o.image.clone()),
                digest: o
                    .digest
                    .as_deref()
                    .and_then(|d| d.rsplit_once('@'))
                    .map(|(_, d)| d.to_string()),
                ..Default::default()
            })
        })
        .collect()
}

/// `--compose`: scan's part (the findings, and the image for services not built).
pub fn scan_services(each: &[(String, ScanOutcome)]) -> Vec<ServiceRow> {
    each.iter()
        .map(|(name, o)| {
            let (image, digest) = match o.artifact.rsplit_once('@') {
                Some((i, d)) => (i.to_string(), Some(d.to_string())),
                None => (o.artifact.clone(), None),
            };
            let findings = match o.gate.total.total() {
                0 => "none".to_string(),
                _ => o.gate.total.describe(),
            };
            ServiceRow {
                name: name.clone(),
                image: Some(image),
                digest,
                findings: Some(findings),
                rollout: None,
            }
        })
        .collect()
}

/// `--compose`: deploy's part (each workload's rollout, and what its rollback did).
pub fn deploy_services(o: &super::deploy::DeployOutcome) -> Vec<ServiceRow> {
    o.report
        .workloads
        .iter()
        .map(|w| {
            let mut rollout = w.verdict.as_str().to_string();
            if let Some(r) = &w.rollback {
                rollout = format!("{rollout}, rolled back: {}", r.verdict.as_str());
            }
            ServiceRow {
                name: w.name.clone(),
                rollout: Some(rollout),
                ..Default::default()
            }
        })
        .collect()
}

/// `scan --compose`'s row: one gate over every image, and per image (service) what was
/// scanned and its findings; the counted findings of every image, most severe first.
pub fn scan_row_each(
    all: &ScanOutcome,
    each: &[(String, ScanOutcome)],
    duration: Duration,
) -> StepSummary {
    let mut step = scan_row(all, duration);
    step.facts.clear();
    let (mut rows, mut counted) = (Vec::new(), 0);
    for (service, o) in each {
        step.facts
            .push(Fact::code(service.as_str(), o.artifact.clone()));
        step.facts.push(Fact::text(
            format!("{service} findings"),
            format!("{} ({})", o.gate.total.describe(), o.gate.verdict.as_str()),
        ));
        let one = scan_row(o, duration);
        counted += one.counted();
        rows.extend(one.findings);
    }
    step.keep_findings(rows, counted);
    step.facts
        .push(Fact::text("findings", all.gate.total.describe()));
    step.facts.push(gate_fact(&all.gate));
    step
}

/// The gate's verdict as the summary says it.
fn gate_fact(gate: &GateResult) -> Fact {
    let verdict = match gate.verdict {
        Verdict::Pass => "passed".to_string(),
        Verdict::Fail => format!("failed: {} count", gate.counted.describe()),
        Verdict::ReportOnly => format!("report only: {} would count", gate.counted.describe()),
    };
    Fact::strong("gate", verdict)
}

/// The scan's row: findings by severity, the gate verdict, and the findings that
/// count (most severe first).
pub fn scan_row(o: &ScanOutcome, duration: Duration) -> StepSummary {
    let status = match o.gate.verdict {
        Verdict::Fail => StepStatus::Failed,
        _ => StepStatus::Ok,
    };
    let mut step = StepSummary::new("scan", status);
    step.duration_ms = Some(duration.as_millis() as u64);
    step.facts.push(Fact::code("", o.artifact.clone()));
    step.facts
        .push(Fact::text("findings", o.gate.total.describe()));
    step.facts.push(gate_fact(&o.gate));
    if o.gate.ignored > 0 {
        step.facts
            .push(Fact::text("ignored", o.gate.ignored.to_string()));
    }
    if o.gate.verdict == Verdict::Fail {
        step.failure = Some(Failure {
            reason: scan_summary::verdict_line(&o.gate, &o.policy),
            ..Default::default()
        });
    }
    let mut counted: Vec<_> = o
        .report
        .findings
        .iter()
        .filter(|f| o.policy.disposition(&o.report, f) == Disposition::Counts)
        .collect();
    counted.sort_by_key(|f| std::cmp::Reverse(f.severity));
    let n = counted.len();
    counted.truncate(KEPT_FINDINGS);
    let rows = counted
        .into_iter()
        .map(|f| {
            let rule = o.report.rule(f);
            let package = if f.package.is_empty() {
                o.report.target(f).name.clone()
            } else {
                f.package.to_string()
            };
            FindingRow {
                severity: Severity::as_str(f.severity).to_string(),
                id: rule.id.clone(),
                url: rule.primary_url.clone(),
                package,
                installed: f.installed.to_string(),
                fixed: f.fixed.as_deref().map(String::from),
                title: rule.title.clone(),
            }
        })
        .collect();
    step.keep_findings(rows, n);
    step
}

/// A step that ended in an error (Trivy crashed, the registry refused): its row.
pub fn failed_row(name: &str, e: &Error, duration: Duration) -> StepSummary {
    let mut step = StepSummary::new(name, StepStatus::Failed);
    step.duration_ms = Some(duration.as_millis() as u64);
    let mut reason = e.to_string();
    if let Some(h) = e.hint() {
        reason.push_str(" — ");
        reason.push_str(&h.replace('\n', " "));
    }
    step.failure = Some(Failure {
        reason,
        ..Default::default()
    });
    step
}

/// What happened to the comment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Published {
    /// Not asked for, no pull request, or not on a CI host.
    Skipped(&'static str),
    GitHub(Upsert),
    AzureDevOps(ThreadUpsert),
    /// The token could not write: the summary and an annotation carry the report.
    FellBack(String),
}

/// Updates the pull-request comment (or thread) with `report`. Never fails: a
/// problem is one clear line plus the job summary.
pub async fn summary(ctx: &Ctx, s: &PublishSettings, summary: &Summary) -> Published {
    if !s.comment {
        return Published::Skipped("comment is false");
    }
    match ctx.ci.host {
        HostKind::GitHubActions => publish_github(ctx, s, summary).await,
        HostKind::AzurePipelines => publish_azure(ctx, s, summary).await,
        HostKind::Local => Published::Skipped("not on a CI host"),
    }
}

/// The pull request's head is in another repository (fork), or Dependabot triggered
/// the run: GitHub gives such runs a read-only token.
fn read_only_reason(ctx: &Ctx) -> Option<&'static str> {
    if ctx.ci.actor.as_deref() == Some("dependabot[bot]") {
        return Some("runs triggered by Dependabot get a read-only token");
    }
    let event = ctx.env.get("GITHUB_EVENT_PATH")?;
    let text = crate::fsx::read_to_string(
        std::path::Path::new(event),
        "event payload",
        crate::fsx::Follow::Yes,
        crate::fsx::LARGE,
    );
    let v: serde_json::Value = serde_json::from_str(&text.ok()?).ok()?;
    let head = v.pointer("/pull_request/head/repo/full_name")?.as_str()?;
    let base = v.pointer("/pull_request/base/repo/full_name")?.as_str()?;
    let is_target = ctx.ci.event_name.as_deref() == Some("pull_request_target");
    (head != base && !is_target).then_some("pull requests from forks get a read-only token")
}

fn fall_back(ctx: &Ctx, why: String, body: &str) -> Published {
    ctx.host.info(&format!(
        "PR comment not posted: {why}; the report is in the job summary instead"
    ));
    let _ = ctx.host.summary("report", body);
    ctx.host.annotate(
        Level::Notice,
        &format!("PR comment not posted ({why}); see the job summary"),
        &Location {
            title: Some("aks-backend report".into()),
            ..Default::default()
        },
    );
    Published::FellBack(why)
}

async fn publish_github(ctx: &Ctx, s: &PublishSettings, summary: &Summary) -> Published {
    let Some(pr) = ctx.ci.pr_number else {
        return Published::Skipped("no pull request");
    };
    let body = comment::render(summary, Platform::GitHub, Platform::GitHub.max_chars());
    if let Some(why) = read_only_reason(ctx) {
        return fall_back(ctx, why.into(), &body);
    }
    let (Some(token), Some(repo), Some(api)) =
        (&s.github_token, &ctx.ci.repository, &ctx.ci.api_url)
    else {
        return fall_back(
            ctx,
            "no GitHub token (set github-token or GITHUB_TOKEN)".into(),
            &body,
        );
    };
    ctx.host.mask(token);
    let gh = match GitHub::with_limits(api, token, repo, ctx.http.limits()) {
        Ok(g) => g,
        Err(e) => return fall_back(ctx, e.to_string(), &body),
    };
    match gh.upsert_comment(pr, &summary.marker(), &body).await {
        Ok(u) => {
            if let Upsert::NewerExists { run, .. } = &u {
                ctx.host.info(&format!(
                    "PR comment left alone: run {run} already reported (this is run {})",
                    summary.run
                ));
            }
            Published::GitHub(u)
        }
        Err(e) if e.is_permission() => fall_back(ctx, e.to_string(), &body),
        Err(e) => {
            warn(ctx, &Error::from(e));
            let _ = ctx.host.summary("report", &body);
            Published::FellBack("GitHub API error".into())
        }
    }
}

async fn publish_azure(ctx: &Ctx, s: &PublishSettings, summary: &Summary) -> Published {
    let env = &ctx.env;
    let Some(pr) = env
        .get("SYSTEM_PULLREQUEST_PULLREQUESTID")
        .and_then(|v| v.parse::<u64>().ok())
    else {
        return Published::Skipped("no pull request");
    };
    let body = comment::render(
        summary,
        Platform::AzureDevOps,
        Platform::AzureDevOps.max_chars(),
    );
    let collection = ctx.ci.server_url.clone();
    let project = env
        .get("SYSTEM_TEAMPROJECTID")
        .or_else(|| env.get("SYSTEM_TEAMPROJECT"));
    let repo = env
        .get("BUILD_REPOSITORY_ID")
        .or_else(|| env.get("BUILD_REPOSITORY_NAME"));
    let (Some(token), Some(collection), Some(project), Some(repo)) =
        (&s.azure_devops_token, collection, project, repo)
    else {
        return fall_back(
            ctx,
            "no Azure DevOps token (map `SYSTEM_ACCESSTOKEN: $(System.AccessToken)` or set azure-devops-token)".into(),
            &body,
        );
    };
    ctx.host.mask(token);
    let ado = AzureDevOps::new(ctx.http.clone(), &collection, project, repo, token.clone());
    let failed = summary.overall() == Overall::Failed;
    let result = match ado
        .upsert_thread(pr, &summary.marker(), &body, failed)
        .await
    {
        Ok(u @ ThreadUpsert::NewerExists { .. }) => return Published::AzureDevOps(u),
        Ok(u) => Published::AzureDevOps(u),
        Err(e) if e.is_permission() => return fall_back(ctx, e.to_string(), &body),
        Err(e) => {
            warn(ctx, &Error::from(e));
            return Published::FellBack("Azure DevOps API error".into());
        }
    };
    if s.pr_status {
        let (state, description) = match summary.overall() {
            Overall::Failed => ("failed", "aks-backend: a step failed"),
            Overall::InProgress => ("pending", "aks-backend: in progress"),
            Overall::Ok => ("succeeded", "aks-backend: all steps passed"),
        };
        if let Err(e) = ado
            .set_status(
                pr,
                &summary.key.app,
                state,
                description,
                summary.links.run.as_deref(),
            )
            .await
        {
            warn(ctx, &Error::from(e));
        }
    }
    result
}

fn warn(ctx: &Ctx, e: &Error) {
    let mut msg = e.to_string();
    if let Some(h) = e.hint() {
        msg.push_str("\nhint: ");
        msg.push_str(&h);
    }
    ctx.host
        .annotate(Level::Warning, &msg, &Location::default());
}

/// Where the SARIF went.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SarifUploaded {
    Skipped(&'static str),
    CodeScanning(SarifState),
    Artifact,
    /// Refused or rejected, and not required: a warning was printed.
    NotUploaded(String),
}

/// Uploads the SARIF file: GitHub code scanning (commit SHA and ref; the merge ref on
/// pull requests), or the `CodeAnalysisLogs` artifact on Azure Pipelines. Errors only
/// when `sarif-upload-required` is true.
pub async fn upload_sarif(
    ctx: &Ctx,
    s: &PublishSettings,
    path: &std::path::Path,
) -> Result<SarifUploaded, Error> {
    if !s.upload_sarif {
        return Ok(SarifUploaded::Skipped("upload-sarif is false"));
    }
    match ctx.ci.host {
        HostKind::AzurePipelines => {
            ctx.host
                .upload_artifact("CodeAnalysisLogs", "CodeAnalysisLogs", path);
            Ok(SarifUploaded::Artifact)
        }
        HostKind::Local => Ok(SarifUploaded::Skipped("not on a CI host")),
        HostKind::GitHubActions => match upload_github(ctx, s, path).await {
            Ok(state) => Ok(SarifUploaded::CodeScanning(state)),
            Err(e) if s.sarif_upload_required => Err(e),
            Err(e) => {
                warn(ctx, &e);
                Ok(SarifUploaded::NotUploaded(e.to_string()))
            }
        },
    }
}

async fn upload_github(
    ctx: &Ctx,
    s: &PublishSettings,
    path: &std::path::Path,
) -> Result<SarifState, Error> {
    let ci = &ctx.ci;
    let missing = |what: &str| {
        Error::from(GitHubError::Config(format!(
            "cannot upload the SARIF without {what}"
        )))
    };
    let token = s
        .github_token
        .as_ref()
        .ok_or_else(|| missing("a token (github-token or GITHUB_TOKEN)"))?;
    ctx.host.mask(token);
    let repo = ci
        .repository
        .as_deref()
        .ok_or_else(|| missing("GITHUB_REPOSITORY"))?;
    let api = ci
        .api_url
        .as_deref()
        .ok_or_else(|| missing("GITHUB_API_URL"))?;
    let sha = ci.commit.as_deref().ok_or_else(|| missing("GITHUB_SHA"))?;
    let git_ref = match (ci.pr_number, ci.git_ref.as_deref()) {
        (Some(_), Some(r)) if r.starts_with("refs/pull/") => r.to_string(),
        (Some(n), _) => format!("refs/pull/{n}/merge"),
        (None, Some(r)) => r.to_string(),
        (None, None) => return Err(missing("GITHUB_REF")),
    };
    let sarif = crate::fsx::read(
        path,
        "SARIF file",
        crate::fsx::Follow::No,
        crate::fsx::REPORT,
    )
    .map_err(crate::inputs::InputError::from)?;
    let gh = GitHub::with_limits(api, token, repo, ctx.http.limits())?;
    let id = gh.upload_sarif(&sarif, sha, &git_ref).await?;
    ctx.host.info(&format!(
        "SARIF uploaded to code scanning for {git_ref} (upload {id})"
    ));
    if s.sarif_wait.is_zero() {
        return Ok(SarifState::StillPending { id });
    }
    let polling = Polling {
        total: s.sarif_wait,
        ..Default::default()
    };
    let state = gh.wait_for_sarif(&id, polling).await?;
    match &state {
        SarifState::Complete { .. } => ctx.host.info("code scanning processed the SARIF"),
        SarifState::StillPending { .. } => ctx.host.info(
            "code scanning is still processing the SARIF; results will appear in the Security tab",
        ),
    }
    Ok(state)
}

/// The scan row's fact about where the SARIF went.
pub fn sarif_fact(uploaded: &SarifUploaded) -> Fact {
    Fact::text(
        "SARIF",
        match uploaded {
            SarifUploaded::CodeScanning(_) => "uploaded",
            SarifUploaded::Artifact => "CodeAnalysisLogs artifact",
            SarifUploaded::NotUploaded(_) => "not uploaded",
            SarifUploaded::Skipped(_) => "kept as a file",
        },
    )
}

/// The PR comment's row for `refer`.
pub fn refer_row(o: &super::refer::ReferOutcome, duration: Duration) -> StepSummary {
    let mut step = StepSummary::new("refer", StepStatus::Ok);
    step.duration_ms = Some(duration.as_millis() as u64);
    let get = |k: &str| {
        o.outputs
            .iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.clone())
    };
    if let Some(v) = get("acr-login-server") {
        step.facts.push(Fact::code("ACR", v));
    }
    if let Some(v) = get("aks-name") {
        step.facts.push(Fact::code("AKS", v));
    }
    if let Some(v) = get("dns-zone") {
        step.facts.push(Fact::text("zone", v));
    }
    step
}

/// The PR comment's row for `build`: the pinned image and its size; with `--compose`, one
/// such pair per service.
pub fn build_row(built: &[super::build::BuildOutcome], duration: Duration) -> StepSummary {
    let mut step = StepSummary::new("build", StepStatus::Ok);
    step.duration_ms = Some(duration.as_millis() as u64);
    for o in built {
        let label = o.service.clone().unwrap_or_default();
        match &o.digest {
            Some(d) => step.facts.push(Fact::code(&label, d.clone())),
            None => step.facts.push(Fact::code(&label, o.image.clone())),
        }
        let size = format!("{:.1} MB", o.size as f64 / 1e6);
        match &o.service {
            Some(svc) => step.facts.push(Fact::text(format!("{svc} size"), size)),
            None => step.facts.push(Fact::text("size", size)),
        }
    }
    step
}

/// The PR comment's row for `deploy`: the URL when healthy; otherwise each failed
/// workload's reason, Warning events and log tail, and what the rollback did.
pub fn deploy_row(o: &super::deploy::DeployOutcome, duration: Duration) -> StepSummary {
    let r = &o.report;
    let healthy = r.verdict == Rollout::Healthy;
    let mut step = StepSummary::new(
        "deploy",
        if healthy {
            StepStatus::Ok
        } else {
            StepStatus::Failed
        },
    );
    step.duration_ms = Some(duration.as_millis() as u64);
    step.facts
        .push(Fact::text("namespace", r.namespace.clone()));
    if let Some(u) = &r.url {
        step.facts.push(Fact::link("", u.clone(), u.clone()));
    }
    for line in &r.azure {
        step.facts.push(Fact::text("", line.clone()));
    }
    // A workload we could not judge is said, even when the deploy is healthy.
    for w in r
        .workloads
        .iter()
        .filter(|w| w.verdict == Rollout::NotTracked)
    {
        step.facts.push(Fact::text(
            "not tracked",
            format!(
                "{}/{}: {}",
                w.kind,
                w.name,
                w.reason.as_deref().unwrap_or("")
            ),
        ));
    }
    if healthy {
        return step;
    }
    step.failure = Some(rollout_failure(&r.workloads));
    step
}

/// What the failed workloads tell: each one's reason (with what its rollback did), its
/// Warning events and its log tail.
fn rollout_failure(workloads: &[WorkloadReport]) -> Failure {
    let mut reasons = Vec::new();
    let mut events = Vec::new();
    let mut logs = Vec::new();
    for w in workloads.iter().filter(|w| w.verdict.is_failure()) {
        reasons.push(failed_reason(w));
        events.extend(
            w.events
                .iter()
                .map(|e| format!("{} {} (x{}): {}", e.object, e.reason, e.count, e.message)),
        );
        for l in &w.logs {
            logs.push(format!(
                "--- {} / {}{}",
                l.pod,
                l.container,
                if l.previous { " (previous)" } else { "" }
            ));
            if let Some(why) = &l.unavailable {
                logs.push(format!("(no log: {why})"));
            }
            logs.extend(l.lines.iter().cloned());
        }
    }
    Failure {
        reason: reasons.join("\n"),
        events,
        logs,
    }
}

/// `Kind/name: why`, and what the rollback did.
fn failed_reason(w: &WorkloadReport) -> String {
    let mut reason = format!(
        "{}/{}: {}",
        w.kind,
        w.name,
        w.reason.as_deref().unwrap_or(w.verdict.as_str())
    );
    if let Some(rb) = &w.rollback {
        reason.push_str(&match (rb.verdict, rb.to_revision) {
            (Rollout::Healthy, Some(rev)) => format!("; rolled back to revision {rev}, healthy"),
            (Rollout::Healthy, None) => "; rolled back, healthy".to_string(),
            (_, _) => format!(
                "; rollback {}: {}",
                rb.verdict.as_str(),
                rb.reason.as_deref().unwrap_or("")
            ),
        });
    }
    reason
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_workload_not_tracked_is_said_in_a_healthy_deploy() {
        use crate::model::rollout::{DeployReport, Verdict, WorkloadReport};
        let w = WorkloadReport {
            kind: "StatefulSet".into(),
            name: "db".into(),
            namespace: "web".into(),
            verdict: Verdict::NotTracked,
            reason: Some("updateStrategy OnDelete".into()),
            revision: None,
            events: Vec::new(),
            logs: Vec::new(),
            images: Vec::new(),
            seconds: 0.0,
            rollback: None,
        };
        let o = super::super::deploy::DeployOutcome {
            report: DeployReport {
                namespace: "web".into(),
                namespace_created: false,
                objects: Vec::new(),
                workloads: vec![w],
                url: None,
                certificate_ready: None,
                azure: Vec::new(),
                verdict: Verdict::Healthy,
                seconds: 1.0,
            },
            exit: crate::error::Exit::Ok,
            error: None,
        };
        let step = deploy_row(&o, Duration::from_secs(1));
        assert!(step.failure.is_none());
        let fact = step
            .facts
            .iter()
            .find(|f| f.label == "not tracked")
            .unwrap();
        assert_eq!(fact.value, "StatefulSet/db: updateStrategy OnDelete");
    }

    #[test]
    fn app_names_from_image_references() {
        assert_eq!(app_from_image("acr.io/team/api:1.2@sha256:ab"), "api");
        assert_eq!(app_from_image("localhost:5000/api"), "api");
        assert_eq!(app_from_image("api"), "api");
        assert_eq!(app_from_image("/tmp/image.tar"), "image.tar");
    }
}
