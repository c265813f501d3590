//! `run` end to end, and separate steps composing through the state file: the real
//! engine and token-auth registry, the real Trivy pulling what build pushed, the fake
//! cluster, and the GitHub mock holding the one PR comment.

use std::path::Path;
use std::process::Output;

use serde_json::Value;

use crate::support::acr_token_service::entra_token;
use crate::support::fake_cluster::FakeCluster;
use crate::support::github::GitHubMock;
use crate::support::registry::{PUSHER, Registry, TENANT};
use crate::support::tools::{bin, offline_trivy, trivy_cache, trivy_fixture};

const SHA: &str = "0123456789abcdef0123456789abcdef01234567";

pub(crate) fn github_env(mock: &GitHubMock, dir: &Path) -> Vec<(String, String)> {
    let event = dir.join("event.json");
    std::fs::write(
        &event,
        serde_json::json!({"number": 7, "pull_request": {"number": 7,
            "head": {"repo": {"full_name": "octo/api"}}, "base": {"repo": {"full_name": "octo/api"}}}})
        .to_string(),
    )
    .unwrap();
    [
        ("GITHUB_ACTIONS", "true".to_string()),
        ("GITHUB_API_URL", mock.url.clone()),
        ("GITHUB_SERVER_URL", "https://github.com".into()),
        ("GITHUB_REPOSITORY", "octo/api".into()),
        ("GITHUB_SHA", SHA.into()),
        ("GITHUB_REF", "refs/pull/7/merge".into()),
        ("GITHUB_EVENT_NAME", "pull_request".into()),
        ("GITHUB_EVENT_PATH", event.display().to_string()),
        ("GITHUB_RUN_ID", "4242".into()),
        ("GITHUB_RUN_NUMBER", "42".into()),
        ("GITHUB_RUN_ATTEMPT", "1".into()),
        ("GITHUB_WORKFLOW", "CI".into()),
        ("GITHUB_JOB", "ship".into()),
        // A short settle window after each rollout keeps these tests fast.
        ("INPUT_SETTLE_SECONDS", "1".into()),
        ("INPUT_MIN_READY_SECONDS", "0".into()),
        (
            "GITHUB_STEP_SUMMARY",
            dir.join("summary.md").display().to_string(),
        ),
        (
            "GITHUB_OUTPUT",
            dir.join("github_output").display().to_string(),
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

pub(crate) async fn aks_backend(
    args: Vec<String>,
    env: Vec<(String, String)>,
    cwd: &Path,
) -> Output {
    let cwd = cwd.to_path_buf();
    tokio::task::spawn_blocking(move || {
        std::process::Command::new(bin())
            .args(args)
            .env_clear()
            .envs(env)
            .current_dir(cwd)
            .output()
            .unwrap()
    })
    .await
    .unwrap()
}

pub(crate) fn say(o: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn app_context(dir: &Path) -> std::path::PathBuf {
    let ctx = dir.join("ctx");
    std::fs::create_dir_all(ctx.join("app")).unwrap();
    std::fs::write(
        ctx.join("Dockerfile"),
        "FROM trivy-fixture/debian12-vuln:test\nCOPY app/ /app/\n",
    )
    .unwrap();
    std::fs::write(ctx.join("app/hello.txt"), "hello\n").unwrap();
    let out = std::process::Command::new("docker")
        .args([
            "load",
            "-i",
            trivy_fixture().join("image.tar").to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "docker load failed");
    ctx
}

fn deployed_image(cluster: &FakeCluster, ns: &str) -> String {
    let deps = cluster.objects("deployments.apps", ns);
    deps[0]["spec"]["template"]["spec"]["containers"][0]["image"]
        .as_str()
        .unwrap()
        .to_string()
}

pub(crate) fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_builds_scans_and_deploys_the_pushed_digest_with_one_comment() {
    let mock = GitHubMock::start().await;
    let reg = Registry::start().await;
    let cluster = FakeCluster::start(0.05);
    let dir = tempfile::tempdir().unwrap();
    let ctx = app_context(dir.path());
    let cache = trivy_cache();
    let repo = format!("{}/team/api", reg.addr);
    let mut env = github_env(&mock, dir.path());
    env.push(("AZURE_ACCESS_TOKEN".into(), entra_token(TENANT, PUSHER)));
    let out = aks_backend(
        [
            strings(&[
                "run",
                "--image",
                &repo,
                "--context",
                ctx.to_str().unwrap(),
                "--app",
                "api",
                "--kubeconfig",
                cluster.kubeconfig.to_str().unwrap(),
                "--namespace",
                "shop",
                "--timeout",
                "60s",
                "--registry-insecure",
                "--acr-hosts",
                &reg.addr,
                "--fail-on-findings",
                "false",
                "--sarif-wait",
                "30s",
                "--outputs-file",
                dir.path().join("outputs.json").to_str().unwrap(),
            ]),
            offline_trivy(cache.path()),
        ]
        .concat(),
        env,
        dir.path(),
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", say(&out));
    // One image: Trivy on its own, no server.
    assert!(
        !String::from_utf8_lossy(&out.stdout).contains("--server="),
        "{}",
        say(&out)
    );

    // One outputs file with every step's outputs; deploy ran the digest build pushed.
    let o: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("outputs.json")).unwrap())
            .unwrap();
    let digest = o["image-ref"].as_str().unwrap();
    assert!(digest.starts_with(&format!("{repo}@sha256:")), "{o}");
    assert!(o["digest"].as_str().unwrap().starts_with("sha256:"), "{o}");
    assert_eq!(deployed_image(&cluster, "shop"), digest);
    assert_eq!(o["rollout"], "healthy", "{o}");
    // Trivy pulled what build pushed, with the ACR refresh token, and found the fixture's.
    assert_eq!(o["gate"], "report-only", "{o}");
    assert_eq!(o["critical"], "4", "{o}");
    // The Entra token was exchanged once: scan pulled with build's ACR refresh token.
    assert_eq!(reg.tokens.log.lock().unwrap().exchanges, 1);

    // One comment, marker first, every step in it; the SARIF reached code scanning.
    let comments = mock.comments_on(7);
    assert_eq!(comments.len(), 1, "{}", say(&out));
    let body = &comments[0].body;
    assert!(
        body.starts_with("<!-- aks-backend:v1 key=CI/ship/api run=42.1 -->"),
        "{body}"
    );
    for step in ["refer", "build", "scan", "deploy"] {
        assert!(body.contains(step), "{step} missing from\n{body}");
    }
    assert!(body.contains(digest), "{body}");
    assert_eq!(mock.with(|s| s.sarifs.len()), 1);
    // The timing breakdown is in the job summary.
    let summary = std::fs::read_to_string(dir.path().join("summary.md")).unwrap();
    assert!(summary.contains("aks-backend run: timing"), "{summary}");
    // The tokens never reach the log unmasked.
    let stdout = String::from_utf8_lossy(&out.stdout);
    for line in stdout.lines().filter(|l| l.contains(&mock.token)) {
        assert!(line.starts_with("::add-mask::"), "{line}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_gate_stops_run_before_deploy() {
    let mock = GitHubMock::start().await;
    let reg = Registry::start().await;
    let cluster = FakeCluster::start(0.05);
    let dir = tempfile::tempdir().unwrap();
    let ctx = app_context(dir.path());
    let cache = trivy_cache();
    let repo = format!("{}/team/api", reg.addr);
    let mut env = github_env(&mock, dir.path());
    env.push(("AZURE_ACCESS_TOKEN".into(), entra_token(TENANT, PUSHER)));
    let out = aks_backend(
        [
            strings(&[
                "run",
                "--image",
                &repo,
                "--context",
                ctx.to_str().unwrap(),
                "--app",
                "api",
                "--kubeconfig",
                cluster.kubeconfig.to_str().unwrap(),
                "--namespace",
                "shop",
                "--registry-insecure",
                "--acr-hosts",
                &reg.addr,
                "--severity",
                "CRITICAL",
                "--upload-sarif",
                "false",
            ]),
            offline_trivy(cache.path()),
        ]
        .concat(),
        env,
        dir.path(),
    )
    .await;
    assert_eq!(out.status.code(), Some(1), "{}", say(&out));
    assert!(
        cluster.objects("deployments.apps", "shop").is_empty(),
        "nothing deployed"
    );
    let body = &mock.comments_on(7)[0].body;
    assert!(body.contains("gate failed"), "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn separate_steps_compose_through_the_state_file() {
    let mock = GitHubMock::start().await;
    let reg = Registry::start().await;
    let cluster = FakeCluster::start(0.05);
    let dir = tempfile::tempdir().unwrap();
    let ctx = app_context(dir.path());
    // As the action runs them: every step gets the same inputs through INPUT_* env.
    let mut env = github_env(&mock, dir.path());
    env.push(("AZURE_ACCESS_TOKEN".into(), entra_token(TENANT, PUSHER)));
    env.push(("INPUT_IMAGE".into(), format!("{}/team/api", reg.addr)));
    // The loopback registry plays an ACR whose token service speaks plain HTTP.
    env.push(("INPUT_ACR_HOSTS".into(), reg.addr.clone()));
    env.push(("INPUT_REGISTRY_INSECURE".into(), "true".into()));
    env.push(("INPUT_APP".into(), "api".into()));
    let build = aks_backend(
        strings(&["build", "--context", ctx.to_str().unwrap()]),
        env.clone(),
        dir.path(),
    )
    .await;
    assert_eq!(build.status.code(), Some(0), "{}", say(&build));
    // A target given to scan itself wins over build's digest from the state file.
    let cache = trivy_cache();
    let tar = trivy_fixture().join("image.tar");
    let mut scan_env = env.clone();
    scan_env.retain(|(k, _)| k != "INPUT_IMAGE");
    let scan = aks_backend(
        [
            strings(&[
                "scan",
                "--input",
                tar.to_str().unwrap(),
                "--fail-on-findings",
                "false",
                "--upload-sarif",
                "false",
                "--comment",
                "false",
            ]),
            offline_trivy(cache.path()),
        ]
        .concat(),
        scan_env,
        dir.path(),
    )
    .await;
    assert_eq!(scan.status.code(), Some(0), "{}", say(&scan));
    assert!(
        String::from_utf8_lossy(&scan.stdout).contains("image.tar")
            || String::from_utf8_lossy(&scan.stderr).contains("image.tar"),
        "{}",
        say(&scan)
    );
    let deploy = aks_backend(
        strings(&[
            "deploy",
            "--kubeconfig",
            cluster.kubeconfig.to_str().unwrap(),
            "--namespace",
            "shop",
            "--timeout",
            "60s",
        ]),
        env.clone(),
        dir.path(),
    )
    .await;
    assert_eq!(deploy.status.code(), Some(0), "{}", say(&deploy));
    let image = deployed_image(&cluster, "shop");
    assert!(
        image.contains("/team/api@sha256:"),
        "deploy took build's digest: {image}"
    );
    // The comment holds both steps' rows.
    let body = &mock.comments_on(7)[0].body;
    assert!(
        body.contains("build") && body.contains("deploy") && body.contains(&image),
        "{body}"
    );
    let stderr = String::from_utf8_lossy(&deploy.stdout);
    assert!(!stderr.contains("AZURE_ACCESS_TOKEN"));
}

/// `github-deployment: true`: one GitHub Deployment per deploy, in progress while the
/// rollout runs, then success or failure; the mock validates every request against
/// GitHub's OpenAPI description.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deploy_records_a_github_deployment_with_its_outcome() {
    let mock = GitHubMock::start().await;
    let cluster = FakeCluster::start(0.05);
    let dir = tempfile::tempdir().unwrap();
    let env = github_env(&mock, dir.path());
    let digest = format!("sha256:{}", "1".repeat(64));
    let deploy = |image: String, ns: &'static str| {
        let (env, kubeconfig) = (env.clone(), cluster.kubeconfig.clone());
        let cwd = dir.path().to_path_buf();
        async move {
            aks_backend(
                strings(&[
                    "deploy",
                    "--image",
                    &image,
                    "--app",
                    "api",
                    "--kubeconfig",
                    kubeconfig.to_str().unwrap(),
                    "--namespace",
                    ns,
                    "--timeout",
                    "60s",
                    "--github-deployment",
                    "true",
                    "--deployment-environment",
                    "staging",
                    "--state",
                    cwd.join(format!("{ns}.json")).to_str().unwrap(),
                ]),
                env,
                &cwd,
            )
            .await
        }
    };
    let ok = deploy(format!("registry.example.com/team/api@{digest}"), "shop").await;
    assert_eq!(ok.status.code(), Some(0), "{}", say(&ok));
    let bad = deploy(
        format!("registry.example.com/team/crashes@{digest}"),
        "shop2",
    )
    .await;
    assert_eq!(bad.status.code(), Some(1), "{}", say(&bad));
    let (deployments, statuses) =
        mock.with(|s| (s.deployments.clone(), s.deployment_statuses.clone()));
    assert_eq!(deployments.len(), 2, "{deployments:?}");
    for d in &deployments {
        assert_eq!(d["environment"], "staging");
        assert_eq!(d["ref"], SHA);
    }
    let states: Vec<(u64, String)> = statuses
        .iter()
        .map(|(id, v)| (*id, v["state"].as_str().unwrap_or("").to_string()))
        .collect();
    assert_eq!(
        states,
        vec![
            (1, "in_progress".to_string()),
            (1, "success".to_string()),
            (2, "in_progress".to_string()),
            (2, "failure".to_string()),
        ]
    );
    assert!(
        statuses
            .iter()
            .all(|(_, v)| v["log_url"] == "https://github.com/octo/api/actions/runs/4242"),
        "{statuses:?}"
    );
    mock.assert_valid();
}
