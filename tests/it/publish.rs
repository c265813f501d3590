//! The report: the PR comment's rendering (snapshots), the sticky comment on GitHub
//! and the thread on Azure DevOps against stateful loopback mocks (every request
//! validated against the official descriptions), SARIF uploads, and the real binary.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aks_backend::clients::azure_devops::ThreadUpsert;
use aks_backend::clients::github::{GitHub, Polling, SarifState, Upsert};
use aks_backend::clients::trivy::results as trivy_report;
use aks_backend::env::Env;
use aks_backend::host::{Host, HostKind};
use aks_backend::inputs::settings::PublishSettings;
use aks_backend::model::gate::GatePolicy;
use aks_backend::model::ignore::IgnoreList;
use aks_backend::model::pipeline::{
    Fact, Failure, FindingRow, Marker, RunId, StepStatus, StepSummary, Summary, SummaryKey,
};
use aks_backend::model::{ScanFindings, Severity};
use aks_backend::render::comment::{self, Platform};
use aks_backend::secret::Secret;
use aks_backend::steps::Ctx;
use aks_backend::steps::publish::{self as publishing, Published, SarifUploaded};
use aks_backend::steps::scan::ScanOutcome;

use crate::support::azure_devops::{AzureDevOpsMock, BUILD_SERVICE_ID, COLLEAGUE_ID};
use crate::support::github::GitHubMock;
use crate::support::tools;
use serde_json::json;

const SHA: &str = "0123456789abcdef0123456789abcdef01234567";

// ---------- building reports ----------

fn today() -> jiff::civil::Date {
    jiff::civil::date(2026, 1, 2)
}

fn outcome(report: ScanFindings, severities: &[Severity]) -> ScanOutcome {
    let policy = GatePolicy {
        severities: severities.iter().copied().collect(),
        ignore_unfixed: false,
        fail_on_findings: true,
        ignores: IgnoreList::default(),
        today: today(),
    };
    let gate = policy.evaluate(&report);
    let exit = if gate.verdict == aks_backend::model::gate::Verdict::Fail {
        aks_backend::error::Exit::Refused
    } else {
        aks_backend::error::Exit::Ok
    };
    ScanOutcome {
        report,
        gate,
        summary: String::new(),
        sarif_path: PathBuf::from("aks-backend.sarif"),
        category: "aks-backend/api".into(),
        exit,
        artifact: "myacr.azurecr.io/api:pr-7".into(),
        policy,
    }
}

fn fixture_outcome() -> ScanOutcome {
    let r = trivy_report::read(&tools::trivy_fixture().join("expected/image.json")).unwrap();
    outcome(r, &Severity::DESCENDING)
}

fn base(run: u64) -> Summary {
    Summary {
        key: SummaryKey {
            workflow: "CI".into(),
            job: "deploy".into(),
            app: "api".into(),
        },
        run: RunId {
            number: run,
            attempt: 1,
        },
        commit: Some(SHA.into()),
        steps: vec![],
        links: aks_backend::model::pipeline::Links {
            run: Some("https://github.com/octo/api/actions/runs/99".into()),
            security: Some(
                "https://github.com/octo/api/security/code-scanning?query=pr%3A7".into(),
            ),
            summary: Some("https://github.com/octo/api/actions/runs/99".into()),
        },
        services: Vec::new(),
    }
}

fn ok_step(name: &str, ms: u64, facts: Vec<Fact>) -> StepSummary {
    let mut s = StepSummary::new(name, StepStatus::Ok);
    s.duration_ms = Some(ms);
    s.facts = facts;
    s
}

fn refer_build() -> Vec<StepSummary> {
    vec![
        ok_step(
            "refer",
            1_240,
            vec![
                Fact::code("ACR", "myacr.azurecr.io"),
                Fact::code("AKS", "aks-prod"),
            ],
        ),
        ok_step(
            "build",
            74_500,
            vec![Fact::code(
                "digest",
                "sha256:4f1c5e0d9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d",
            )],
        ),
    ]
}

fn green_report() -> Summary {
    let mut r = base(42);
    r.steps = refer_build();
    r.steps.push(publishing::scan_row(
        &outcome(ScanFindings::default(), &Severity::DESCENDING),
        Duration::from_millis(9_300),
    ));
    r.steps.push(ok_step(
        "deploy",
        48_000,
        vec![Fact::link(
            "URL",
            "api.example.com",
            "https://api.example.com",
        )],
    ));
    r
}

fn gate_failed_report() -> Summary {
    let mut r = base(43);
    r.steps = refer_build();
    r.steps.push(publishing::scan_row(
        &fixture_outcome(),
        Duration::from_millis(12_800),
    ));
    r.steps
        .push(StepSummary::new("deploy", StepStatus::Skipped));
    r
}

fn rollout_failed_report() -> Summary {
    let mut r = base(44);
    r.steps = refer_build();
    r.steps.push(ok_step(
        "scan",
        11_000,
        vec![
            Fact::text("findings", "none"),
            Fact::strong("gate", "passed"),
        ],
    ));
    let mut d = StepSummary::new("deploy", StepStatus::Failed);
    d.duration_ms = Some(300_000);
    d.failure = Some(Failure {
        reason: "rollout of deployment/api timed out: 0 of 2 pods ready; pod api-7d9f-x2k1 is in CrashLoopBackOff <img src=x onerror=alert(1)>".into(),
        events: vec![
            "Normal  Scheduled  pod/api-7d9f-x2k1  Successfully assigned default/api-7d9f-x2k1 to node-1".into(),
            "Normal  Pulled     pod/api-7d9f-x2k1  Container image \"myacr.azurecr.io/api@sha256:4f1c…\" already present".into(),
            "Warning BackOff    pod/api-7d9f-x2k1  Back-off restarting failed container api".into(),
        ],
        logs: vec![
            "\u{1b}[32mINFO\u{1b}[0m starting api on :8080".into(),
            "</details> ``` ##vso[task.setvariable variable=x]1 ::set-env name=A::B".into(),
            "panic: connection to database refused: dial tcp 10.0.0.5:5432: connect: connection refused".into(),
        ],
    });
    r.steps.push(d);
    r
}

fn oversize_report(findings: usize, logs: usize) -> Summary {
    let mut r = base(45);
    let mut s = StepSummary::new("scan", StepStatus::Failed);
    s.duration_ms = Some(20_000);
    s.facts.push(Fact::strong(
        "gate",
        format!("failed ({findings} CRITICAL count)"),
    ));
    s.findings = (0..findings)
        .map(|i| FindingRow {
            severity: "CRITICAL".into(),
            id: format!("CVE-2026-{i:05}"),
            url: Some(format!("https://avd.aquasec.com/nvd/cve-2026-{i:05}")),
            package: format!("libexample{i}"),
            installed: "1.0.0-1".into(),
            fixed: Some("1.0.1-1".into()),
            title: "libexample: heap overflow in the parser when reading crafted input".into(),
        })
        .collect();
    s.failure = Some(Failure {
        reason: format!("gate failed: {findings} CRITICAL finding(s) count"),
        events: vec![],
        logs: (0..logs)
            .map(|i| format!("log line {i} ```` <details>"))
            .collect(),
    });
    r.steps.push(s);
    r
}

/// `<details>` opened and closed in pairs, every code fence closed.
/// (Text inside a code block is shown literally, so only tags outside count.)
fn assert_balanced(md: &str) {
    let mut open: Option<usize> = None;
    let mut details: i64 = 0;
    for line in md.lines() {
        let ticks = line.chars().take_while(|c| *c == '`').count();
        match open {
            None if ticks >= 3 => open = Some(ticks),
            Some(n) if ticks == n && line.trim() == "`".repeat(n) => open = None,
            Some(_) => {}
            None => {
                details += line.matches("<details>").count() as i64;
                details -= line.matches("</details>").count() as i64;
                assert!(details >= 0, "</details> before its <details>");
            }
        }
    }
    assert_eq!(open, None, "a code fence is left open");
    assert_eq!(details, 0, "unbalanced <details>");
}

// ---------- snapshots ----------

#[test]
fn comment_all_green() {
    let md = comment::render(&green_report(), Platform::GitHub, 65_536);
    assert_balanced(&md);
    insta::assert_snapshot!(md);
}

#[test]
fn comment_gate_failed() {
    let md = comment::render(&gate_failed_report(), Platform::GitHub, 65_536);
    assert_balanced(&md);
    assert!(md.contains("CVE-"));
    insta::assert_snapshot!(md);
}

#[test]
fn comment_rollout_failed_with_logs() {
    let md = comment::render(&rollout_failed_report(), Platform::GitHub, 65_536);
    assert_balanced(&md);
    assert!(!md.contains("<img"), "outside text must be escaped");
    assert!(!md.contains('\u{1b}'));
    insta::assert_snapshot!(md);
}

#[test]
fn comment_oversize_findings_list() {
    // A small budget keeps the snapshot readable; the real limits are checked below.
    let md = comment::render(&oversize_report(200, 50), Platform::GitHub, 6_000);
    assert!(comment::length(&md) <= 6_000);
    assert_balanced(&md);
    insta::assert_snapshot!(md);
}

#[test]
fn oversize_reports_fit_both_platforms_and_say_what_was_cut() {
    let r = oversize_report(25_000, 5_000);
    for p in [Platform::GitHub, Platform::AzureDevOps] {
        let md = comment::render(&r, p, p.max_chars());
        assert!(comment::length(&md) <= p.max_chars(), "{p:?}");
        assert!(
            comment::length(&md) > p.max_chars() * 9 / 10,
            "{p:?}: cut too much"
        );
        assert!(md.starts_with("<!-- aks-backend:v1 key=CI/deploy/api run=45.1 -->\n"));
        assert_balanced(&md);
        assert!(md.contains("✂️ Shortened to fit"), "{p:?}");
        assert_eq!(Marker::parse(&md).unwrap().run.number, 45);
    }
    // Non-ASCII text is counted in UTF-16 units, so the limit holds for it too.
    let mut r = oversize_report(3_000, 0);
    for f in &mut r.steps[0].findings {
        f.title = "😀".repeat(40);
    }
    let md = comment::render(&r, Platform::GitHub, 65_536);
    assert!(md.encode_utf16().count() <= 65_536);
    assert_balanced(&md);
}

#[test]
fn report_survives_a_state_file() {
    let r = gate_failed_report();
    let back: Summary = serde_json::from_str(&serde_json::to_string(&r).unwrap()).unwrap();
    assert_eq!(back, r);
}

// ---------- a Ctx against the mocks ----------

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

struct Job {
    ctx: Ctx,
    out: Captured,
    dir: tempfile::TempDir,
}

impl Job {
    fn summary(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("summary.md")).unwrap_or_default()
    }
}

fn github_vars(
    mock: &GitHubMock,
    run: u64,
    dir: &Path,
    event: &serde_json::Value,
) -> Vec<(String, String)> {
    let event_path = dir.join("event.json");
    std::fs::write(&event_path, event.to_string()).unwrap();
    [
        ("GITHUB_ACTIONS", "true".to_string()),
        ("GITHUB_API_URL", mock.url.clone()),
        ("GITHUB_SERVER_URL", "https://github.com".into()),
        ("GITHUB_REPOSITORY", "octo/api".into()),
        ("GITHUB_SHA", SHA.into()),
        ("GITHUB_REF", "refs/pull/7/merge".into()),
        ("GITHUB_EVENT_NAME", "pull_request".into()),
        ("GITHUB_EVENT_PATH", event_path.display().to_string()),
        ("GITHUB_RUN_ID", format!("{}", 9000 + run)),
        ("GITHUB_RUN_NUMBER", run.to_string()),
        ("GITHUB_RUN_ATTEMPT", "1".into()),
        ("GITHUB_WORKFLOW", "CI".into()),
        ("GITHUB_JOB", "deploy".into()),
        ("GITHUB_ACTOR", "octocat".into()),
        (
            "GITHUB_STEP_SUMMARY",
            dir.join("summary.md").display().to_string(),
        ),
        ("RUNNER_TEMP", dir.display().to_string()),
        ("GITHUB_TOKEN", mock.token.clone()),
        ("PATH", std::env::var("PATH").unwrap_or_default()),
        ("HOME", dir.display().to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

fn same_repo_event() -> serde_json::Value {
    serde_json::json!({
        "number": 7,
        "pull_request": {
            "number": 7,
            "head": {"repo": {"full_name": "octo/api"}},
            "base": {"repo": {"full_name": "octo/api"}}
        }
    })
}

fn job_with(vars: Vec<(String, String)>, dir: tempfile::TempDir, kind: HostKind) -> Job {
    let env = Env::from_pairs(vars, dir.path());
    let out = Captured::default();
    let host = Host::with_writers(
        &env,
        kind,
        Box::new(out.clone()),
        Box::new(out.clone()),
        false,
    );
    Job {
        ctx: Ctx::new(env, host),
        out,
        dir,
    }
}

fn github_job(mock: &GitHubMock, run: u64) -> Job {
    let dir = tempfile::tempdir().unwrap();
    let vars = github_vars(mock, run, dir.path(), &same_repo_event());
    job_with(vars, dir, HostKind::GitHubActions)
}

fn settings(github_token: Option<&str>) -> PublishSettings {
    PublishSettings {
        github_token: github_token.map(Secret::new),
        azure_devops_token: None,
        comment: true,
        upload_sarif: true,
        sarif_upload_required: false,
        sarif_wait: Duration::from_secs(20),
        github_deployment: false,
        environment: None,
        pr_status: false,
        app: Some("api".into()),
    }
}

fn ours(mock: &GitHubMock) -> Vec<(u64, RunId, String)> {
    mock.comments_on(7)
        .into_iter()
        .filter_map(|c| Marker::parse(&c.body).map(|m| (c.id, m.run, c.body)))
        .collect()
}

fn report_for(job: &Job, s: &PublishSettings, status: StepStatus) -> Summary {
    let mut r = publishing::new_summary(&job.ctx, s, "api");
    r.set_step(ok_step("refer", 1_000, vec![]));
    r.set_step(StepSummary::new("build", status));
    r
}

// ---------- GitHub ----------

#[tokio::test(flavor = "multi_thread")]
async fn github_comment_is_created_once_then_updated_across_pages() {
    let mock = GitHubMock::start().await;
    // 230 comments by people first: ours must be found on page 3.
    for i in 0..230 {
        mock.seed_comment(7, &format!("LGTM {i}"), "octocat");
    }
    let s = settings(Some(&mock.token));
    let first = github_job(&mock, 10);
    let p = publishing::summary(&first.ctx, &s, &report_for(&first, &s, StepStatus::Running)).await;
    let Published::GitHub(Upsert::Created { id }) = p else {
        panic!("{p:?}\n{}", first.out.text())
    };
    let second = github_job(&mock, 11);
    let p = publishing::summary(&second.ctx, &s, &report_for(&second, &s, StepStatus::Ok)).await;
    assert_eq!(
        p,
        Published::GitHub(Upsert::Updated { id }),
        "{}",
        second.out.text()
    );
    let mine = ours(&mock);
    assert_eq!(mine.len(), 1);
    assert_eq!(
        mine[0].1,
        RunId {
            number: 11,
            attempt: 1
        }
    );
    assert!(
        mine[0]
            .2
            .starts_with("<!-- aks-backend:v1 key=CI/deploy/api run=11.1 -->\n")
    );
    assert!(
        mine[0]
            .2
            .contains("[Run 11, attempt 1](https://github.com/octo/api/actions/runs/9011)")
    );
    let log = mock.with(|s| s.log.clone());
    assert!(
        log.iter()
            .filter(|l| l.ends_with("/issues/7/comments"))
            .count()
            >= 6,
        "paginated through 3 pages each time: {log:#?}"
    );
    mock.assert_valid();
}

#[tokio::test(flavor = "multi_thread")]
async fn github_an_older_run_never_overwrites_a_newer_one() {
    let mock = GitHubMock::start().await;
    let s = settings(Some(&mock.token));
    let newer = github_job(&mock, 20);
    publishing::summary(&newer.ctx, &s, &report_for(&newer, &s, StepStatus::Ok)).await;
    let older = github_job(&mock, 19);
    let p = publishing::summary(&older.ctx, &s, &report_for(&older, &s, StepStatus::Failed)).await;
    assert!(
        matches!(p, Published::GitHub(Upsert::NewerExists { run, .. }) if run.number == 20),
        "{p:?}"
    );
    assert!(older.out.text().contains("already reported"));
    let mine = ours(&mock);
    assert_eq!(mine.len(), 1);
    assert_eq!(mine[0].1.number, 20);
    mock.assert_valid();
}

#[tokio::test(flavor = "multi_thread")]
async fn github_two_runs_racing_leave_one_comment_holding_the_newer_run() {
    for round in 0..3 {
        for existing in [false, true] {
            let mock = GitHubMock::start().await;
            mock.with(|s| s.delay_ms = 5 + round * 10);
            mock.seed_comment(7, "first!", "octocat");
            if existing {
                mock.seed_comment(
                    7,
                    "<!-- aks-backend:v1 key=CI/deploy/api run=4.1 -->\nold",
                    "github-actions[bot]",
                );
            }
            let s = settings(Some(&mock.token));
            let a = github_job(&mock, 5);
            let b = github_job(&mock, 6);
            let ra = report_for(&a, &s, StepStatus::Failed);
            let rb = report_for(&b, &s, StepStatus::Ok);
            let (pa, pb) = tokio::join!(
                publishing::summary(&a.ctx, &s, &ra),
                publishing::summary(&b.ctx, &s, &rb)
            );
            let mine = ours(&mock);
            assert_eq!(
                mine.len(),
                1,
                "round {round} existing={existing}: {pa:?} {pb:?} {mine:#?}"
            );
            assert_eq!(
                mine[0].1.number, 6,
                "round {round} existing={existing}: {pa:?} {pb:?}"
            );
            assert_eq!(
                mock.comments_on(7).len(),
                2,
                "the other comment is untouched"
            );
            mock.assert_valid();
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn github_a_strangers_comment_with_our_marker_never_stops_our_updates() {
    let mock = GitHubMock::start().await;
    let planted = mock.seed_comment(
        7,
        "<!-- aks-backend:v1 key=CI/deploy/api run=999999.1 -->\nfrozen forever",
        "mallory",
    );
    let s = settings(Some(&mock.token));
    let first = github_job(&mock, 10);
    let p = publishing::summary(&first.ctx, &s, &report_for(&first, &s, StepStatus::Ok)).await;
    let Published::GitHub(Upsert::Created { id }) = p else {
        panic!("{p:?}\n{}", first.out.text())
    };
    assert_ne!(id, planted);
    let second = github_job(&mock, 11);
    let p = publishing::summary(&second.ctx, &s, &report_for(&second, &s, StepStatus::Ok)).await;
    assert_eq!(p, Published::GitHub(Upsert::Updated { id }));
    let comments = mock.comments_on(7);
    let stranger = comments.iter().find(|c| c.id == planted).unwrap();
    assert_eq!(
        stranger.body, "<!-- aks-backend:v1 key=CI/deploy/api run=999999.1 -->\nfrozen forever",
        "not ours: neither edited nor deleted"
    );
    let mine = comments.iter().find(|c| c.id == id).unwrap();
    assert_eq!(mine.login, "github-actions[bot]");
    assert!(mine.body.contains("run=11.1"), "{}", mine.body);
    mock.assert_valid();
}

#[tokio::test(flavor = "multi_thread")]
async fn github_read_only_token_falls_back_to_the_summary_without_failing() {
    let mock = GitHubMock::start().await;
    mock.with(|s| {
        s.read_only_tokens.insert("ghs_readonly".into());
    });
    let s = settings(Some("ghs_readonly"));
    let job = github_job(&mock, 30);
    let p = publishing::summary(&job.ctx, &s, &report_for(&job, &s, StepStatus::Ok)).await;
    assert!(
        matches!(&p, Published::FellBack(why) if why.contains("Resource not accessible by integration")),
        "{p:?}"
    );
    let out = job.out.text();
    assert_eq!(
        out.matches("PR comment not posted").count(),
        2,
        "one line and one annotation: {out}"
    );
    assert!(
        job.summary()
            .contains("<!-- aks-backend:v1 key=CI/deploy/api run=30.1 -->")
    );
    assert!(ours(&mock).is_empty());
    mock.assert_valid();
}

#[tokio::test(flavor = "multi_thread")]
async fn github_fork_pull_requests_are_detected_before_any_request() {
    let mock = GitHubMock::start().await;
    let dir = tempfile::tempdir().unwrap();
    let event = serde_json::json!({"pull_request": {"number": 7,
        "head": {"repo": {"full_name": "someone/api"}}, "base": {"repo": {"full_name": "octo/api"}}}});
    let vars = github_vars(&mock, 31, dir.path(), &event);
    let job = job_with(vars, dir, HostKind::GitHubActions);
    let s = settings(Some(&mock.token));
    let p = publishing::summary(&job.ctx, &s, &report_for(&job, &s, StepStatus::Ok)).await;
    assert!(
        matches!(&p, Published::FellBack(why) if why.contains("fork")),
        "{p:?}"
    );
    assert!(mock.with(|s| s.log.is_empty()), "no request at all");
    assert!(job.summary().contains("run=31.1"));
}

#[tokio::test(flavor = "multi_thread")]
async fn github_without_a_pull_request_posts_nothing() {
    let mock = GitHubMock::start().await;
    let dir = tempfile::tempdir().unwrap();
    let mut vars = github_vars(
        &mock,
        32,
        dir.path(),
        &serde_json::json!({"ref": "refs/heads/main"}),
    );
    for (k, v) in &mut vars {
        if k == "GITHUB_REF" {
            *v = "refs/heads/main".into();
        }
        if k == "GITHUB_EVENT_NAME" {
            *v = "push".into();
        }
    }
    let job = job_with(vars, dir, HostKind::GitHubActions);
    let s = settings(Some(&mock.token));
    let p = publishing::summary(&job.ctx, &s, &report_for(&job, &s, StepStatus::Ok)).await;
    assert_eq!(p, Published::Skipped("no pull request"));
    assert!(mock.with(|s| s.log.is_empty()));
}

#[tokio::test(flavor = "multi_thread")]
async fn github_secondary_rate_limits_are_waited_out() {
    let mock = GitHubMock::start().await;
    mock.with(|s| {
        s.secondary_limit_writes = 1;
        s.too_many_requests = 1;
    });
    let s = settings(Some(&mock.token));
    let job = github_job(&mock, 40);
    let p = publishing::summary(&job.ctx, &s, &report_for(&job, &s, StepStatus::Ok)).await;
    assert!(
        matches!(p, Published::GitHub(Upsert::Created { .. })),
        "{p:?}"
    );
    assert_eq!(mock.with(|s| s.rate_limited), 2);
    assert_eq!(ours(&mock).len(), 1);
    mock.assert_valid();
}

#[tokio::test(flavor = "multi_thread")]
async fn github_sarif_upload_uses_the_merge_ref_and_waits_for_processing() {
    let mock = GitHubMock::start().await;
    mock.with(|s| s.sarif_pending_polls = 2);
    let job = github_job(&mock, 50);
    let s = settings(Some(&mock.token));
    let sarif = tools::trivy_fixture().join("expected/image.sarif");
    let r = publishing::upload_sarif(&job.ctx, &s, &sarif)
        .await
        .unwrap();
    assert!(
        matches!(r, SarifUploaded::CodeScanning(SarifState::Complete { .. })),
        "{r:?}"
    );
    let up = mock.with(|s| s.sarifs.clone());
    assert_eq!(up.len(), 1);
    assert_eq!(up[0].git_ref, "refs/pull/7/merge");
    assert_eq!(up[0].commit_sha, SHA);
    assert_eq!(up[0].polls, 3);
    assert_eq!(up[0].sarif["version"], "2.1.0");
    mock.assert_valid();
}

#[tokio::test(flavor = "multi_thread")]
async fn github_code_scanning_refusal_warns_unless_required() {
    let mock = GitHubMock::start().await;
    mock.with(|s| s.code_scanning_disabled = true);
    let job = github_job(&mock, 51);
    let mut s = settings(Some(&mock.token));
    let sarif = tools::trivy_fixture().join("expected/image.sarif");
    let r = publishing::upload_sarif(&job.ctx, &s, &sarif)
        .await
        .unwrap();
    assert!(
        matches!(&r, SarifUploaded::NotUploaded(m) if m.contains("Advanced Security must be enabled")),
        "{r:?}"
    );
    let out = job.out.text();
    assert!(
        out.contains("::warning") && out.contains("security-events: write"),
        "{out}"
    );
    s.sarif_upload_required = true;
    let e = publishing::upload_sarif(&job.ctx, &s, &sarif)
        .await
        .unwrap_err();
    assert_eq!(e.exit(), aks_backend::error::Exit::External);
    mock.assert_valid();
}

#[tokio::test(flavor = "multi_thread")]
async fn github_processing_errors_are_shown_in_githubs_words() {
    let mock = GitHubMock::start().await;
    mock.with(|s| {
        s.sarif_errors = Some(vec![
            "could not convert rules: invalid security severity value, is not a number: high"
                .into(),
        ])
    });
    let gh = GitHub::new(&mock.url, &Secret::new(mock.token.clone()), "octo/api").unwrap();
    let sarif = std::fs::read(tools::trivy_fixture().join("expected/image.sarif")).unwrap();
    let id = gh
        .upload_sarif(&sarif, SHA, "refs/heads/main")
        .await
        .unwrap();
    let polling = Polling {
        first: Duration::from_millis(10),
        ..Default::default()
    };
    let e = gh.wait_for_sarif(&id, polling).await.unwrap_err();
    assert!(
        e.to_string().contains("invalid security severity value"),
        "{e}"
    );
    mock.assert_valid();
}

#[tokio::test(flavor = "multi_thread")]
async fn github_deployment_with_environment_and_url() {
    let mock = GitHubMock::start().await;
    let gh = GitHub::new(&mock.url, &Secret::new(mock.token.clone()), "octo/api").unwrap();
    let id = gh
        .create_deployment(SHA, "staging", "aks-backend deploy")
        .await
        .unwrap();
    gh.deployment_status(
        id,
        "success",
        Some("https://api.example.com"),
        Some("https://github.com/octo/api/actions/runs/1"),
    )
    .await
    .unwrap();
    let (deps, statuses) = mock.with(|s| (s.deployments.clone(), s.deployment_statuses.clone()));
    assert_eq!(deps[0]["environment"], "staging");
    assert_eq!(statuses[0].1["environment_url"], "https://api.example.com");
    mock.assert_valid();
}

// ---------- Azure DevOps ----------

fn azure_job(mock: &AzureDevOpsMock, build: u64) -> Job {
    let dir = tempfile::tempdir().unwrap();
    let vars: Vec<(String, String)> = [
        ("TF_BUILD", "True".to_string()),
        ("SYSTEM_COLLECTIONURI", format!("{}/", mock.url)),
        ("SYSTEM_TEAMPROJECT", "My Project".into()),
        ("BUILD_BUILDID", build.to_string()),
        (
            "BUILD_REPOSITORY_ID",
            "3a7f2c1e-0000-4000-8000-000000000001".into(),
        ),
        ("BUILD_REPOSITORY_NAME", "api".into()),
        ("BUILD_SOURCEBRANCH", "refs/pull/5/merge".into()),
        ("SYSTEM_PULLREQUEST_PULLREQUESTID", "5".into()),
        ("BUILD_SOURCEVERSION", SHA.into()),
        ("BUILD_DEFINITIONNAME", "CI".into()),
        ("SYSTEM_JOBNAME", "deploy".into()),
        ("SYSTEM_JOBATTEMPT", "1".into()),
        ("AGENT_TEMPDIRECTORY", dir.path().display().to_string()),
        ("SYSTEM_ACCESSTOKEN", mock.token.clone()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    job_with(vars, dir, HostKind::AzurePipelines)
}

fn azure_settings(token: &str) -> PublishSettings {
    PublishSettings {
        azure_devops_token: Some(Secret::new(token)),
        pr_status: true,
        ..settings(None)
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn azure_devops_one_thread_updated_in_place_with_status() {
    let mock = AzureDevOpsMock::start().await;
    let s = azure_settings(&mock.token);
    let first = azure_job(&mock, 100);
    let p = publishing::summary(&first.ctx, &s, &report_for(&first, &s, StepStatus::Ok)).await;
    let Published::AzureDevOps(ThreadUpsert::Created { thread }) = p else {
        panic!("{p:?}\n{}", first.out.text())
    };
    let t = &mock.live_threads()[0];
    assert_eq!(t["status"], "closed", "clean: closed");
    assert_eq!(
        t["properties"]["aks-backend.key"]["$value"],
        "CI/deploy/api"
    );

    let second = azure_job(&mock, 101);
    let p = publishing::summary(
        &second.ctx,
        &s,
        &report_for(&second, &s, StepStatus::Failed),
    )
    .await;
    assert_eq!(p, Published::AzureDevOps(ThreadUpsert::Updated { thread }));
    let threads = mock.live_threads();
    assert_eq!(threads.len(), 1);
    assert_eq!(threads[0]["status"], "active", "something failed: active");
    let content = threads[0]["comments"][0]["content"].as_str().unwrap();
    assert!(content.starts_with("<!-- aks-backend:v1 key=CI/deploy/api run=101.1 -->"));

    let older = azure_job(&mock, 99);
    let p = publishing::summary(&older.ctx, &s, &report_for(&older, &s, StepStatus::Ok)).await;
    assert!(
        matches!(p, Published::AzureDevOps(ThreadUpsert::NewerExists { .. })),
        "{p:?}"
    );
    let statuses = mock.with(|s| s.statuses.clone());
    assert_eq!(statuses.len(), 2, "the older run posts no status");
    assert_eq!(statuses[1]["state"], "failed");
    assert_eq!(statuses[1]["context"]["genre"], "aks-backend");
    mock.assert_valid();
}

#[tokio::test(flavor = "multi_thread")]
async fn azure_devops_racing_runs_and_throttling_leave_one_thread() {
    let mock = AzureDevOpsMock::start().await;
    mock.with(|s| s.too_many_requests = 1);
    let s = azure_settings(&mock.token);
    let a = azure_job(&mock, 200);
    let b = azure_job(&mock, 201);
    let (ra, rb) = (
        report_for(&a, &s, StepStatus::Ok),
        report_for(&b, &s, StepStatus::Ok),
    );
    let (pa, pb) = tokio::join!(
        publishing::summary(&a.ctx, &s, &ra),
        publishing::summary(&b.ctx, &s, &rb)
    );
    let threads = mock.live_threads();
    assert_eq!(threads.len(), 1, "{pa:?} {pb:?}");
    assert_eq!(
        threads[0]["properties"]["aks-backend.run"]["$value"],
        "201.1"
    );
    mock.assert_valid();
}

#[tokio::test(flavor = "multi_thread")]
async fn azure_devops_a_strangers_thread_with_our_marker_never_stops_our_updates() {
    let mock = AzureDevOpsMock::start().await;
    let planted = mock.seed_thread(
        5,
        "<!-- aks-backend:v1 key=CI/deploy/api run=999999.1 -->\nfrozen forever",
        json!({
            "aks-backend.key": {"$type": "System.String", "$value": "CI/deploy/api"},
            "aks-backend.run": {"$type": "System.String", "$value": "999999.1"}
        }),
        COLLEAGUE_ID,
    );
    let s = azure_settings(&mock.token);
    let first = azure_job(&mock, 100);
    let p = publishing::summary(&first.ctx, &s, &report_for(&first, &s, StepStatus::Ok)).await;
    let Published::AzureDevOps(ThreadUpsert::Created { thread }) = p else {
        panic!("{p:?}\n{}", first.out.text())
    };
    assert_ne!(thread, planted);
    let second = azure_job(&mock, 101);
    let p = publishing::summary(&second.ctx, &s, &report_for(&second, &s, StepStatus::Ok)).await;
    assert_eq!(p, Published::AzureDevOps(ThreadUpsert::Updated { thread }));
    let threads = mock.live_threads();
    assert_eq!(threads.len(), 2, "the stranger's thread is left alone");
    let theirs = threads.iter().find(|t| t["id"] == json!(planted)).unwrap();
    assert!(
        theirs["comments"][0]["content"]
            .as_str()
            .unwrap()
            .ends_with("frozen forever")
    );
    let ours = threads.iter().find(|t| t["id"] == json!(thread)).unwrap();
    assert_eq!(ours["comments"][0]["author"]["id"], BUILD_SERVICE_ID);
    assert!(
        ours["comments"][0]["content"]
            .as_str()
            .unwrap()
            .contains("run=101.1")
    );
    mock.assert_valid();
}

#[tokio::test(flavor = "multi_thread")]
async fn azure_devops_without_permission_falls_back() {
    let mock = AzureDevOpsMock::start().await;
    mock.with(|s| s.forbidden = true);
    let s = azure_settings(&mock.token);
    let job = azure_job(&mock, 300);
    let p = publishing::summary(&job.ctx, &s, &report_for(&job, &s, StepStatus::Ok)).await;
    assert!(
        matches!(&p, Published::FellBack(why) if why.contains("PullRequestContribute")),
        "{p:?}"
    );
    let out = job.out.text();
    assert!(out.contains("##vso[task.uploadsummary]"), "{out}");
    assert!(mock.live_threads().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn azure_pipelines_publish_the_sarif_as_code_analysis_logs() {
    let mock = AzureDevOpsMock::start().await;
    let job = azure_job(&mock, 400);
    let s = azure_settings(&mock.token);
    let r = publishing::upload_sarif(&job.ctx, &s, Path::new("/w/aks-backend.sarif"))
        .await
        .unwrap();
    assert_eq!(r, SarifUploaded::Artifact);
    assert!(job.out.text().contains(
        "##vso[artifact.upload containerfolder=CodeAnalysisLogs;artifactname=CodeAnalysisLogs]/w/aks-backend.sarif"
    ));
}

// ---------- the real binary ----------

#[tokio::test(flavor = "multi_thread")]
async fn scan_binary_uploads_the_sarif_and_comments_on_the_pull_request() {
    let mock = GitHubMock::start().await;
    mock.with(|s| s.sarif_pending_polls = 1);
    let dir = tempfile::tempdir().unwrap();
    let vars = github_vars(&mock, 77, dir.path(), &same_repo_event());
    let report = tools::trivy_fixture().join("expected/image.json");
    let cwd = dir.path().to_path_buf();
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(tools::bin())
            .args(["scan", "--trivy-report"])
            .arg(&report)
            .args(["--sarif-wait", "30s"])
            .env_clear()
            .envs(vars)
            .current_dir(cwd)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(1),
        "the fixture fails the gate\n{stdout}\n{stderr}"
    );
    for line in stdout.lines().filter(|l| l.contains(&mock.token)) {
        assert!(
            line.starts_with("::add-mask::"),
            "the token is only ever masked: {line}"
        );
    }

    let up = mock.with(|s| s.sarifs.clone());
    assert_eq!(up.len(), 1, "{stdout}");
    assert_eq!(up[0].git_ref, "refs/pull/7/merge");
    assert_eq!(up[0].commit_sha, SHA);
    assert!(up[0].sarif["runs"][0]["automationDetails"]["id"].is_string());

    let mine = ours(&mock);
    assert_eq!(mine.len(), 1, "{stdout}");
    let body = &mine[0].2;
    assert!(
        body.starts_with("<!-- aks-backend:v1 key=CI/deploy/image.tar run=77.1 -->\n"),
        "{body}"
    );
    assert!(body.contains("| scan | ❌ failed |"), "{body}");
    assert!(body.contains("gate: **failed"), "{body}");
    assert!(body.contains("SARIF: uploaded"), "{body}");
    assert!(body.contains("count for the gate"), "{body}");
    mock.assert_valid();
}
