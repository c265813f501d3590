//! deploy against the four behaviours of a real control plane that the fake cluster
//! used to hide (issue 18): a container that crashes a second after it became Ready,
//! resource types that are not served (no cert-manager, no External Secrets, no
//! autoscaling/v2), an identity that may not read the namespace, and pod logs that the
//! API server cannot get from the kubelet. The fake now behaves as Kubernetes does in
//! each case; these tests hold the deploy step to the designed answer.

use serde_json::{Value, json};

use crate::support::fake_cluster::FakeCluster;

const D1: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";

fn image(repo: &str) -> String {
    format!("registry.example.com/team/{repo}@{D1}")
}

fn text(v: &Value) -> String {
    v.to_string()
}

/// `ns/api` with `repo`'s image, one replica, no probes (so a running container is
/// Ready at once), and `extra` flags.
fn api<'a>(repo: &'a str, extra: &[&'a str]) -> Vec<String> {
    let mut args: Vec<String> = [
        "--namespace",
        "web",
        "--app",
        "api",
        "--image",
        &image(repo),
        "--replicas",
        "1",
        "--timeout",
        "60s",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    args.extend(extra.iter().map(|s| s.to_string()));
    args
}

fn refs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

#[test]
fn a_container_that_crashes_a_second_after_it_starts_fails_in_the_settle_window() {
    // Real time: the crash comes a second after the start, well after one Ready pod made
    // the Deployment available.
    let c = FakeCluster::start(1.0);
    let first = c.deploy(&refs(&api("api", &[])));
    assert_eq!(first.code, 0, "{first:?}");

    // Without a window, the crash looks like a healthy rollout (what the issue saw).
    let blind = c.deploy(&refs(&api(
        "crashes",
        &["--settle-seconds", "0", "--min-ready-seconds", "0"],
    )));
    assert_eq!(blind.code, 0, "{blind:?}");
    assert_eq!(blind.workload()["verdict"], "healthy");
    // Back to the healthy revision for the real test.
    assert_eq!(c.deploy(&refs(&api("api", &[]))).code, 0);

    let out = c.deploy(&refs(&api(
        "crashes",
        &["--settle-seconds", "4", "--min-ready-seconds", "0"],
    )));
    assert_eq!(out.code, 1, "{out:?}");
    let w = out.workload();
    assert_eq!(w["verdict"], "failed", "{w}");
    let reason = text(&w["reason"]);
    assert!(
        reason.contains("container api")
            && (reason.contains("within the 4s settle window")
                || reason.contains("CrashLoopBackOff")),
        "{reason}"
    );
    assert!(reason.contains("exit code 1"), "{reason}");
    assert!(
        out.stderr
            .contains("available; watching the new pods for 4s"),
        "{out:?}"
    );
    // The same rollback as any failure.
    assert_eq!(w["rollback"]["verdict"], "healthy", "{w}");
    assert_eq!(out.outputs["rolled-back"], "true");
    assert!(text(&w["logs"]).contains("boom"), "{w}");
}

#[test]
fn a_daemonset_whose_pods_crash_after_becoming_ready_fails_in_the_settle_window() {
    let c = FakeCluster::start(1.0);
    let m = c.dir.path().join("agent.yaml");
    let ds = json!({
        "apiVersion": "apps/v1", "kind": "DaemonSet",
        "metadata": {"name": "agent"},
        "spec": {
            "selector": {"matchLabels": {"app": "agent"}},
            "template": {
                "metadata": {"labels": {"app": "agent"}},
                // Restricted-ready: the namespace the deploy creates enforces it.
                "spec": {
                    "securityContext": {"runAsNonRoot": true, "seccompProfile": {"type": "RuntimeDefault"}},
                    "containers": [{"name": "agent", "image": image("crashes"),
                        "securityContext": {"allowPrivilegeEscalation": false, "capabilities": {"drop": ["ALL"]}}}],
                },
            },
        },
    });
    std::fs::write(&m, serde_norway::to_string(&ds).unwrap()).unwrap();
    let out = c.deploy(&[
        "--namespace",
        "kinds",
        "--manifests",
        m.to_str().unwrap(),
        "--settle-seconds",
        "4",
        "--timeout",
        "60s",
    ]);
    assert_eq!(out.code, 1, "{out:?}");
    let w = out.workload();
    assert_eq!(w["kind"], "DaemonSet");
    assert_eq!(w["verdict"], "failed", "{w}");
    assert!(text(&w["reason"]).contains("exit code 1"), "{w}");
}

#[test]
fn generated_deployments_get_min_ready_seconds_and_the_plan_says_the_window() {
    let dir = tempfile::tempdir().unwrap();
    let plan = |extra: &[&str]| -> Value {
        let out = std::process::Command::new(crate::support::tools::bin())
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOME", dir.path())
            .current_dir(dir.path())
            .args(["deploy", "--dry-run", "--image", &image("api")])
            .args(extra)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{out:?}");
        serde_json::from_slice(&out.stdout).unwrap()
    };
    let p = plan(&[]);
    let d = p["objects"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["kind"] == "Deployment")
        .unwrap();
    assert_eq!(d["spec"]["minReadySeconds"], 10);
    let track = p["actions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["action"] == "track")
        .unwrap();
    assert_eq!(track["settle_seconds"], 10, "{track}");
    let p = plan(&["--min-ready-seconds", "30", "--settle-seconds", "5"]);
    assert!(text(&p).contains("\"minReadySeconds\":30"), "{p}");
    let bad = std::process::Command::new(crate::support::tools::bin())
        .env_clear()
        .env("HOME", dir.path())
        .current_dir(dir.path())
        .args(["deploy", "--dry-run", "--image", &image("api")])
        .args(["--settle-seconds", "99999"])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("settle-seconds"));
}

#[test]
fn missing_resource_types_are_exit_2_before_anything_is_applied() {
    let c = FakeCluster::start(0.05);
    c.delete_crd("certificates.cert-manager.io");
    c.delete_crd("externalsecrets.external-secrets.io");
    c.fault(json!({"unserve": ["autoscaling/v2"]}));
    let out = c.deploy(&refs(&api(
        "api",
        &[
            "--host",
            "api.example.com",
            "--max-replicas",
            "4",
            "--secret-env",
            "DB_PASSWORD=db-password",
        ],
    )));
    assert_eq!(out.code, 2, "{out:?}");
    for words in [
        "Certificate (cert-manager.io/v1)",
        "ExternalSecret (external-secrets.io/v1)",
        "HorizontalPodAutoscaler (autoscaling/v2)",
        "`infra`",
        "--wait-certificate false",
        "nothing was applied",
    ] {
        assert!(out.stderr.contains(words), "{words}: {out:?}");
    }
    let writes: Vec<Value> = c
        .requests()
        .into_iter()
        .filter(|r| r["method"] != "GET")
        .filter(|r| !text(&r["path"]).contains("customresourcedefinitions"))
        .collect();
    assert!(writes.is_empty(), "nothing is written: {writes:?}");

    // The way out the hint names.
    let ok = c.deploy(&refs(&api(
        "api",
        &["--host", "api.example.com", "--wait-certificate", "false"],
    )));
    assert_eq!(ok.code, 0, "{ok:?}");
    assert_eq!(ok.outputs["rollout"], "healthy");
}

#[test]
fn an_error_after_a_healthy_rollout_still_publishes_the_outputs_and_the_report() {
    let c = FakeCluster::start(0.05);
    c.fault(json!({"faults": [
        {"path": "/certificates/", "method": "GET", "status": 401, "count": -1},
    ]}));
    let summary = c.dir.path().join("summary.md");
    let gh_output = c.dir.path().join("gh-output");
    let outputs = c.dir.path().join("outputs.json");
    let out = std::process::Command::new(crate::support::tools::bin())
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", c.dir.path())
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_STEP_SUMMARY", &summary)
        .env("GITHUB_OUTPUT", &gh_output)
        .env("GITHUB_REPOSITORY", "o/r")
        .env("GITHUB_SHA", "0123456789abcdef0123456789abcdef01234567")
        .env("INPUT_SETTLE_SECONDS", "1")
        .env("INPUT_MIN_READY_SECONDS", "0")
        .current_dir(c.dir.path())
        .args(["deploy", "--kubeconfig", c.kubeconfig.to_str().unwrap()])
        .args(["--outputs-file", outputs.to_str().unwrap()])
        .args(refs(&api("api", &["--host", "api.example.com"])))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(3), "{stdout}");
    assert!(stdout.contains("Certificate/api-tls"), "{stdout}");
    let o: Value = serde_json::from_str(&std::fs::read_to_string(&outputs).unwrap()).unwrap();
    assert_eq!(o["rollout"], "healthy", "{o}");
    assert!(o["deploy-report"].as_str().unwrap().contains("\"verdict\""));
    assert!(
        std::fs::read_to_string(&gh_output)
            .unwrap()
            .contains("rollout"),
        "GITHUB_OUTPUT written"
    );
    // No pull request here, so no comment (and no summary in its place): after the
    // step, `run::one` publishes the report the same way whether or not an error came
    // with it.
}

#[test]
fn identities_that_may_not_read_the_namespace_get_the_access_review() {
    let c = FakeCluster::start(0.05);
    for (who, rbac) in [
        ("no rights", json!([])),
        (
            "edit elsewhere",
            json!([{"role": "edit", "namespace": "other"}]),
        ),
        ("view", json!([{"role": "view"}])),
    ] {
        c.http("DELETE", "/_fake/faults", None);
        c.fault(json!({ "rbac": rbac }));
        let out = c.deploy(&refs(&api("api", &[])));
        assert_eq!(out.code, 1, "{who}: {out:?}");
        assert!(
            out.stderr.contains("not allowed:"),
            "{who}: the review answers: {out:?}"
        );
        for p in [
            "create namespace web (cluster-wide)",
            "create deployments.apps in namespace web",
            "patch deployments.apps in namespace web",
            "create services in namespace web",
            "patch services in namespace web",
        ] {
            assert!(out.stderr.contains(p), "{who}: {p} is listed: {out:?}");
        }
        if who != "view" {
            for p in [
                "get namespace web",
                "list pods in namespace web",
                "get pods/log in namespace web",
            ] {
                assert!(out.stderr.contains(p), "{who}: {p} is listed: {out:?}");
            }
        }
        assert!(out.stderr.contains("cluster-wide grant"), "{who}: {out:?}");
        let forbidden: Vec<Value> = c
            .requests()
            .into_iter()
            .filter(|r| r["status"] == 403)
            .collect();
        assert!(
            forbidden.is_empty(),
            "{who}: no request was refused: {forbidden:?}"
        );
    }
    let ns = c.http("GET", "/api/v1/namespaces/web", None);
    assert_eq!(ns["code"], 404, "nothing was created: {ns}");
}

#[test]
fn pod_logs_the_cluster_cannot_give_are_said_in_words_after_the_rollback() {
    let c = FakeCluster::start(0.05);
    assert_eq!(c.deploy(&refs(&api("api", &[]))).code, 0);

    // The API server cannot reach the kubelet: 500 with its words.
    c.fault(json!({"faults": [{"path": "/log$", "status": 500, "count": -1,
        "message": "Get https://10.224.0.4:10250/containerLogs/web/x/api: dial tcp 10.224.0.4:10250: connect: connection refused"}]}));
    let out = c.deploy(&refs(&api("crashes", &[])));
    assert_eq!(out.code, 1, "{out:?}");
    let w = out.workload();
    assert_eq!(w["rollback"]["verdict"], "healthy", "{w}");
    let logs = text(&w["logs"]);
    assert!(
        logs.contains("the cluster could not give it") && logs.contains("connection refused"),
        "{logs}"
    );
    assert!(out.stderr.contains("no log of "), "{out:?}");
    assert!(
        !out.stderr.contains("kube_client") && !out.stderr.contains("ERROR"),
        "no library log line: {out:?}"
    );
    assert!(!out.stderr.contains('\u{1b}'), "no colour codes: {out:?}");

    // A kubelet that takes the connection and never answers.
    c.http("DELETE", "/_fake/faults", None);
    c.fault(json!({"faults": [{"path": "/log$", "stall": 120, "count": -1}]}));
    let out = c.deploy(&refs(&api("crashes", &["--log-timeout", "1s"])));
    assert_eq!(out.code, 1, "{out:?}");
    let w = out.workload();
    assert_eq!(w["rollback"]["verdict"], "healthy", "{w}");
    assert!(
        text(&w["logs"]).contains("no answer within 1s"),
        "{}",
        w["logs"]
    );
}
