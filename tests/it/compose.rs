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

/// Three services on the fake cluster: each its own Deployment tracked under one
/// deadline; the crashing one fails and rolls back alone, the others stay healthy.
#[test]
fn a_compose_app_deploys_and_a_crashing_service_rolls_back_alone() {
    let c = FakeCluster::start(0.05);
    let app = c.dir.path().join("app");
    std::fs::create_dir_all(&app).unwrap();
    let compose = app.join("compose.yaml");
    let write = |worker: &str| {
        std::fs::write(
            &compose,
            format!(
                "services:\n  api:\n    image: registry.example.com/team/api@{D1}\n    ports: [\"8080:8080\"]\n  web:\n    image: registry.example.com/team/web@{D1}\n    expose: [\"3000\"]\n  worker:\n    image: registry.example.com/team/{worker}\n    command: [\"work\"]\n"
            ),
        )
        .unwrap();
    };
    write(&format!("worker@{D1}"));
    let path = compose.display().to_string();
    let base = [
        "--compose",
        path.as_str(),
        "--namespace",
        "shop",
        "--timeout",
        "60s",
        "--replicas",
        "1",
    ];
    let ok = c.deploy(&base);
    assert_eq!(ok.code, 0, "{ok:?}");
    let mut names: Vec<String> = c
        .objects("deployments.apps", "shop")
        .iter()
        .map(|d| d["metadata"]["name"].as_str().unwrap().to_string())
        .collect();
    names.sort();
    assert_eq!(names, ["api", "web", "worker"]);
    assert_eq!(ok.report()["workloads"].as_array().unwrap().len(), 3);

    write(&format!("crashes@{D2}"));
    let bad = c.deploy(&base);
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
    let write = |d: &str, worker: &str| {
        std::fs::write(
            &compose,
            format!(
                "services:\n  api:\n    image: registry.example.com/team/api@{d}\n    ports: [\"8080:8080\"]\n  web:\n    image: registry.example.com/team/web@{d}\n    expose: [\"3000\"]\n  worker:\n    image: registry.example.com/team/{worker}@{d}\n    command: [\"work\"]\n"
            ),
        )
        .unwrap();
    };
    write(D1, "worker");
    let path = compose.display().to_string();
    let base = [
        "--compose",
        path.as_str(),
        "--namespace",
        "shop",
        "--timeout",
        "60s",
        "--replicas",
        "1",
    ];
    let ok = c.deploy(&base);
    assert_eq!(ok.code, 0, "{ok:?}");

    write(D2, "crashes");
    let bad = c.deploy(&base);
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

/// The three-service fixture copied into `dir` (so a test can change it), with the Trivy
/// fixture image loaded into the engine (the web is built from it: no pulls).
fn three_services(dir: &Path) -> PathBuf {
    let app = dir.join("three");
    let src = Path::new(&fixture("three")).to_path_buf();
    for sub in ["", "web", "api", "worker"] {
        std::fs::create_dir_all(app.join(sub)).unwrap();
        for e in std::fs::read_dir(src.join(sub)).unwrap() {
            let e = e.unwrap();
            if e.file_type().unwrap().is_file() {
                std::fs::copy(e.path(), app.join(sub).join(e.file_name())).unwrap();
            }
        }
    }
    let out = Command::new("docker")
        .args([
            "load",
            "-i",
            crate::support::tools::trivy_fixture()
                .join("image.tar")
                .to_str()
                .unwrap(),
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "docker load failed");
    app.join("compose.yaml")
}

/// `run --compose` end to end: three services built by the real engine (BuildKit,
/// concurrently, one sign-in), pushed to the token-auth registry, each scanned once by
/// the real Trivy (one SARIF run per image, one gate), deployed by digest on the fake
/// cluster; the PR comment has a row per service. Then a service that crashes is rolled
/// back alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_compose_builds_scans_and_deploys_every_service_and_rolls_back_the_crashing_one() {
    use crate::run::{aks_backend, github_env, say, strings};
    use crate::support::acr_token_service::entra_token;
    use crate::support::github::GitHubMock;
    use crate::support::registry::{PUSHER, Registry, TENANT};
    use crate::support::tools::{trivy, trivy_cache};

    let mock = GitHubMock::start().await;
    let reg = Registry::start().await;
    let cluster = FakeCluster::start(0.05);
    let dir = tempfile::tempdir().unwrap();
    let compose = three_services(dir.path());
    let cache = trivy_cache();
    let prefix = format!("{}/shop", reg.addr);
    let mut env = github_env(&mock, dir.path());
    env.push(("AZURE_ACCESS_TOKEN".into(), entra_token(TENANT, PUSHER)));
    let args = |compose: &Path, extra: &[&str]| {
        let mut a = strings(&[
            "run",
            "--compose",
            compose.to_str().unwrap(),
            "--image-prefix",
            &prefix,
            "--app",
            "shop",
            "--kubeconfig",
            cluster.kubeconfig.to_str().unwrap(),
            "--namespace",
            "shop",
            "--timeout",
            "60s",
            "--replicas",
            "1",
            "--trivy-path",
            trivy().to_str().unwrap(),
            "--trivy-cache-dir",
            cache.path().to_str().unwrap(),
            "--skip-db-update",
            "--offline-scan",
            "--registry-insecure",
            "--acr-hosts",
            &reg.addr,
            "--fail-on-findings",
            "false",
            "--sarif-wait",
            "30s",
            "--outputs-file",
            dir.path().join("outputs.json").to_str().unwrap(),
        ]);
        a.extend(strings(extra));
        a
    };
    let out = aks_backend(args(&compose, &[]), env.clone(), dir.path()).await;
    assert_eq!(out.status.code(), Some(0), "{}", say(&out));

    // Every built image pushed as PREFIX/SERVICE and deployed by that digest.
    let o: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("outputs.json")).unwrap())
            .unwrap();
    let first_images = o["images"].as_str().unwrap().to_string();
    let images: Vec<&str> = first_images.lines().collect();
    assert_eq!(images.len(), 3, "{o}");
    let deployed: Vec<(String, String)> = cluster
        .objects("deployments.apps", "shop")
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
        .collect();
    assert_eq!(deployed.len(), 3, "{deployed:?}");
    for (name, image) in &deployed {
        assert!(
            image.starts_with(&format!("{prefix}/{name}@sha256:")),
            "{name}: {image}"
        );
        assert!(
            images.contains(&image.as_str()),
            "{image} not in {images:?}"
        );
    }
    // One Entra exchange for the three pushes and the three pulls.
    assert_eq!(reg.tokens.log.lock().unwrap().exchanges, 1);
    // One gate over the three images: the web (from the fixture) has its findings.
    assert_eq!(o["gate"], "report-only", "{o}");
    assert_eq!(o["critical"], "4", "{o}");
    // One SARIF upload with one run per image, each its own category.
    let sarifs = mock.with(|s| s.sarifs.clone());
    assert_eq!(sarifs.len(), 1);
    let runs = sarifs[0].sarif["runs"].as_array().unwrap();
    let mut ids: Vec<&str> = runs
        .iter()
        .map(|r| r["automationDetails"]["id"].as_str().unwrap())
        .collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 3, "{ids:?}");
    // The comment names every service with its digest and its findings.
    let comments = mock.comments_on(7);
    assert_eq!(comments.len(), 1, "{}", say(&out));
    let body = &comments[0].body;
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
    let summary = std::fs::read_to_string(dir.path().join("summary.md")).unwrap();
    assert!(
        summary.contains("| web |") && summary.contains("| worker |"),
        "{summary}"
    );

    // The worker now runs an image that crashes: it alone fails and is rolled back.
    let crashing = dir.path().join("three/crash.yaml");
    let (_, worker) = deployed.iter().find(|(n, _)| n == "worker").unwrap();
    let digest = worker.split_once('@').unwrap().1;
    std::fs::write(
        &crashing,
        format!(
            "services:\n  worker:\n    image: {}/team/crashes@{digest}\n    command: [\"work\"]\n",
            reg.addr
        ),
    )
    .unwrap();
    let text = std::fs::read_to_string(&compose).unwrap().replace(
        "  worker:\n    build: ./worker\n    command: [\"work\"]\n",
        "",
    );
    std::fs::write(&compose, text).unwrap();
    std::fs::rename(&crashing, dir.path().join("three/compose.override.yaml")).unwrap();
    let over = dir.path().join("three/compose.override.yaml");
    let bad = aks_backend(
        args(
            &compose,
            &[
                "--compose",
                over.to_str().unwrap(),
                "--steps",
                "deploy",
                "--images",
                &first_images,
            ],
        ),
        env,
        dir.path(),
    )
    .await;
    assert_eq!(bad.status.code(), Some(1), "{}", say(&bad));
    let report = std::fs::read_to_string(dir.path().join("outputs.json")).unwrap();
    let o: Value = serde_json::from_str(&report).unwrap();
    assert_eq!(o["rollout"], "failed", "{o}");
    assert_eq!(o["rolled-back"], "true", "{o}");
    let r: Value = serde_json::from_str(o["deploy-report"].as_str().unwrap()).unwrap();
    let ws = r["workloads"].as_array().unwrap();
    let w = ws.iter().find(|w| w["name"] == "worker").unwrap();
    assert_eq!(w["verdict"], "failed", "{w}");
    assert_eq!(w["rollback"]["verdict"], "healthy", "{w}");
    // The others did not change and stay as they were; only the worker went back.
    for (name, image) in deployed.iter().filter(|(n, _)| n != "worker") {
        let w = ws.iter().find(|w| w["name"] == name.as_str()).unwrap();
        assert!(w["rollback"].is_null(), "{w}");
        assert_eq!(w["verdict"], "healthy", "{w}");
        let d = cluster
            .objects("deployments.apps", "shop")
            .into_iter()
            .find(|d| d["metadata"]["name"] == name.as_str())
            .unwrap();
        assert_eq!(
            d["spec"]["template"]["spec"]["containers"][0]["image"],
            image.as_str()
        );
    }
    let d = cluster
        .objects("deployments.apps", "shop")
        .into_iter()
        .find(|d| d["metadata"]["name"] == "worker")
        .unwrap();
    assert_eq!(
        d["spec"]["template"]["spec"]["containers"][0]["image"],
        worker.as_str()
    );
    let body = &mock.comments_on(7)[0].body;
    assert!(body.contains("rolled back: healthy"), "{body}");
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
