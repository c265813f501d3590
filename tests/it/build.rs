//! build step tests: the real Docker engine (and Podman's socket), the real
//! `docker-registry` with token auth, real tokens from the loopback ACR token service,
//! and the real Trivy scanning the pushed image from the registry.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use crate::support::acr_token_service::entra_token;
use crate::support::registry::{PUSHER, READER, Registry, TENANT};
use crate::support::tools::{bin, offline_trivy, trivy_cache, trivy_fixture};

pub(crate) struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// Runs our binary with a scrubbed environment (no CI variables, no Docker config).
pub(crate) async fn run(args: &[&str], env: &[(&str, &str)], cwd: &Path) -> Run {
    let home = tempfile::tempdir().unwrap();
    let mut cmd = tokio::process::Command::new(bin());
    cmd.args(args);
    // With an Entra token, the loopback test registry plays an ACR (named in acr-hosts)
    // whose token service speaks plain HTTP on loopback (registry-insecure).
    if env.iter().any(|(k, _)| *k == "AZURE_ACCESS_TOKEN")
        && let Some(i) = args.iter().position(|a| *a == "--image")
        && let Some(registry) = args.get(i + 1).and_then(|img| img.split('/').next())
    {
        cmd.args(["--acr-hosts", registry, "--registry-insecure"]);
    }
    cmd.current_dir(cwd)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", home.path())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().await.unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

pub(crate) fn docker(args: &[&str]) -> std::process::Output {
    std::process::Command::new("docker")
        .args(args)
        .output()
        .expect("the docker CLI runs (the engine is at /var/run/docker.sock)")
}

fn load_fixture() {
    let out = docker(&[
        "load",
        "-i",
        trivy_fixture().join("image.tar").to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "docker load: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

pub(crate) fn write(dir: &Path, files: &[(&str, &str)]) {
    for (name, text) in files {
        let p = dir.join(name);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }
}

pub(crate) fn outputs(path: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// An ACR refresh token for `oid`, obtained like `az acr login --expose-token` does.
pub(crate) async fn refresh_token(reg: &Registry, oid: &str) -> String {
    let r = reqwest::Client::new()
        .post(format!("{}/oauth2/exchange", reg.tokens.url))
        .form(&[
            ("grant_type", "access_token"),
            ("service", reg.addr.as_str()),
            ("tenant", TENANT),
            ("access_token", entra_token(TENANT, oid).as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: serde_json::Value = r.json().await.unwrap();
    v["refresh_token"].as_str().unwrap().to_string()
}

pub(crate) fn build_args<'a>(ctx: &'a str, image: &'a str, out: &'a str) -> Vec<&'a str> {
    vec![
        "build",
        "--context",
        ctx,
        "--image",
        image,
        "--outputs-file",
        out,
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn build_from_fixture_push_with_entra_token_then_scan_from_registry() {
    load_fixture();
    let reg = Registry::start().await;
    let d = tempfile::tempdir().unwrap();
    let ctx = d.path().join("ctx");
    write(
        &ctx,
        &[
            (
                "Dockerfile",
                "FROM trivy-fixture/debian12-vuln:test\nARG GREETING\nCOPY app/ /app/\nLABEL greeting=$GREETING\n",
            ),
            ("app/hello.txt", "hello\n"),
            ("app/secret.key", "not for the image\n"),
            (".dockerignore", "**/*.key\n"),
        ],
    );
    let out = d.path().join("out.json");
    let image = format!("{}/team/api", reg.addr);
    let (c, o) = (ctx.to_str().unwrap(), out.to_str().unwrap());
    let mut args = build_args(c, &image, o);
    args.extend([
        "--tag",
        "v1",
        "--tag",
        "pr-7",
        "--build-arg",
        "GREETING=hi",
        "--label",
        "team=api",
    ]);
    let token = entra_token(TENANT, PUSHER);
    let r = run(&args, &[("AZURE_ACCESS_TOKEN", &token)], d.path()).await;
    assert_eq!(
        r.code,
        0,
        "stdout:\n{}\nstderr:\n{}\nregistry:\n{}",
        r.stdout,
        r.stderr,
        reg.log()
    );
    assert!(
        !r.stderr.contains(&token),
        "the Entra token leaked into the log"
    );
    let v = outputs(&out);
    let digest = v["image-ref"].as_str().unwrap();
    assert!(digest.starts_with(&format!("{image}@sha256:")), "{v}");
    // `digest` is the bare sha256:… as in docker/build-push-action.
    assert_eq!(
        format!(
            "{}@{}",
            v["image"].as_str().unwrap(),
            v["digest"].as_str().unwrap()
        ),
        digest
    );
    assert_eq!(v["tags"], format!("{image}:v1,{image}:pr-7"));
    assert!(v["size"].as_str().unwrap().parse::<u64>().unwrap() > 0);
    assert_eq!(reg.tokens.violations(), Vec::<String>::new());
    assert!(reg.tokens.log.lock().unwrap().exchanges >= 1);
    // Labels and build args reached the image; the ignored file did not.
    let inspect = docker(&[
        "image",
        "inspect",
        &format!("{image}:v1"),
        "--format",
        "{{json .Config.Labels}}",
    ]);
    let labels: serde_json::Value = serde_json::from_slice(&inspect.stdout).unwrap();
    assert_eq!(labels["greeting"], "hi");
    assert_eq!(labels["team"], "api");
    assert_eq!(labels["org.opencontainers.image.version"], "v1");
    assert!(
        image_files(&format!("{image}:v1"))
            .iter()
            .any(|f| f == "app/hello.txt")
    );
    assert!(
        !image_files(&format!("{image}:v1"))
            .iter()
            .any(|f| f.ends_with("secret.key"))
    );

    // Scan the pushed image straight from the registry with the real Trivy.
    let rt = refresh_token(&reg, PUSHER).await;
    let cache = trivy_cache();
    let report = d.path().join("trivy.json");
    let scan_out = d.path().join("scan.json");
    let offline = offline_trivy(cache.path());
    let sarif = d.path().join("x.sarif");
    let mut args = vec![
        "scan",
        "--image",
        digest,
        "--registry-username",
        "00000000-0000-0000-0000-000000000000",
        "--registry-password",
        &rt,
        "--registry-insecure",
        "--fail-on-findings",
        "false",
        "--report",
        report.to_str().unwrap(),
        "--sarif",
        sarif.to_str().unwrap(),
        "--outputs-file",
        scan_out.to_str().unwrap(),
    ];
    args.extend(offline.iter().map(String::as_str));
    let r = run(&args, &[], d.path()).await;
    assert_eq!(r.code, 0, "stdout:\n{}\nstderr:\n{}", r.stdout, r.stderr);
    let rep: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    let vulns: Vec<(String, String)> = rep["Results"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|r| r["Vulnerabilities"].as_array().cloned().unwrap_or_default())
        .map(|v| {
            (
                v["VulnerabilityID"].as_str().unwrap().to_string(),
                v["Severity"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let critical: Vec<_> = vulns.iter().filter(|(_, s)| s == "CRITICAL").collect();
    assert_eq!(critical.len(), 2, "{vulns:?}");
    assert!(critical.iter().all(|(id, _)| id == "CVE-2099-0001"));
    assert_eq!(vulns.len(), 8, "{vulns:?}");
    assert_eq!(reg.tokens.violations(), Vec::<String>::new());
}

/// Files in an image, from `docker create` + `docker export`.
pub(crate) fn image_files(image: &str) -> Vec<String> {
    let c = docker(&["create", image, "/nonexistent"]);
    assert!(c.status.success(), "{}", String::from_utf8_lossy(&c.stderr));
    let id = String::from_utf8_lossy(&c.stdout).trim().to_string();
    let tar = docker(&["export", &id]);
    docker(&["rm", &id]);
    let mut a = tar::Archive::new(tar.stdout.as_slice());
    let mut names: Vec<String> = a
        .entries()
        .unwrap()
        .filter_map(|e| {
            let e = e.unwrap();
            (e.header().entry_type() == tar::EntryType::Regular)
                .then(|| e.path().unwrap().to_string_lossy().into_owned())
        })
        .collect();
    names.sort();
    names
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn build_from_scratch_and_push_through_podman() {
    let podman = crate::support::tools::which("podman").unwrap_or_else(|| {
        panic!("podman is missing: run `scripts/setup-test-tools` (apt-get install podman)")
    });
    let reg = Registry::start().await;
    let d = tempfile::tempdir().unwrap();
    let sock = d.path().join(format!("podman-{}.sock", std::process::id()));
    let conf = d.path().join("registries.conf");
    std::fs::write(
        &conf,
        format!(
            "[[registry]]\nlocation = \"{}\"\ninsecure = true\n",
            reg.addr
        ),
    )
    .unwrap();
    let mut service = std::process::Command::new(podman)
        .args([
            "system",
            "service",
            "--time=0",
            &format!("unix://{}", sock.display()),
        ])
        .env("CONTAINERS_REGISTRIES_CONF", &conf)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    for _ in 0..200 {
        if sock.exists() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let ctx = d.path().join("ctx");
    write(
        &ctx,
        &[
            ("Dockerfile", "FROM scratch\nCOPY hello.txt /\n"),
            ("hello.txt", "hi\n"),
        ],
    );
    let out = d.path().join("out.json");
    let image = format!("{}/podman/app", reg.addr);
    let host = format!("unix://{}", sock.display());
    let token = entra_token(TENANT, PUSHER);
    let mut args = build_args(ctx.to_str().unwrap(), &image, out.to_str().unwrap());
    args.extend(["--tag", "p1"]);
    let r = run(
        &args,
        &[("AZURE_ACCESS_TOKEN", &token), ("DOCKER_HOST", &host)],
        d.path(),
    )
    .await;
    let _ = service.kill();
    let _ = service.wait();
    assert_eq!(
        r.code,
        0,
        "stdout:\n{}\nstderr:\n{}\nregistry:\n{}",
        r.stdout,
        r.stderr,
        reg.log()
    );
    let v = outputs(&out);
    assert!(
        v["image-ref"]
            .as_str()
            .unwrap()
            .starts_with(&format!("{image}@sha256:")),
        "{v}"
    );
    assert_eq!(reg.tokens.violations(), Vec::<String>::new());
}

/// A shell for `FROM scratch` images: the host's dash and its loader/libc.
/// A context whose `sh/` holds a shell that runs `FROM scratch` (dash and its loader,
/// from this machine), with `dockerfile` as its Dockerfile.
pub(crate) fn shell_context(ctx: &Path, dockerfile: &str) {
    write(ctx, &[("Dockerfile", dockerfile)]);
    for (src, dst) in [
        ("/usr/bin/dash", "sh/bin/sh"),
        (
            "/lib/x86_64-linux-gnu/libc.so.6",
            "sh/lib/x86_64-linux-gnu/libc.so.6",
        ),
        (
            "/lib64/ld-linux-x86-64.so.2",
            "sh/lib64/ld-linux-x86-64.so.2",
        ),
    ] {
        let p = ctx.join(dst);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::copy(src, p).unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dockerfile_failures_name_the_line() {
    for (builder, exit_text) in [
        ("classic", "returned a non-zero code: 3"),
        ("buildkit", "exit code: 3"),
    ] {
        dockerfile_failures_with(builder, exit_text).await;
    }
}

async fn dockerfile_failures_with(builder: &str, exit_text: &str) {
    let d = tempfile::tempdir().unwrap();
    let ctx = d.path().join("ctx");
    shell_context(
        &ctx,
        "FROM scratch\nCOPY sh/ /\n\n# fails:\nRUN echo first-line && \\\n    echo marker-output && exit 3\n",
    );
    let out = d.path().join("o.json");
    let mut args = build_args(
        ctx.to_str().unwrap(),
        "127.0.0.1:1/x",
        out.to_str().unwrap(),
    );
    args.extend(["--push", "false", "--builder", builder]);
    let r = run(&args, &[], d.path()).await;
    assert_eq!(r.code, 3, "{builder}: {}", r.stderr);
    assert!(
        r.stderr.contains("error (ctx/Dockerfile:5)"),
        "{builder}: {}",
        r.stderr
    );
    assert!(
        r.stderr
            .contains("RUN echo first-line && echo marker-output && exit 3"),
        "{builder}: {}",
        r.stderr
    );
    assert!(r.stderr.contains(exit_text), "{builder}: {}", r.stderr);
    assert!(
        r.stderr.contains("    marker-output"),
        "{builder}: output tail missing: {}",
        r.stderr
    );

    write(
        &ctx,
        &[("Dockerfile", "FROM scratch\nCOPY sh/ /\nRUNN echo\n")],
    );
    let r = run(&args, &[], d.path()).await;
    assert_eq!(r.code, 2, "{builder}: {}", r.stderr);
    assert!(
        r.stderr.contains("(ctx/Dockerfile:3)"),
        "{builder}: {}",
        r.stderr
    );
    assert!(
        r.stderr.contains("unknown instruction"),
        "{builder}: {}",
        r.stderr
    );

    // GitHub: an annotation with file and line.
    let r = run(
        &args,
        &[
            ("GITHUB_ACTIONS", "true"),
            ("GITHUB_WORKSPACE", d.path().to_str().unwrap()),
        ],
        d.path(),
    )
    .await;
    assert!(
        r.stdout
            .contains("::error file=ctx/Dockerfile,line=3,title=Dockerfile syntax error::"),
        "{builder}: {}",
        r.stdout
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_context_is_bad_input() {
    let d = tempfile::tempdir().unwrap();
    let r = run(
        &["build", "--context", "nope", "--image", "r.io/x"],
        &[],
        d.path(),
    )
    .await;
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains("--context") && r.stderr.contains("is not a directory"),
        "{}",
        r.stderr
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registry_refuses_push_without_acrpush() {
    let reg = Registry::start().await;
    let d = tempfile::tempdir().unwrap();
    let ctx = d.path().join("ctx");
    write(
        &ctx,
        &[("Dockerfile", "FROM scratch\nCOPY a /\n"), ("a", "a")],
    );
    let out = d.path().join("o.json");
    let image = format!("{}/denied/app", reg.addr);
    let token = entra_token(TENANT, READER);
    let r = run(
        &build_args(ctx.to_str().unwrap(), &image, out.to_str().unwrap()),
        &[("AZURE_ACCESS_TOKEN", &token)],
        d.path(),
    )
    .await;
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert!(
        r.stderr.contains("AcrPush") && r.stderr.contains(&reg.addr),
        "{}",
        r.stderr
    );
    // A token from another tenant is refused at the exchange.
    let token = entra_token("00000000-1111-2222-3333-444444444444", PUSHER);
    let r = run(
        &build_args(ctx.to_str().unwrap(), &image, out.to_str().unwrap()),
        &[("AZURE_ACCESS_TOKEN", &token)],
        d.path(),
    )
    .await;
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert!(
        r.stderr.contains("refused the Entra token") && r.stderr.contains("AcrPush"),
        "{}",
        r.stderr
    );
    assert_eq!(reg.tokens.violations(), Vec::<String>::new());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registry_stopped_mid_push_then_restarted_is_retried() {
    let reg = std::sync::Arc::new(std::sync::Mutex::new(Registry::start().await));
    let (addr, tokens_fired) = {
        let r = reg.lock().unwrap();
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let tx = std::sync::Mutex::new(Some(tx));
        r.tokens.on_token(move |scope| {
            if scope.contains("push")
                && let Some(tx) = tx.lock().unwrap().take()
            {
                let _ = tx.send(());
            }
        });
        (r.addr.clone(), rx)
    };
    // When the engine asks for its push token, stop the registry; start it 3 s later.
    let reg2 = reg.clone();
    let chaos = std::thread::spawn(move || {
        if tokens_fired.recv_timeout(Duration::from_secs(120)).is_ok() {
            reg2.lock().unwrap().stop();
            std::thread::sleep(Duration::from_secs(3));
            reg2.lock().unwrap().restart();
            true
        } else {
            false
        }
    });
    let d = tempfile::tempdir().unwrap();
    let ctx = d.path().join("ctx");
    let big: String = (0..200_000).map(|i| format!("{i}\n")).collect();
    write(
        &ctx,
        &[
            ("Dockerfile", "FROM scratch\nCOPY big.txt /\n"),
            ("big.txt", &big),
        ],
    );
    let out = d.path().join("o.json");
    let image = format!("{addr}/retry/app");
    let token = entra_token(TENANT, PUSHER);
    let r = run(
        &build_args(ctx.to_str().unwrap(), &image, out.to_str().unwrap()),
        &[("AZURE_ACCESS_TOKEN", &token)],
        d.path(),
    )
    .await;
    assert!(chaos.join().unwrap(), "the push never asked for a token");
    assert_eq!(r.code, 0, "stdout:\n{}\nstderr:\n{}", r.stdout, r.stderr);
    // Either the engine's own layer retry ("Retrying in 5 seconds") or ours
    // ("retrying in 1 s (attempt 2/5)") must have carried the push over the outage.
    assert!(
        r.stderr.contains("Retrying in") || r.stderr.contains("retrying in"),
        "no retry happened:\n{}",
        r.stderr
    );
    assert!(
        outputs(&out)["image-ref"]
            .as_str()
            .unwrap()
            .contains("@sha256:")
    );
}

/// 20,000 files with a `.dockerignore` using `**`, `!` exceptions and excluded build
/// files: our context must hold exactly the files the docker CLI (moby's own
/// patternmatcher) sends for the same tree.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_thousand_files_match_the_docker_cli() {
    let d = tempfile::tempdir().unwrap();
    let ctx = d.path().join("ctx");
    for i in 0..20_000 {
        let dir = match i % 5 {
            0 => "src",
            1 => "node_modules/pkg",
            2 => "logs/deep",
            3 => "docs",
            _ => "assets/img",
        };
        let ext = if i % 7 == 0 { "log" } else { "txt" };
        let p = ctx.join(format!("{dir}/{}/f{i}.{ext}", i % 40));
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, format!("{i}")).unwrap();
    }
    write(
        &ctx,
        &[
            ("Dockerfile", "FROM scratch\nCOPY . /ctx/\n"),
            ("keep.md", "k"),
            ("drop.md", "d"),
            (
                ".dockerignore",
                "# generated\nnode_modules\n**/*.log\n!logs/deep/2/*.log\n*.md\n!keep.md\ndocs/[0-4]*\nDockerfile\n.dockerignore\n",
            ),
        ],
    );
    let build = |image: &'static str, builder: &'static str| {
        let ctx = ctx.clone();
        let cwd = d.path().to_path_buf();
        async move {
            let r = run(
                &[
                    "build",
                    "--context",
                    ctx.to_str().unwrap(),
                    "--image",
                    image,
                    "--push",
                    "false",
                    "--builder",
                    builder,
                ],
                &[],
                &cwd,
            )
            .await;
            assert_eq!(r.code, 0, "{}", r.stderr);
            r
        }
    };
    let image = "aks-backend-test/ctx20k:ours";
    build(image, "classic").await;
    let ours = image_files(image);
    // BuildKit reads the context over the session's file sync, as `docker build` does
    // there: `.dockerignore` applies to everything, the Dockerfile travels on its own.
    let r = build("aks-backend-test/ctx20k:buildkit", "buildkit").await;
    assert!(
        r.stderr.contains("new or changed files") && !r.stderr.contains("0 new or changed"),
        "{}",
        r.stderr
    );
    let bk = image_files("aks-backend-test/ctx20k:buildkit");
    // The engine keeps what it has of this context: a rebuild after one edit sends
    // that one file.
    std::fs::write(ctx.join("src/5/f5.txt"), "edited").unwrap();
    let r = build("aks-backend-test/ctx20k:buildkit2", "buildkit").await;
    assert!(
        r.stderr.contains("; 1 new or changed files (6 bytes) sent"),
        "{}",
        r.stderr
    );
    std::fs::write(ctx.join("src/5/f5.txt"), "5").unwrap();
    let cli = std::process::Command::new("docker")
        .args([
            "build",
            "-q",
            "-t",
            "aks-backend-test/ctx20k:cli",
            ctx.to_str().unwrap(),
        ])
        .env("DOCKER_BUILDKIT", "0")
        .output()
        .unwrap();
    assert!(
        cli.status.success(),
        "{}",
        String::from_utf8_lossy(&cli.stderr)
    );
    let theirs = image_files("aks-backend-test/ctx20k:cli");
    assert!(ours.len() > 5_000, "{}", ours.len());
    // Both are sent (the CLI and we keep them), and the classic builder drops them
    // again on the daemon side because .dockerignore excludes them.
    assert!(
        !ours
            .iter()
            .any(|f| f == "ctx/Dockerfile" || f == "ctx/drop.md")
    );
    assert!(ours.iter().any(|f| f == "ctx/keep.md"));
    assert!(
        ours.iter()
            .any(|f| f.starts_with("ctx/logs/deep/2/") && f.ends_with(".log"))
    );
    assert!(!ours.iter().any(|f| f.starts_with("ctx/node_modules")));
    let only = |a: &[String], b: &[String]| -> Vec<String> {
        a.iter()
            .filter(|f| !b.contains(f))
            .take(10)
            .cloned()
            .collect()
    };
    assert!(
        ours == theirs,
        "our context differs from the docker CLI's: only ours {:?}, only theirs {:?}",
        only(&ours, &theirs),
        only(&theirs, &ours)
    );
    assert!(
        bk == theirs,
        "our BuildKit context differs from the docker CLI's: only ours {:?}, only theirs {:?}",
        only(&bk, &theirs),
        only(&theirs, &bk)
    );
    let _: PathBuf = ctx;
}

/// A Docker config whose `credsStore` names a helper (as `az acr login` leaves it on a
/// laptop): the helper is asked like the docker CLI asks it, and its identity token
/// (`<token>`) pushes through the registry's token auth.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credential_helper_from_the_docker_config_signs_the_push_in() {
    use std::os::unix::fs::PermissionsExt;
    let reg = Registry::start().await;
    let d = tempfile::tempdir().unwrap();
    let ctx = d.path().join("ctx");
    write(
        &ctx,
        &[("Dockerfile", "FROM scratch\nCOPY a /\n"), ("a", "a")],
    );
    let refresh = refresh_token(&reg, PUSHER).await;
    let bin_dir = d.path().join("bin");
    std::fs::create_dir_all(&bin_dir).unwrap();
    let asked = d.path().join("asked.txt");
    let helper = bin_dir.join("docker-credential-akstest");
    std::fs::write(
        &helper,
        format!(
            "#!/bin/sh\n[ \"$1\" = get ] || exit 3\nread -r server || true\necho \"$server\" >> {asked}\nif [ \"$server\" = {addr} ]; then\n  printf '{{\"ServerURL\":\"%s\",\"Username\":\"<token>\",\"Secret\":\"{refresh}\"}}' \"$server\"\nelse\n  echo 'credentials not found in native keychain'; exit 1\nfi\n",
            asked = asked.display(),
            addr = reg.addr,
        ),
    )
    .unwrap();
    std::fs::set_permissions(&helper, std::fs::Permissions::from_mode(0o755)).unwrap();
    let docker_config = d.path().join("docker-config");
    std::fs::create_dir_all(&docker_config).unwrap();
    std::fs::write(
        docker_config.join("config.json"),
        format!(
            r#"{{"auths":{{"{}":{{}}}},"credsStore":"akstest"}}"#,
            reg.addr
        ),
    )
    .unwrap();
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = d.path().join("o.json");
    let image = format!("{}/helper/app", reg.addr);
    let r = run(
        &build_args(ctx.to_str().unwrap(), &image, out.to_str().unwrap()),
        &[
            ("PATH", &path),
            ("DOCKER_CONFIG", docker_config.to_str().unwrap()),
        ],
        d.path(),
    )
    .await;
    assert_eq!(r.code, 0, "stdout:\n{}\nstderr:\n{}", r.stdout, r.stderr);
    assert!(
        r.stderr
            .contains("credentials from docker-credential-akstest"),
        "{}",
        r.stderr
    );
    assert!(!r.stderr.contains(&refresh) && !r.stdout.contains(&refresh));
    assert!(
        outputs(&out)["image-ref"]
            .as_str()
            .unwrap()
            .starts_with(&format!("{image}@sha256:"))
    );
    assert_eq!(
        std::fs::read_to_string(&asked).unwrap().lines().next(),
        Some(reg.addr.as_str())
    );

    // A helper that cannot be run is bad input, named, before anything is built.
    std::fs::write(
        docker_config.join("config.json"),
        r#"{"credsStore":"not-installed-here"}"#,
    )
    .unwrap();
    let r = run(
        &build_args(ctx.to_str().unwrap(), &image, out.to_str().unwrap()),
        &[
            ("PATH", &path),
            ("DOCKER_CONFIG", docker_config.to_str().unwrap()),
        ],
        d.path(),
    )
    .await;
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("docker-credential-not-installed-here cannot be run"),
        "{}",
        r.stderr
    );
    assert!(
        !r.stderr.contains("#1 "),
        "built before the sign-in failed:\n{}",
        r.stderr
    );
    assert_eq!(reg.tokens.violations(), Vec::<String>::new());
}
