//! `--compose` (issue #17): Compose files of our own (tests/it/fixtures/compose/) turned
//! into components. The rendered objects pass `kubernetes-validate --strict`; the app
//! deploys on the fake cluster service by service, and a crashing service rolls back
//! alone; what cannot carry over is refused (exit 2) or named per service.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::support::fake_cluster::{FakeCluster, deploy_with};

const D1: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
const D2: &str = "sha256:2222222222222222222222222222222222222222222222222222222222222222";

fn fixture(rel: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/it/fixtures/compose")
        .join(rel)
        .display()
        .to_string()
}

/// `kubernetes-validate`: `$KUBERNETES_VALIDATE`, else where `scripts/setup-test-tools`
/// installs it.
fn kubernetes_validate() -> PathBuf {
    let p = std::env::var("KUBERNETES_VALIDATE")
        .map(PathBuf::from)
        .unwrap_or_else(|_| {
            crate::support::tools::tools_dir()
                .join("kubernetes-validate-1.37.0/bin/kubernetes-validate")
        });
    assert!(
        p.is_file(),
        "kubernetes-validate is missing at {}: run `eval \"$(scripts/setup-test-tools)\"`",
        p.display()
    );
    p
}

/// Every rendered object passes the Kubernetes schema, strictly (CRDs it has no schema
/// for, ExternalSecret, are warned about, not failed).
fn assert_valid(dir: &Path) {
    let files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    assert!(!files.is_empty());
    let out = Command::new(kubernetes_validate())
        .arg("--strict")
        .arg("--quiet")
        .args(&files)
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{text}");
    assert!(!text.contains("ERROR"), "{text}");
}

fn shop_args(dir: &Path) -> Vec<String> {
    let img = |s: &str, d: &str| format!("registry.example.com/team/{s}@{d}");
    vec![
        "--compose".into(),
        fixture("shop/compose.yaml"),
        "--compose".into(),
        fixture("shop/compose.override.yaml"),
        "--namespace".into(),
        "shop".into(),
        "--image-prefix".into(),
        "registry.example.com/team".into(),
        "--images".into(),
        [
            img("proxy", D1),
            img("web", D1),
            img("api", D1),
            img("worker", D1),
            img("toolbox", D1),
        ]
        .join("\n"),
        "--mysql-host".into(),
        "shop.mysql.database.azure.com".into(),
        "--render-dir".into(),
        dir.join("rendered").display().to_string(),
    ]
}

fn strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

#[test]
fn a_compose_app_renders_every_object_and_a_plan_naming_every_service() {
    let d = tempfile::tempdir().unwrap();
    let mut args = shop_args(d.path());
    args.extend([
        "--host".into(),
        "shop.example.com".into(),
        "--dry-run".into(),
    ]);
    let out = deploy_with(None, d.path(), &strs(&args));
    assert_eq!(out.code, 0, "{out:?}");
    let plan: Value = serde_json::from_str(&out.stdout).unwrap();
    let objs = plan["objects"].as_array().unwrap();
    let named = |kind: &str, name: &str| {
        objs.iter()
            .find(|o| o["kind"] == kind && o["metadata"]["name"] == name)
            .unwrap_or_else(|| panic!("no {kind}/{name} in {plan:#}"))
    };
    // One Deployment per service, each scaled on its own; the override file counted.
    assert_eq!(named("Deployment", "web")["spec"]["replicas"], 3);
    assert_eq!(named("Deployment", "worker")["spec"]["replicas"], 1);
    assert_eq!(
        named("HorizontalPodAutoscaler", "api")["spec"]["maxReplicas"],
        6
    );
    // Exactly one Ingress, for the only service publishing a port, on its port.
    let ingresses: Vec<&Value> = objs.iter().filter(|o| o["kind"] == "Ingress").collect();
    assert_eq!(ingresses.len(), 1);
    assert_eq!(
        ingresses[0]["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"],
        serde_json::json!({"name": "proxy", "port": {"number": 8443}})
    );
    // Services keep the Compose names and ports: `http://api:8000` keeps working.
    assert_eq!(named("Service", "api")["spec"]["ports"][0]["port"], 8000);
    assert!(
        !objs
            .iter()
            .any(|o| o["kind"] == "Service" && o["metadata"]["name"] == "worker")
    );
    // MySQL is not deployed: `db` is the shared Azure MySQL, passwords from Key Vault.
    assert_eq!(
        named("Service", "db")["spec"]["externalName"],
        "shop.mysql.database.azure.com"
    );
    assert!(
        !objs
            .iter()
            .any(|o| o["kind"] == "Deployment" && o["metadata"]["name"] == "db")
    );
    let api = &named("Deployment", "api")["spec"]["template"]["spec"]["containers"][0];
    let env = api["env"].to_string();
    assert!(
        env.contains("mysql-root-password") || env.contains("secretKeyRef"),
        "{api}"
    );
    assert!(
        !env.contains("example"),
        "the file's password is not deployed: {api}"
    );
    assert!(
        env.contains("LOG_LEVEL") && env.contains("FEATURE_FLAGS"),
        "{api}"
    );
    assert_eq!(api["readinessProbe"]["httpGet"]["path"], "/ready");
    assert!(
        api["volumeMounts"]
            .to_string()
            .contains("/run/secrets/api_key"),
        "{api}"
    );
    let web = &named("Deployment", "web")["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(web["livenessProbe"]["httpGet"]["path"], "/healthz");
    assert_eq!(web["livenessProbe"]["periodSeconds"], 10);
    let worker = &named("Deployment", "worker")["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(worker["args"][4], "orders high");
    assert_eq!(worker["securityContext"]["runAsUser"], 1000);
    // The bind-mounted nginx.conf is a ConfigMap mounted where Compose mounted it.
    let cm = named("ConfigMap", "proxy-config");
    assert!(
        cm["data"]["nginx.conf"]
            .as_str()
            .unwrap()
            .contains("proxy_pass")
    );
    let proxy = &named("Deployment", "proxy")["spec"]["template"]["spec"]["containers"][0];
    assert!(
        proxy["volumeMounts"]
            .to_string()
            .contains("/etc/nginx/nginx.conf"),
        "{proxy}"
    );
    // The debug profile is off.
    assert!(!objs.iter().any(|o| o["metadata"]["name"] == "debug"));
    // Nothing dropped without a word.
    let warnings = plan["warnings"].to_string();
    for w in [
        "proxy: `container_name`",
        "proxy: `restart`",
        "api: `depends_on`",
    ] {
        assert!(warnings.contains(w), "{w} in {warnings}");
    }

    let rendered = d.path().join("rendered");
    let md = std::fs::read_to_string(rendered.join("plan.md")).unwrap();
    for s in [
        "| proxy |",
        "| web |",
        "| api |",
        "| worker |",
        "| db | not deployed",
        "| debug | not deployed",
    ] {
        assert!(md.contains(s), "{s} in {md}");
    }
    let files = std::fs::read_dir(&rendered).unwrap().count();
    assert_eq!(files, objs.len() + 1, "one file per object, and plan.md");
    assert_valid(&rendered);
}

#[test]
fn a_compose_profile_brings_its_services_in() {
    let d = tempfile::tempdir().unwrap();
    let mut args = shop_args(d.path());
    args.extend([
        "--compose-profile".into(),
        "debug".into(),
        "--dry-run".into(),
    ]);
    let out = deploy_with(None, d.path(), &strs(&args));
    assert_eq!(out.code, 0, "{out:?}");
    let plan: Value = serde_json::from_str(&out.stdout).unwrap();
    let debug = plan["objects"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["kind"] == "Deployment" && o["metadata"]["name"] == "debug")
        .expect("the debug service");
    assert_eq!(
        debug["spec"]["template"]["spec"]["containers"][0]["args"][0],
        "sleep"
    );
}

#[test]
fn what_would_weaken_the_cluster_is_refused_unless_allowed() {
    let d = tempfile::tempdir().unwrap();
    let f = fixture("unsafe/compose.yaml");
    let out = deploy_with(None, d.path(), &["--compose", &f, "--dry-run"]);
    assert_eq!(out.code, 2, "{out:?}");
    assert!(
        out.stderr.contains("services.agent.privileged"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("--compose-allow privileged"),
        "{}",
        out.stderr
    );
    let out = deploy_with(
        None,
        d.path(),
        &[
            "--compose",
            &f,
            "--compose-allow",
            "privileged",
            "--dry-run",
        ],
    );
    assert_eq!(out.code, 2, "{out:?}");
    assert!(out.stderr.contains("Docker socket"), "{}", out.stderr);
    let out = deploy_with(
        None,
        d.path(),
        &[
            "--compose",
            &f,
            "--compose-allow",
            "privileged,docker-socket",
            "--dry-run",
        ],
    );
    assert_eq!(out.code, 0, "{out:?}");
    assert!(
        out.stderr.contains("agent: `privileged` dropped"),
        "{}",
        out.stderr
    );
}

#[test]
fn state_is_refused_unless_kept_in_the_cluster_as_a_stateful_set() {
    let d = tempfile::tempdir().unwrap();
    let f = fixture("stateful/compose.yaml");
    let refused = deploy_with(None, d.path(), &["--compose", &f, "--dry-run"]);
    assert_eq!(refused.code, 2, "{refused:?}");
    assert!(
        refused.stderr.contains("services.cache"),
        "{}",
        refused.stderr
    );
    assert!(refused.stderr.contains("in-cluster"), "{}", refused.stderr);
    let dir = d.path().join("rendered");
    let r = dir.display().to_string();
    let kept = deploy_with(
        None,
        d.path(),
        &[
            "--compose",
            &f,
            "--stateful",
            "in-cluster",
            "--dry-run",
            "--render-dir",
            &r,
        ],
    );
    assert_eq!(kept.code, 0, "{kept:?}");
    let plan: Value = serde_json::from_str(&kept.stdout).unwrap();
    let sts = plan["objects"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["kind"] == "StatefulSet")
        .expect("a StatefulSet");
    assert_eq!(sts["metadata"]["name"], "cache");
    assert_eq!(
        sts["spec"]["volumeClaimTemplates"][0]["metadata"]["name"],
        "cache-data"
    );
    assert_valid(&dir);
}

#[test]
fn a_compose_file_the_schema_refuses_names_the_file_and_the_key_path() {
    let d = tempfile::tempdir().unwrap();
    let f = fixture("invalid/compose.yaml");
    let out = deploy_with(None, d.path(), &["--compose", &f, "--dry-run"]);
    assert_eq!(out.code, 2, "{out:?}");
    assert!(
        out.stderr.contains("invalid/compose.yaml"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("services.web.ports.0"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("publishd"), "{}", out.stderr);
    // A required variable without a value names it and its message.
    let d2 = tempfile::tempdir().unwrap();
    let c = d2.path().join("compose.yaml");
    std::fs::write(
        &c,
        "services:\n  a:\n    image: \"r.example.com/a:${TAG:?set TAG}\"\n",
    )
    .unwrap();
    let out = deploy_with(
        None,
        d2.path(),
        &["--compose", c.to_str().unwrap(), "--dry-run"],
    );
    assert_eq!(out.code, 2, "{out:?}");
    assert!(
        out.stderr.contains("TAG") && out.stderr.contains("set TAG"),
        "{}",
        out.stderr
    );
}

/// A Compose app of three services given by digest (api and web at `d`, the worker as
/// `worker`, `NAME@DIGEST`), written to `compose`.
fn write_three(compose: &Path, d: &str, worker: &str) {
    std::fs::write(
        compose,
        format!(
            "services:\n  api:\n    image: registry.example.com/team/api@{d}\n    ports: [\"8080:8080\"]\n  web:\n    image: registry.example.com/team/web@{d}\n    expose: [\"3000\"]\n  worker:\n    image: registry.example.com/team/{worker}\n    command: [\"work\"]\n"
        ),
    )
    .unwrap();
}

/// The deploy arguments for [`write_three`]'s app.
fn three_args(compose: &Path) -> Vec<String> {
    let path = compose.display().to_string();
    [
        "--compose",
        &path,
        "--namespace",
        "shop",
        "--timeout",
        "60s",
        "--replicas",
        "1",
    ]
    .map(String::from)
    .to_vec()
}

/// Three services on the fake cluster: each its own Deployment tracked under one
/// deadline; the crashing one fails and rolls back alone, the others stay healthy.
#[test]
fn a_compose_app_deploys_and_a_crashing_service_rolls_back_alone() {
    let c = FakeCluster::start(0.05);
    let app = c.dir.path().join("app");
    std::fs::create_dir_all(&app).unwrap();
    let compose = app.join("compose.yaml");
    write_three(&compose, D1, &format!("worker@{D1}"));
    let base = three_args(&compose);
    let ok = c.deploy(&strs(&base));
    assert_eq!(ok.code, 0, "{ok:?}");
    let mut names: Vec<String> = c
        .objects("deployments.apps", "shop")
        .iter()
        .map(|d| d["metadata"]["name"].as_str().unwrap().to_string())
        .collect();
    names.sort();
    assert_eq!(names, ["api", "web", "worker"]);
    assert_eq!(ok.report()["workloads"].as_array().unwrap().len(), 3);

    write_three(&compose, D1, &format!("crashes@{D2}"));
    let bad = c.deploy(&strs(&base));
    assert_eq!(bad.code, 1, "{bad:?}");
    let ws = bad.report()["workloads"].as_array().unwrap().clone();
    let worker = ws.iter().find(|w| w["name"] == "worker").unwrap();
    assert_eq!(worker["verdict"], "failed", "{worker}");
    assert_eq!(worker["rollback"]["verdict"], "healthy", "{worker}");
    for name in ["api", "web"] {
        let w = ws.iter().find(|w| w["name"] == name).unwrap();
        assert_eq!(w["verdict"], "healthy", "{w}");
    }
}

/// Every service changes and one crashes: the others are tracked to their own verdict
/// (healthy, not cancelled) and only the crashing one is rolled back, so a new build of a
/// whole app keeps its good services.
#[test]
fn when_every_service_changes_only_the_crashing_one_rolls_back() {
    let c = FakeCluster::start(0.05);
    let app = c.dir.path().join("app");
    std::fs::create_dir_all(&app).unwrap();
    let compose = app.join("compose.yaml");
    write_three(&compose, D1, &format!("worker@{D1}"));
    let base = three_args(&compose);
    let ok = c.deploy(&strs(&base));
    assert_eq!(ok.code, 0, "{ok:?}");

    write_three(&compose, D2, &format!("crashes@{D2}"));
    let bad = c.deploy(&strs(&base));
    assert_eq!(bad.code, 1, "{bad:?}");
    let ws = bad.report()["workloads"].as_array().unwrap().clone();
    let worker = ws.iter().find(|w| w["name"] == "worker").unwrap();
    assert_eq!(worker["verdict"], "failed", "{worker}");
    assert_eq!(worker["rollback"]["verdict"], "healthy", "{worker}");
    for name in ["api", "web"] {
        let w = ws.iter().find(|w| w["name"] == name).unwrap();
        assert_eq!(w["verdict"], "healthy", "{w}");
        assert!(w["rollback"].is_null(), "{w}");
    }
    // The new api and web stay: they run D2.
    for d in c.objects("deployments.apps", "shop") {
        let image = d["spec"]["template"]["spec"]["containers"][0]["image"]
            .as_str()
            .unwrap()
            .to_string();
        if d["metadata"]["name"] != "worker" {
            assert!(image.ends_with(D2), "{image}");
        }
    }
}

/// Several services publishing ports and none named: which one is public is asked, not
/// guessed; `--public` settles it, and a UDP port is not what the gateway can serve.
#[test]
fn an_ambiguous_public_service_is_asked_for_and_udp_is_not_public() {
    let d = tempfile::tempdir().unwrap();
    let f = d.path().join("compose.yaml");
    std::fs::write(
        &f,
        format!(
            "services:\n  a:\n    image: r.example.com/a@{D1}\n    ports: [\"80:8080\"]\n  b:\n    image: r.example.com/b@{D1}\n    ports: [\"81:9090\", \"53:53/udp\"]\n  dns:\n    image: r.example.com/dns@{D1}\n    ports: [\"5353:53/udp\"]\n"
        ),
    )
    .unwrap();
    let f = f.display().to_string();
    let out = deploy_with(None, d.path(), &["--compose", &f, "--dry-run"]);
    assert_eq!(out.code, 2, "{out:?}");
    assert!(out.stderr.contains("a, b"), "{}", out.stderr);
    assert!(out.stderr.contains("--public"), "{}", out.stderr);
    let out = deploy_with(
        None,
        d.path(),
        &[
            "--compose",
            &f,
            "--public",
            "b",
            "--host",
            "b.example.com",
            "--dry-run",
        ],
    );
    assert_eq!(out.code, 0, "{out:?}");
    let plan: Value = serde_json::from_str(&out.stdout).unwrap();
    let ing: Vec<&Value> = plan["objects"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|o| o["kind"] == "Ingress")
        .collect();
    assert_eq!(ing.len(), 1);
    assert_eq!(ing[0]["metadata"]["name"], "b");
    let out = deploy_with(
        None,
        d.path(),
        &["--compose", &f, "--public", "dns", "--dry-run"],
    );
    assert_eq!(out.code, 2, "{out:?}");
    assert!(out.stderr.contains("UDP"), "{}", out.stderr);
}

/// `src` copied into `dst`, files and folders (so a test can change the copy).
fn copy_dir(src: &Path, dst: &Path) {
    std::fs::create_dir_all(dst).unwrap();
    for e in std::fs::read_dir(src).unwrap() {
        let e = e.unwrap();
        let to = dst.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &to);
        } else {
            std::fs::copy(e.path(), to).unwrap();
        }
    }
}

/// The Trivy fixture image (`trivy-fixture/debian12-vuln:test`) loaded into the engine.
fn load_fixture_image() {
    let out = Command::new("docker")
        .args(["load", "-i"])
        .arg(crate::support::tools::trivy_fixture().join("image.tar"))
        .output()
        .unwrap();
    assert!(out.status.success(), "docker load failed");
}

/// The three-service fixture copied into `dir` (so a test can change it), with the Trivy
/// fixture image loaded into the engine (the web is built from it: no pulls).
fn three_services(dir: &Path) -> PathBuf {
    let app = dir.join("three");
    copy_dir(Path::new(&fixture("three")), &app);
    load_fixture_image();
    app.join("compose.yaml")
}

/// The hermetic stack a `run --compose` meets: the GitHub mock (PR 7), the token-auth
/// registry, the fake cluster, the offline Trivy DB.
struct Stack {
    mock: crate::support::github::GitHubMock,
    reg: crate::support::registry::Registry,
    cluster: FakeCluster,
    dir: tempfile::TempDir,
    cache: tempfile::TempDir,
    env: Vec<(String, String)>,
    /// `--image-prefix`: built images are PREFIX/SERVICE.
    prefix: String,
}

impl Stack {
    async fn start() -> Stack {
        use crate::support::acr_token_service::entra_token;
        use crate::support::registry::{PUSHER, TENANT};
        let mock = crate::support::github::GitHubMock::start().await;
        let reg = crate::support::registry::Registry::start().await;
        let cluster = FakeCluster::start(0.05);
        let dir = tempfile::tempdir().unwrap();
        let mut env = crate::run::github_env(&mock, dir.path());
        env.push(("AZURE_ACCESS_TOKEN".into(), entra_token(TENANT, PUSHER)));
        let prefix = format!("{}/shop", reg.addr);
        Stack {
            mock,
            reg,
            cluster,
            dir,
            cache: crate::support::tools::trivy_cache(),
            env,
            prefix,
        }
    }

    /// `run --compose FILE...` with the stack's registry, cluster and offline Trivy, the
    /// outputs in `outputs.json`, then `extra`.
    async fn run(&self, files: &[&Path], extra: &[&str]) -> std::process::Output {
        use crate::run::strings;
        let mut a = strings(&["run"]);
        for f in files {
            a.extend(strings(&["--compose", f.to_str().unwrap()]));
        }
        a.extend(strings(&[
            "--image-prefix",
            &self.prefix,
            "--app",
            "shop",
            "--kubeconfig",
            self.cluster.kubeconfig.to_str().unwrap(),
            "--namespace",
            "shop",
            "--timeout",
            "60s",
            "--registry-insecure",
            "--acr-hosts",
            &self.reg.addr,
            "--fail-on-findings",
            "false",
            "--sarif-wait",
            "30s",
            "--outputs-file",
            self.dir.path().join("outputs.json").to_str().unwrap(),
        ]));
        a.extend(crate::support::tools::offline_trivy(self.cache.path()));
        a.extend(strings(extra));
        crate::run::aks_backend(a, self.env.clone(), self.dir.path()).await
    }

    fn outputs(&self) -> Value {
        let text = std::fs::read_to_string(self.dir.path().join("outputs.json")).unwrap();
        serde_json::from_str(&text).unwrap()
    }

    fn deployments(&self) -> Vec<Value> {
        let mut d = self.cluster.objects("deployments.apps", "shop");
        d.sort_by_key(|d| {
            d["metadata"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        });
        d
    }

    /// (Deployment name, its container's image), by name.
    fn deployed(&self) -> Vec<(String, String)> {
        self.deployments()
            .iter()
            .map(|d| {
                (
                    d["metadata"]["name"].as_str().unwrap().to_string(),
                    d["spec"]["template"]["spec"]["containers"][0]["image"]
                        .as_str()
                        .unwrap()
                        .to_string(),
                )
            })
            .collect()
    }

    /// The one PR comment.
    fn comment(&self) -> String {
        let comments = self.mock.comments_on(7);
        assert_eq!(comments.len(), 1, "one comment, never two");
        comments[0].body.clone()
    }

    /// The automationDetails ids of the one SARIF upload's runs, sorted.
    fn sarif_categories(&self) -> Vec<String> {
        let sarifs = self.mock.with(|s| s.sarifs.clone());
        let last = sarifs.last().expect("a SARIF upload");
        let mut ids: Vec<String> = last.sarif["runs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["automationDetails"]["id"].as_str().unwrap().to_string())
            .collect();
        ids.sort();
        ids.dedup();
        ids
    }

    /// The Trivy fixture image pushed to the stack's registry as `repo_tag` (what an
    /// `image:` service names) by the docker CLI, with an ACR refresh token for the pusher
    /// in a config dir of its own (not `docker login`: the engine's global login stays
    /// untouched, and the token service wants a scope, which a login has not).
    async fn push_fixture_image(&self, repo_tag: &str) -> String {
        use base64::Engine as _;
        let rt = crate::build::refresh_token(&self.reg, crate::support::registry::PUSHER).await;
        let config = self.dir.path().join("docker-config");
        std::fs::create_dir_all(&config).unwrap();
        let auth = base64::engine::general_purpose::STANDARD
            .encode(format!("00000000-0000-0000-0000-000000000000:{rt}"));
        let auths = serde_json::json!({"auths": {self.reg.addr.as_str(): {"auth": auth}}});
        std::fs::write(config.join("config.json"), auths.to_string()).unwrap();
        let docker = |args: &[&str]| {
            let out = Command::new("docker")
                .env("DOCKER_CONFIG", &config)
                .args(args)
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "docker {args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            String::from_utf8_lossy(&out.stdout).into_owned()
        };
        load_fixture_image();
        docker(&["tag", "trivy-fixture/debian12-vuln:test", repo_tag]);
        let pushed = docker(&["push", repo_tag]);
        docker(&["rmi", repo_tag]);
        // `TAG: digest: sha256:... size: N`
        pushed
            .split_whitespace()
            .find(|w| w.starts_with("sha256:"))
            .unwrap_or_else(|| panic!("no digest in {pushed}"))
            .to_string()
    }

    /// The shop fixture copied into the stack's dir, its `image:` services (proxy,
    /// toolbox) pointing at the stack's registry, where the Trivy fixture image is
    /// pushed under their names: scannable and pullable, nothing skipped. The toolbox is
    /// pinned as a careful Compose file pins it (`NAME:TAG@DIGEST`); the proxy keeps its
    /// bare tag, as most Compose files have it, and `run` pins it at the digest it
    /// scanned. Returns the compose file, the override file and the proxy's digest.
    async fn shop(&self) -> (PathBuf, PathBuf, String) {
        let app = self.dir.path().join("shop");
        copy_dir(Path::new(&fixture("shop")), &app);
        let compose = app.join("compose.yaml");
        let mut text = std::fs::read_to_string(&compose).unwrap();
        let mut proxy = String::new();
        for name in ["proxy:1.27", "toolbox:1"] {
            let ours = format!("{}/team/{name}", self.reg.addr);
            let digest = self.push_fixture_image(&ours).await;
            let pinned = if name.starts_with("proxy") {
                proxy = digest;
                ours
            } else {
                format!("{ours}@{digest}")
            };
            text = text.replace(
                &format!("registry.example.com/team/{name}\n"),
                &format!("{pinned}\n"),
            );
        }
        assert!(!text.contains("registry.example.com"), "{text}");
        std::fs::write(&compose, text).unwrap();
        (compose, app.join("compose.override.yaml"), proxy)
    }
}

fn container(d: &Value) -> &Value {
    &d["spec"]["template"]["spec"]["containers"][0]
}

/// `run --compose` end to end: three services built by the real engine (BuildKit,
/// concurrently, one sign-in), pushed to the token-auth registry, each scanned once by
/// the real Trivy (one SARIF run per image, one gate), deployed by digest on the fake
/// cluster; the PR comment has a row per service. Then the next commit changes every
/// service and makes the worker crash: a second full `run` deploys the new api and web,
/// and rolls the worker back alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_compose_builds_scans_and_deploys_every_service_and_a_crashing_rebuild_rolls_back_alone()
 {
    let st = Stack::start().await;
    let compose = three_services(st.dir.path());
    let out = st.run(&[&compose], &["--replicas", "1"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", crate::run::say(&out));

    // Every built image pushed as PREFIX/SERVICE and deployed by that digest.
    let o = st.outputs();
    let first_images = o["images"].as_str().unwrap().to_string();
    let images: Vec<&str> = first_images.lines().collect();
    assert_eq!(images.len(), 3, "{o}");
    let deployed = st.deployed();
    assert_eq!(deployed.len(), 3, "{deployed:?}");
    for (name, image) in &deployed {
        assert!(
            image.starts_with(&format!("{}/{name}@sha256:", st.prefix)),
            "{name}: {image}"
        );
        assert!(
            images.contains(&image.as_str()),
            "{image} not in {images:?}"
        );
    }
    // One Entra exchange for the three pushes and the three pulls.
    assert_eq!(st.reg.tokens.log.lock().unwrap().exchanges, 1);
    // One gate over the three images: the web (from the fixture) has its findings.
    assert_eq!(o["gate"], "report-only", "{o}");
    assert_eq!(o["critical"], "4", "{o}");
    // One SARIF upload with one run per image, each its own category.
    assert_eq!(st.mock.with(|s| s.sarifs.len()), 1);
    assert_eq!(st.sarif_categories().len(), 3);
    // The comment names every service with its digest and its findings.
    let body = st.comment();
    for (name, image) in &deployed {
        assert!(
            body.contains(image.as_str()),
            "{name} digest missing from\n{body}"
        );
        assert!(
            body.contains(&format!("{name} findings")),
            "{name} missing from\n{body}"
        );
    }
    let summary = std::fs::read_to_string(st.dir.path().join("summary.md")).unwrap();
    assert!(
        summary.contains("| web |") && summary.contains("| worker |"),
        "{summary}"
    );

    // The next commit: every service's files change (so every digest does), and the
    // worker now crashes (the fake cluster's test-only switch, set the Compose way).
    let app = compose.parent().unwrap();
    for f in ["web/index.html", "api/app.txt", "worker/worker.txt"] {
        std::fs::write(app.join(f), format!("{f}, second commit\n")).unwrap();
    }
    let crash = app.join("compose.crash.yaml");
    std::fs::write(
        &crash,
        "services:\n  worker:\n    environment:\n      FAKE_CLUSTER_BEHAVIOUR: crashes\n",
    )
    .unwrap();
    let bad = st.run(&[&compose, &crash], &["--replicas", "1"]).await;
    assert_eq!(bad.status.code(), Some(1), "{}", crate::run::say(&bad));
    let o = st.outputs();
    assert_eq!(o["rollout"], "failed", "{o}");
    assert_eq!(o["rolled-back"], "true", "{o}");
    let second_images = o["images"].as_str().unwrap().to_string();
    let second: Vec<&str> = second_images.lines().collect();
    assert_eq!(second.len(), 3, "{o}");
    for image in &second {
        assert!(
            !images.contains(image),
            "{image} was not rebuilt: {images:?}"
        );
    }
    let r: Value = serde_json::from_str(o["deploy-report"].as_str().unwrap()).unwrap();
    let ws = r["workloads"].as_array().unwrap();
    let w = ws.iter().find(|w| w["name"] == "worker").unwrap();
    assert_eq!(w["verdict"], "failed", "{w}");
    assert_eq!(w["rollback"]["verdict"], "healthy", "{w}");
    for name in ["api", "web"] {
        let w = ws.iter().find(|w| w["name"] == name).unwrap();
        assert_eq!(w["verdict"], "healthy", "{w}");
        assert!(w["rollback"].is_null(), "{w}");
    }
    // The api and the web stay on their new digests; the worker is back on its first.
    for (name, image) in st.deployed() {
        let want = if name == "worker" { &images } else { &second };
        assert!(
            want.contains(&image.as_str()),
            "{name}: {image} not in {want:?}"
        );
    }
    // The same comment, updated: every service, and the rollback.
    let body = st.comment();
    for name in ["web", "api", "worker"] {
        assert!(
            body.contains(&format!("{name} findings")),
            "{name} missing from\n{body}"
        );
    }
    for image in &second {
        assert!(body.contains(image), "{image} missing from\n{body}");
    }
    assert!(body.contains("rolled back: healthy"), "{body}");
}

/// The shop (tests/it/fixtures/compose/shop) with its override file, end to end: the
/// web, api and worker built and pushed, the `image:` proxy pulled by Trivy from the
/// registry and scanned with them, MySQL not deployed but the shared server standing in
/// (its host and Key Vault secret as `infra` names them), the proxy's bind-mounted
/// nginx.conf a ConfigMap, secrets from Key Vault, healthchecks as probes, what cannot
/// carry over named; the comment shows every service.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_compose_ships_the_shop_with_its_override_file_proxy_secrets_and_the_shared_mysql() {
    let st = Stack::start().await;
    let (compose, over, proxy_digest) = st.shop().await;
    let out = st.run(&[&compose, &over], &SHARED_MYSQL).await;
    assert_eq!(out.status.code(), Some(0), "{}", crate::run::say(&out));
    // What cannot carry over is named, per service, as workflow warnings.
    let log = String::from_utf8_lossy(&out.stdout);
    for w in [
        "::warning::proxy: `container_name`",
        "::warning::proxy: `restart`",
        "::warning::api: `depends_on`",
    ] {
        assert!(log.contains(w), "{w} in {log}");
    }
    // Four images, one Trivy DB opening: one `trivy server`, each scan its client.
    assert_eq!(
        log.matches("Trivy server at http://127.0.0.1:").count(),
        1,
        "{log}"
    );
    assert_eq!(
        log.matches(" --server=http://127.0.0.1:").count(),
        4,
        "{log}"
    );

    let built = st.outputs()["images"].as_str().unwrap().to_string();
    let deployed = st.deployed();
    let names: Vec<&str> = deployed.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["api", "proxy", "web", "worker"], "no db, no debug");
    for (name, image) in &deployed {
        if name == "proxy" {
            // `image: REGISTRY/team/proxy:1.27` deployed at the digest that was scanned.
            assert_eq!(image, &format!("{}/team/proxy@{proxy_digest}", st.reg.addr));
        } else {
            assert!(
                image.starts_with(&format!("{}/{name}@sha256:", st.prefix)),
                "{name}: {image}"
            );
            assert!(built.lines().any(|l| l == image), "{image} not in {built}");
        }
    }
    assert_shop_deployed(&st);

    // Four images scanned (the proxy from the registry: the fixture's 4 criticals), one
    // SARIF run each, one gate.
    let o = st.outputs();
    assert_eq!(o["gate"], "report-only", "{o}");
    assert_eq!(o["critical"], "4", "{o}");
    assert_eq!(
        st.sarif_categories().len(),
        4,
        "{:?}",
        st.sarif_categories()
    );
    let body = st.comment();
    for (name, image) in &deployed {
        assert!(
            body.contains(&format!("{name} findings")),
            "{name} missing from\n{body}"
        );
        if name != "proxy" {
            assert!(
                body.contains(image.as_str()),
                "{image} missing from\n{body}"
            );
        }
    }
}

/// `--compose-profile debug` brings the toolbox in: pulled from the registry, scanned
/// and deployed with the rest.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_compose_with_a_profile_also_scans_and_deploys_the_profiles_services() {
    let st = Stack::start().await;
    let (compose, over, _) = st.shop().await;
    let mut extra = SHARED_MYSQL.to_vec();
    extra.extend(["--compose-profile", "debug"]);
    let out = st.run(&[&compose, &over], &extra).await;
    assert_eq!(out.status.code(), Some(0), "{}", crate::run::say(&out));
    let deployed = st.deployed();
    let names: Vec<&str> = deployed.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["api", "debug", "proxy", "web", "worker"]);
    let (_, toolbox) = &deployed[1];
    assert!(
        toolbox.starts_with(&format!("{}/team/toolbox", st.reg.addr)),
        "{toolbox}"
    );
    assert_shop_deployed(&st);
    // Both pulled images are the fixture's: 4 criticals each.
    let o = st.outputs();
    assert_eq!(o["critical"], "8", "{o}");
    assert_eq!(
        st.sarif_categories().len(),
        5,
        "{:?}",
        st.sarif_categories()
    );
    let body = st.comment();
    for name in names {
        assert!(
            body.contains(&format!("{name} findings")),
            "{name} missing from\n{body}"
        );
    }
}

/// The shared MySQL as `infra` leaves it: its host (`mysql-fqdn`) and the Key Vault
/// secret with its password (`mysql-admin-secret`).
const SHARED_MYSQL: [&str; 4] = [
    "--mysql-host",
    "shop-mysql.mysql.database.azure.com",
    "--mysql-password-secret",
    "mysql-admin-password",
];

/// What the shop's Compose file became on the cluster, service by service.
fn assert_shop_deployed(st: &Stack) {
    let ds = st.deployments();
    let d = |name: &str| {
        ds.iter()
            .find(|d| d["metadata"]["name"] == name)
            .unwrap_or_else(|| panic!("no Deployment {name}"))
    };
    // The override file counted: three web replicas, the api's FEATURE_FLAGS.
    assert_eq!(d("web")["spec"]["replicas"], 3);
    let web = container(d("web"));
    assert_eq!(web["livenessProbe"]["httpGet"]["path"], "/healthz");
    let api = container(d("api"));
    let env = api["env"].to_string();
    assert!(
        env.contains("FEATURE_FLAGS") && env.contains("checkout"),
        "{api}"
    );
    // MySQL: not deployed; `db` is the shared server, the password from Key Vault.
    let db = st
        .cluster
        .objects("services", "shop")
        .into_iter()
        .find(|s| s["metadata"]["name"] == "db")
        .expect("Service db");
    assert_eq!(
        db["spec"]["externalName"],
        "shop-mysql.mysql.database.azure.com"
    );
    assert!(env.contains("secretKeyRef"), "{api}");
    assert!(
        !env.contains("example"),
        "the file's password is not deployed: {api}"
    );
    assert_eq!(api["readinessProbe"]["httpGet"]["path"], "/ready");
    let externals = st
        .cluster
        .objects("externalsecrets.external-secrets.io", "shop");
    let keys = serde_json::to_string(&externals).unwrap();
    assert!(keys.contains("mysql-admin-password"), "{keys}");
    assert!(
        api["volumeMounts"]
            .to_string()
            .contains("/run/secrets/api_key"),
        "{api}"
    );
    // The proxy's bind-mounted nginx.conf: a ConfigMap mounted where Compose mounted it.
    let cm = st
        .cluster
        .objects("configmaps", "shop")
        .into_iter()
        .find(|c| c["metadata"]["name"] == "proxy-config")
        .expect("ConfigMap proxy-config");
    assert!(
        cm["data"]["nginx.conf"]
            .as_str()
            .unwrap()
            .contains("proxy_pass")
    );
    let proxy = container(d("proxy"));
    assert!(
        proxy["volumeMounts"]
            .to_string()
            .contains("/etc/nginx/nginx.conf"),
        "{proxy}"
    );
    // The worker's `user` and `read_only`.
    let worker = container(d("worker"));
    assert_eq!(worker["securityContext"]["runAsUser"], 1000);
}

/// The three-service fixture's objects, rendered with `--dry-run --render-dir`, pass the
/// Kubernetes schema strictly (checkov sees them in scripts/checkov-generated).
#[test]
fn the_three_service_app_renders_objects_the_kubernetes_schema_accepts() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path().join("rendered");
    let img = |s: &str| format!("registry.example.com/team/{s}@{D1}");
    let images = [img("web"), img("api"), img("worker")].join("\n");
    let out = deploy_with(
        None,
        d.path(),
        &[
            "--compose",
            &fixture("three/compose.yaml"),
            "--image-prefix",
            "registry.example.com/team",
            "--images",
            &images,
            "--namespace",
            "three",
            "--host",
            "three.example.com",
            "--dry-run",
            "--render-dir",
            dir.to_str().unwrap(),
        ],
    );
    assert_eq!(out.code, 0, "{out:?}");
    let plan: Value = serde_json::from_str(&out.stdout).unwrap();
    let kinds: Vec<String> = plan["objects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| {
            format!(
                "{}/{}",
                o["kind"].as_str().unwrap(),
                o["metadata"]["name"].as_str().unwrap()
            )
        })
        .collect();
    for k in [
        "Deployment/web",
        "Deployment/api",
        "Deployment/worker",
        "Ingress/web",
    ] {
        assert!(kinds.iter().any(|x| x == k), "{k} in {kinds:?}");
    }
    assert_valid(&dir);
}

/// `build --compose --dry-run`: one plan per service with `build:`, each with the
/// service's context, target, build args (names only) and build secrets (ids only),
/// pushed as PREFIX/SERVICE; without `--image-prefix` the built service is named.
#[test]
fn build_compose_plans_one_image_per_built_service() {
    let d = tempfile::tempdir().unwrap();
    let f = fixture("shop/compose.yaml");
    let base = ["--compose", f.as_str(), "--dry-run"];
    let missing = crate::support::fake_cluster::step_with("build", None, d.path(), &base);
    assert_eq!(missing.code, 2, "{missing:?}");
    assert!(
        missing.stderr.contains("--image-prefix") && missing.stderr.contains("services."),
        "{}",
        missing.stderr
    );
    let mut args = base.to_vec();
    args.extend(["--image-prefix", "registry.example.com/team"]);
    let out = crate::support::fake_cluster::step_with("build", None, d.path(), &args);
    assert_eq!(out.code, 0, "{out:?}");
    let plans: Vec<Value> = serde_json::from_str(&out.stdout).unwrap();
    let mut images: Vec<&str> = plans.iter().map(|p| p["image"].as_str().unwrap()).collect();
    images.sort();
    assert_eq!(
        images,
        [
            "registry.example.com/team/api",
            "registry.example.com/team/web",
            "registry.example.com/team/worker"
        ]
    );
    let web = plans
        .iter()
        .find(|p| p["image"] == "registry.example.com/team/web")
        .unwrap();
    assert_eq!(web["target"], "release", "{web}");
    assert_eq!(web["build_args"], serde_json::json!(["VERSION"]), "{web}");
    assert_eq!(web["secrets"], serde_json::json!(["api_key"]), "{web}");
    assert!(
        web["context"].as_str().unwrap().ends_with("shop/web"),
        "{web}"
    );
    // The secret's value is never in the plan.
    let secret = std::fs::read_to_string(fixture("shop/api_key.txt")).unwrap();
    assert!(!out.stdout.contains(secret.trim()), "{}", out.stdout);
}
