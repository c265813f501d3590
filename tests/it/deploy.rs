//! deploy step tests, against the fake Kubernetes API server and Debian's kubectl, and
//! (module `azure`) the spec-validated Entra and ARM mocks for the DNS record and NSG rule.
//!
//! Timings are never asserted: "fails fast" shows as a `failed` verdict (not
//! `timed-out`) with the cluster's own reason well inside a long `--timeout`.

use serde_json::{Value, json};

use crate::support::fake_cluster::{FakeCluster, deploy_with};

const D1: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
const D2: &str = "sha256:2222222222222222222222222222222222222222222222222222222222222222";
const SCALE: f64 = 0.05;

fn image(repo: &str, digest: &str) -> String {
    format!("registry.example.com/team/{repo}@{digest}")
}

fn text(v: &Value) -> String {
    v.to_string()
}

/// What the restricted Pod Security Standard asks of a pod (namespaces the deploy creates
/// enforce it), for the user manifests below.
fn pod_security_context() -> Value {
    json!({"runAsNonRoot": true, "seccompProfile": {"type": "RuntimeDefault"}})
}

fn container_security_context() -> Value {
    json!({"allowPrivilegeEscalation": false, "capabilities": {"drop": ["ALL"]}})
}

/// A user manifest: one Deployment `name` in `ns` running `image`, with a readiness
/// probe that gives up after 2 s, and `annotations` on its pod template.
fn manifest(
    dir: &std::path::Path,
    name: &str,
    image: &str,
    template_annotations: Value,
    extra: &str,
) -> String {
    let doc = json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": 1,
            "progressDeadlineSeconds": 600,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}, "annotations": template_annotations},
                "spec": {"securityContext": pod_security_context(),
                    "containers": [{"name": "app", "image": image,
                    "securityContext": container_security_context(),
                    "ports": [{"containerPort": 8080}],
                    "resources": {"limits": {"memory": "64Mi"}},
                    "readinessProbe": {"httpGet": {"path": "/healthz", "port": 8080},
                                       "periodSeconds": 1, "failureThreshold": 1}}]},
            },
        },
    });
    let path = dir.join(format!("{name}-{}.yaml", uuid::Uuid::new_v4()));
    std::fs::write(
        &path,
        format!("{}\n---\n{extra}", serde_norway::to_string(&doc).unwrap()),
    )
    .unwrap();
    path.to_str().unwrap().to_string()
}

#[test]
fn healthy_rollout_by_digest_with_ingress_certificate_and_traceability() {
    let c = FakeCluster::start(SCALE);
    let out = c.deploy(&[
        "--namespace",
        "web",
        "--image",
        &image("api", D1),
        "--app",
        "api",
        "--host",
        "api.example.com",
        "--health-path",
        "/healthz",
        "--replicas",
        "2",
        "--timeout",
        "60s",
    ]);
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(out.outputs["rollout"], "healthy");
    assert_eq!(out.outputs["url"], "https://api.example.com");
    let r = out.report();
    assert_eq!(r["namespace_created"], true);
    assert_eq!(r["certificate_ready"], true);
    let w = out.workload();
    assert_eq!(w["verdict"], "healthy");
    assert_eq!(w["revision"], 1);
    assert!(text(&w["images"]).contains(&format!(
        "docker-pullable://registry.example.com/team/api@{D1}"
    )));
    assert!(out.stderr.contains("web/api: rolled out"), "{out:?}");

    let d = &c.objects("deployments.apps", "web")[0];
    assert_eq!(
        d["spec"]["template"]["spec"]["containers"][0]["image"],
        image("api", D1)
    );
    let managers: Vec<&str> = d["metadata"]["managedFields"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["manager"].as_str())
        .collect();
    assert!(managers.contains(&"aks-backend"), "{managers:?}");
    let ing = &c.objects("ingresses.networking.k8s.io", "web")[0];
    assert_eq!(
        ing["metadata"]["annotations"]["cert-manager.io/cluster-issuer"],
        "letsencrypt"
    );
    assert_eq!(ing["spec"]["ingressClassName"], "azure-application-gateway");

    // kubectl agrees.
    let s = c.kubectl(&[
        "-n",
        "web",
        "rollout",
        "status",
        "deploy/api",
        "--timeout=10s",
    ]);
    assert!(String::from_utf8_lossy(&s.stdout).contains("successfully rolled out"));

    // A second deploy of the same thing changes nothing and reports it.
    let again = c.deploy(&[
        "--namespace",
        "web",
        "--image",
        &image("api", D1),
        "--app",
        "api",
        "--host",
        "api.example.com",
        "--health-path",
        "/healthz",
        "--replicas",
        "2",
    ]);
    assert_eq!(again.code, 0, "{again:?}");
    let actions: Vec<String> = again.report()["objects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| {
            format!(
                "{}/{}",
                o["kind"].as_str().unwrap(),
                o["action"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(
        actions,
        [
            "Service/unchanged",
            "NetworkPolicy/unchanged",
            "Deployment/unchanged",
            "Ingress/unchanged"
        ]
    );
}

#[test]
fn traceability_annotations_come_from_the_ci_context() {
    let c = FakeCluster::start(SCALE);
    let out = std::process::Command::new(crate::support::tools::bin())
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", c.dir.path())
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_SHA", "0123456789abcdef0123456789abcdef01234567")
        .env("GITHUB_REPOSITORY", "o/r")
        .env("GITHUB_RUN_ID", "77")
        .env("GITHUB_REF", "refs/pull/42/merge")
        .env("GITHUB_WORKFLOW", "ship")
        .current_dir(c.dir.path())
        .args([
            "deploy",
            "--kubeconfig",
            c.kubeconfig.to_str().unwrap(),
            "--namespace",
            "web",
            "--image",
            &image("api", D1),
        ])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let d = &c.objects("deployments.apps", "web")[0];
    let a = &d["metadata"]["annotations"];
    assert_eq!(
        a["aks-backend.io/commit"],
        "0123456789abcdef0123456789abcdef01234567"
    );
    assert_eq!(
        a["aks-backend.io/run-url"],
        "https://github.com/o/r/actions/runs/77"
    );
    assert_eq!(a["aks-backend.io/pr"], "42");
    assert_eq!(a["aks-backend.io/workflow"], "ship");
}

struct Scenario {
    name: &'static str,
    repo: &'static str,
    annotation: Option<&'static str>,
    /// Parts of the one-line reason.
    reason: &'static [&'static str],
    /// The pod's own words, in its logs or events.
    words: &'static str,
}

const SCENARIOS: &[Scenario] = &[
    Scenario {
        name: "pull",
        repo: "pull-fails",
        annotation: None,
        reason: &["container app is", "ImagePullBackOff"],
        words: "Failed to pull image",
    },
    Scenario {
        name: "crash",
        repo: "crashes",
        annotation: None,
        reason: &["CrashLoopBackOff after 0 restart(s), last exit code 1 (Error)"],
        words: "boom",
    },
    Scenario {
        name: "oom",
        repo: "oom",
        annotation: None,
        reason: &["was OOMKilled (memory limit 64Mi), exit code 137"],
        words: "allocating memory",
    },
    Scenario {
        name: "config",
        repo: "bad-config",
        annotation: None,
        reason: &[
            "CreateContainerConfigError",
            "secret \\\"app-secrets\\\" not found",
        ],
        words: "Error: secret",
    },
    Scenario {
        name: "ready",
        repo: "never-ready",
        annotation: None,
        reason: &[
            "not ready for",
            "grace 2s from its probes",
            "Readiness probe failed: HTTP probe failed with statuscode: 503",
        ],
        words: "GET /healthz 503",
    },
    Scenario {
        name: "quota",
        repo: "api",
        annotation: Some("quota-exceeded"),
        reason: &["FailedCreate", "exceeded quota: compute-resources"],
        words: "exceeded quota",
    },
    Scenario {
        name: "sched",
        repo: "api",
        annotation: Some("unschedulable"),
        reason: &["FailedScheduling: 0/3 nodes are available: 3 Insufficient cpu."],
        words: "Insufficient cpu",
    },
    Scenario {
        name: "mount",
        repo: "api",
        annotation: Some("mount-fails"),
        reason: &["FailedMount: MountVolume.SetUp failed for volume"],
        words: "secret \\\"app-secrets\\\" not found",
    },
];

#[test]
fn each_failure_fails_fast_with_the_reason_and_the_pods_own_words() {
    let c = FakeCluster::start(SCALE);
    for s in SCENARIOS {
        let ann = match s.annotation {
            Some(a) => json!({"fake.aks-backend/scenario": a}),
            None => json!({}),
        };
        let m = manifest(c.dir.path(), s.name, &image(s.repo, D1), ann, "");
        let out = c.deploy(&[
            "--namespace",
            s.name,
            "--manifests",
            &m,
            "--image",
            &image(s.repo, D1),
            "--timeout",
            "120s",
        ]);
        assert_eq!(out.code, 1, "{}: {out:?}", s.name);
        let w = out.workload();
        assert_eq!(w["verdict"], "failed", "{}: {out:?}", s.name);
        let reason = text(&w["reason"]);
        for part in s.reason {
            assert!(reason.contains(part), "{}: {reason} lacks {part}", s.name);
        }
        let words = format!("{} {}", text(&w["logs"]), text(&w["events"]));
        assert!(
            words.contains(s.words),
            "{}: {words} lacks {}",
            s.name,
            s.words
        );
        assert!(
            out.stderr.contains(s.reason[0]),
            "{}: the reason is printed: {out:?}",
            s.name
        );
        // A first deploy has nothing to roll back to.
        assert_eq!(
            w["rollback"]["reason"], "no earlier revision (first deploy)",
            "{}",
            s.name
        );
    }
}

#[test]
fn progress_deadline_exceeded_is_a_failure() {
    let c = FakeCluster::start(SCALE);
    let m = manifest(c.dir.path(), "slowpoke", &image("slow", D1), json!({}), "");
    let text_m = std::fs::read_to_string(&m)
        .unwrap()
        .replace("progressDeadlineSeconds: 600", "progressDeadlineSeconds: 2");
    std::fs::write(&m, text_m).unwrap();
    let out = c.deploy(&["--namespace", "web", "--manifests", &m, "--timeout", "60s"]);
    assert_eq!(out.code, 1, "{out:?}");
    let reason = text(&out.workload()["reason"]);
    assert!(
        reason.contains("ProgressDeadlineExceeded after 2s"),
        "{reason}"
    );
    assert!(reason.contains("has timed out progressing"), "{reason}");
}

#[test]
fn crash_loop_logs_include_the_previous_instance_after_restarts() {
    let c = FakeCluster::start(SCALE);
    let out = c.deploy(&[
        "--namespace",
        "web",
        "--image",
        &image("crashes", D1),
        "--app",
        "api",
        "--max-restarts",
        "1",
        "--timeout",
        "60s",
    ]);
    assert_eq!(out.code, 1, "{out:?}");
    let w = out.workload();
    assert!(
        text(&w["reason"]).contains("CrashLoopBackOff after 1 restart(s)"),
        "{w}"
    );
    let logs = w["logs"].as_array().unwrap();
    assert_eq!(logs.len(), 2, "{w}");
    assert_eq!(logs[0]["previous"], true);
    assert_eq!(logs[0]["lines"], json!(["boom"]));
    assert_eq!(logs[1]["previous"], false);
}

#[test]
fn components_each_get_a_deployment_and_are_tracked_together() {
    let c = FakeCluster::start(SCALE);
    let base = [
        "--namespace",
        "shop",
        "--app",
        "api",
        "--host",
        "api.example.com",
        "--timeout",
        "60s",
    ];
    let worker = format!(
        "name=worker,image={},replicas=1,port=9000,env.QUEUE=jobs,min-replicas=1,max-replicas=3",
        image("worker", D1)
    );
    let ok = c.deploy(
        &[
            &base[..],
            &["--image", &image("api", D1), "--component", &worker],
        ]
        .concat(),
    );
    assert_eq!(ok.code, 0, "{ok:?}");
    let deps = c.objects("deployments.apps", "shop");
    let mut names: Vec<&str> = deps
        .iter()
        .map(|d| d["metadata"]["name"].as_str().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["api", "worker"]);
    let ingress = c.objects("ingresses.networking.k8s.io", "shop");
    assert_eq!(
        ingress.len(),
        1,
        "the Ingress goes to the first component only"
    );
    assert_eq!(ok.report()["workloads"].as_array().unwrap().len(), 2);
    let w = deps
        .iter()
        .find(|d| d["metadata"]["name"] == "worker")
        .unwrap();
    let env = &w["spec"]["template"]["spec"]["containers"][0]["env"];
    assert!(env.to_string().contains("\"QUEUE\""), "{w}");
    let hpas = c.objects("horizontalpodautoscalers.autoscaling", "shop");
    assert!(
        hpas.iter().any(|h| h["spec"]["maxReplicas"] == 3),
        "{hpas:?}"
    );

    // The second component crashes: both are reported, only it fails and rolls back.
    let crashing = format!("name=worker,image={},replicas=1", image("crashes", D2));
    let bad = c.deploy(
        &[
            &base[..],
            &["--image", &image("api", D1), "--component", &crashing],
        ]
        .concat(),
    );
    assert_eq!(bad.code, 1, "{bad:?}");
    let ws = bad.report()["workloads"].as_array().unwrap().clone();
    let worker = ws.iter().find(|w| w["name"] == "worker").unwrap();
    assert_eq!(worker["verdict"], "failed", "{worker}");
    assert_eq!(worker["rollback"]["verdict"], "healthy", "{worker}");
    assert!(text(&worker["logs"]).contains("boom"), "{worker}");
    let api = ws.iter().find(|w| w["name"] == "api").unwrap();
    assert_eq!(api["verdict"], "healthy", "{api}");

    // A component line that is not right is exit 2 with nothing applied.
    for line in [
        "name=worker".to_string(),
        format!("name=Worker,image={}", image("w", D1)),
        format!("name=api,image={}", image("w", D1)),
        format!("name=w,image={},replicas=lots", image("w", D1)),
        "name=w,image=registry.example.com/w:latest".to_string(),
        format!(
            "name=w,image={},min-replicas=4,max-replicas=2",
            image("w", D1)
        ),
        format!("name=w,image={},env.1BAD=x", image("w", D1)),
    ] {
        let mark = c.next_request();
        let out = c.deploy(
            &[
                &base[..],
                &["--image", &image("api", D1), "--component", &line],
            ]
            .concat(),
        );
        assert_eq!(out.code, 2, "{line}: {out:?}");
        let sent = c.requests_since(mark);
        assert!(sent.is_empty(), "{line}: nothing sent, but {sent:?}");
    }
}

#[test]
fn rollback_restores_the_previous_revision_and_reports_both() {
    let c = FakeCluster::start(SCALE);
    let base = ["--namespace", "web", "--app", "api", "--timeout", "60s"];
    let ok = c.deploy(&[&base[..], &["--image", &image("api", D1)]].concat());
    assert_eq!(ok.code, 0, "{ok:?}");
    let bad = c.deploy(&[&base[..], &["--image", &image("crashes", D2)]].concat());
    assert_eq!(bad.code, 1, "{bad:?}");
    assert_eq!(bad.outputs["rolled-back"], "true");
    let w = bad.workload();
    assert_eq!(w["verdict"], "failed");
    assert_eq!(w["revision"], 2);
    assert!(text(&w["logs"]).contains("boom"));
    assert_eq!(w["rollback"]["verdict"], "healthy", "{w}");
    assert_eq!(w["rollback"]["to_revision"], 1);

    // What kubectl sees is what `kubectl rollout undo` would have left: the old
    // ReplicaSet scaled back up under revision 3, the Deployment healthy.
    let d = &c.objects("deployments.apps", "web")[0];
    assert_eq!(
        d["spec"]["template"]["spec"]["containers"][0]["image"],
        image("api", D1)
    );
    assert_eq!(
        d["metadata"]["annotations"]["deployment.kubernetes.io/revision"],
        "3"
    );
    let s = c.kubectl(&[
        "-n",
        "web",
        "rollout",
        "status",
        "deploy/api",
        "--timeout=10s",
    ]);
    assert!(
        String::from_utf8_lossy(&s.stdout).contains("successfully rolled out"),
        "{s:?}"
    );
    let rs = c.kubectl(&["-n", "web", "get", "rs", "-o",
        "jsonpath={range .items[*]}{.metadata.annotations.deployment\\.kubernetes\\.io/revision}:{.spec.replicas}:{.spec.template.spec.containers[0].image}{\"\\n\"}{end}"]);
    let rs = String::from_utf8_lossy(&rs.stdout).to_string();
    assert!(rs.contains(&format!("3:2:{}", image("api", D1))), "{rs}");
    assert!(
        rs.contains(&format!("2:0:{}", image("crashes", D2))),
        "{rs}"
    );

    // The rollback left the fields ours: the next deploy applies without a conflict.
    let next = c.deploy(&[&base[..], &["--image", &image("api", D2)]].concat());
    assert_eq!(next.code, 0, "{next:?}");
}

#[test]
fn no_rollback_leaves_the_failure_and_kubectl_undo_repairs_it() {
    let c = FakeCluster::start(SCALE);
    let base = ["--namespace", "web", "--app", "api", "--timeout", "60s"];
    assert_eq!(
        c.deploy(&[&base[..], &["--image", &image("api", D1)]].concat())
            .code,
        0
    );
    let bad = c.deploy(
        &[
            &base[..],
            &["--image", &image("pull-fails", D2), "--no-rollback"],
        ]
        .concat(),
    );
    assert_eq!(bad.code, 1, "{bad:?}");
    assert_eq!(bad.outputs["rolled-back"], "false");
    assert!(bad.workload()["rollback"].is_null());
    let d = &c.objects("deployments.apps", "web")[0];
    assert_eq!(
        d["spec"]["template"]["spec"]["containers"][0]["image"],
        image("pull-fails", D2)
    );
    // kubectl agrees that the rollout is not done, and its undo brings revision 1 back.
    let s = c.kubectl(&[
        "-n",
        "web",
        "rollout",
        "status",
        "deploy/api",
        "--timeout=1s",
    ]);
    assert!(!s.status.success());
    let u = c.kubectl(&["-n", "web", "rollout", "undo", "deploy/api"]);
    assert!(u.status.success(), "{u:?}");
    let s = c.kubectl(&[
        "-n",
        "web",
        "rollout",
        "status",
        "deploy/api",
        "--timeout=20s",
    ]);
    assert!(
        String::from_utf8_lossy(&s.stdout).contains("successfully rolled out"),
        "{s:?}"
    );
}

#[test]
fn admission_rejection_is_reported_before_anything_is_applied() {
    let c = FakeCluster::start(SCALE);
    c.http(
        "POST",
        "/api/v1/namespaces",
        Some(&json!({"apiVersion": "v1", "kind": "Namespace",
        "metadata": {"name": "web"}})),
    );
    let svc =
        "apiVersion: v1\nkind: Service\nmetadata: {name: first}\nspec: {ports: [{port: 80}]}\n";
    let m = manifest(c.dir.path(), "api", &image("api", D1), json!({}), svc);
    let with_label = std::fs::read_to_string(&m).unwrap()
        .replacen("metadata:\n  name: api", "metadata:\n  name: api\n  labels:\n    fake.aks-backend/reject: privileged containers are not allowed", 1);
    std::fs::write(&m, with_label).unwrap();
    let out = c.deploy(&["--namespace", "web", "--manifests", &m]);
    assert_eq!(out.code, 1, "{out:?}");
    assert!(
        out.stderr.contains("Deployment/api: rejected by admission"),
        "{out:?}"
    );
    assert!(
        out.stderr
            .contains("denied the request: privileged containers are not allowed"),
        "{out:?}"
    );
    assert!(
        c.objects("services", "web").is_empty(),
        "the Service before it was not applied either"
    );
}

#[test]
fn apply_conflict_names_the_other_manager_and_changes_nothing() {
    let c = FakeCluster::start(SCALE);
    let args = [
        "--namespace",
        "web",
        "--image",
        &image("api", D1),
        "--app",
        "api",
        "--replicas",
        "2",
    ];
    assert_eq!(c.deploy(&args).code, 0);
    let other = c.kubectl_stdin(
        &["apply", "--server-side", "--field-manager", "other", "--force-conflicts", "-f", "-"],
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: api, namespace: web}\nspec: {replicas: 3}\n",
    );
    assert!(other.status.success(), "{other:?}");
    let before = c.objects("deployments.apps", "web")[0]["metadata"]["generation"].clone();
    let out = c.deploy(&[
        "--namespace",
        "web",
        "--image",
        &image("api", D2),
        "--app",
        "api",
        "--replicas",
        "2",
    ]);
    assert_eq!(out.code, 3, "{out:?}");
    assert!(
        out.stderr
            .contains("Deployment/api: field conflict with other"),
        "{out:?}"
    );
    assert!(out.stderr.contains(".spec.replicas"), "{out:?}");
    let after = &c.objects("deployments.apps", "web")[0];
    assert_eq!(
        after["metadata"]["generation"], before,
        "nothing was written"
    );
    assert_eq!(
        after["spec"]["template"]["spec"]["containers"][0]["image"],
        image("api", D1)
    );
}

#[test]
fn api_server_429_500_and_dropped_watches_are_survived() {
    let c = FakeCluster::start(SCALE);
    c.fault(json!({"faults": [
        {"path": "/deployments/api$", "method": "PATCH", "status": 429, "retryAfter": 1, "count": 2},
        {"path": "/services/api$", "method": "PATCH", "status": 500, "count": 1},
        {"path": "/selfsubjectaccessreviews", "status": 500, "count": 1},
        {"path": "/pods$", "dropWatch": {"afterEvents": 2}, "count": 3},
        {"path": "/events$", "dropWatch": {"afterEvents": 1}, "count": 3},
        {"path": "/replicasets$", "method": "GET", "watch": true, "status": 500, "count": 1},
    ]}));
    let out = c.deploy(&[
        "--namespace",
        "web",
        "--image",
        &image("slow", D1),
        "--app",
        "api",
        "--timeout",
        "60s",
    ]);
    assert_eq!(out.code, 0, "{out:?}");
    let statuses: Vec<i64> = c
        .requests()
        .iter()
        .filter_map(|r| r["status"].as_i64())
        .collect();
    assert!(
        statuses.contains(&429) && statuses.contains(&500),
        "{statuses:?}"
    );
    let left = c.http("GET", "/_fake/faults", None);
    assert!(
        !text(&left).contains("\"status\""),
        "every error fault was hit: {left}"
    );
}

#[test]
fn access_review_denial_changes_nothing() {
    let c = FakeCluster::start(SCALE);
    c.fault(json!({"deny": [{"verb": "patch", "group": "apps", "resource": "deployments"}]}));
    let out = c.deploy(&["--namespace", "web", "--image", &image("api", D1)]);
    assert_eq!(out.code, 1, "{out:?}");
    assert!(
        out.stderr
            .contains("not allowed: patch deployments.apps in namespace web"),
        "{out:?}"
    );
    assert!(c.objects("services", "web").is_empty());
}

#[test]
fn digest_verification_fails_when_the_running_image_differs() {
    let c = FakeCluster::start(SCALE);
    let m = manifest(
        c.dir.path(),
        "api",
        &image("api", D1),
        json!({"fake.aks-backend/scenario": "image-drift"}),
        "",
    );
    let out = c.deploy(&["--namespace", "web", "--manifests", &m, "--timeout", "60s"]);
    assert_eq!(out.code, 1, "{out:?}");
    let reason = text(&out.workload()["reason"]);
    assert!(
        reason
            .contains("container app runs docker-pullable://registry.example.com/team/api@sha256:"),
        "{reason}"
    );
    assert!(
        reason.contains(&format!("instead of the deployed {D1}")),
        "{reason}"
    );
}

#[test]
fn bad_input_is_exit_2_with_nothing_applied() {
    let c = FakeCluster::start(SCALE);
    let cases: Vec<(Vec<String>, &str)> = vec![
        (
            vec!["--image".into(), "registry.example.com/team/api:v1".into()],
            "has no digest",
        ),
        (
            vec![
                "--image".into(),
                image("api", D1),
                "--host".into(),
                "api.example.com".into(),
                "--allow-cidr".into(),
                "10.0.0.0/8,203.0.113.300/32".into(),
            ],
            "`203.0.113.300/32` is not a CIDR",
        ),
        (
            vec![
                "--image".into(),
                image("api", D1),
                "--namespace".into(),
                "Web".into(),
            ],
            "not a valid namespace",
        ),
        (
            vec![
                "--manifests".into(),
                manifest(c.dir.path(), "api", &image("api", D1), json!({}), ""),
                "--image".into(),
                format!("registry.example.com:5000/team/api@{D2}"),
            ],
            "image `registry.example.com:5000/team/api@sha256:2222",
        ),
    ];
    let mut cases = cases;
    // The pod security settings.
    for (flag, value, wanted) in [
        (
            "--pod-security",
            "strict",
            "`strict` is not a Pod Security Standard level",
        ),
        (
            "--seccomp-profile",
            "Localhost",
            "`Localhost` is not a seccomp profile type",
        ),
        (
            "--capabilities-add",
            "cap_net_raw",
            "`cap_net_raw` is not a Linux capability name",
        ),
        (
            "--ingress-class",
            "traefik",
            "give --ingress-namespace NAMESPACE",
        ),
        ("--ingress-cidr", "10.0.0.1/8", "`10.0.0.1/8` is not a CIDR"),
        (
            "--ingress-namespace",
            "Bad_NS",
            "`Bad_NS` is not a valid namespace name",
        ),
        ("--run-as-non-root", "maybe", "--run-as-non-root"),
    ] {
        cases.push((
            vec![
                "--image".into(),
                image("api", D1),
                flag.into(),
                value.into(),
            ],
            wanted,
        ));
    }
    for (args, wanted) in cases {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = c.deploy(&args);
        assert_eq!(out.code, 2, "{args:?}: {out:?}");
        assert!(out.stderr.contains(wanted), "{args:?}: {out:?}");
    }
    assert!(
        c.requests().is_empty(),
        "the cluster was never called: {:?}",
        c.requests()
    );
    let none = deploy_with(None, c.dir.path(), &["--image", &image("api", D1)]);
    assert_eq!(none.code, 2, "{none:?}");
    assert!(none.stderr.contains("kubeconfig"), "{none:?}");
}

#[test]
fn dry_run_prints_the_manifests_and_the_plan_without_calling_the_cluster() {
    let c = FakeCluster::start(SCALE);
    let out = c.deploy(&[
        "--namespace",
        "web",
        "--image",
        &image("api", D1),
        "--host",
        "api.example.com",
        "--allow-cidr",
        "203.0.113.0/24",
        "--dry-run",
    ]);
    assert_eq!(out.code, 0, "{out:?}");
    let plan: Value = serde_json::from_str(&out.stdout).unwrap();
    let kinds: Vec<&str> = plan["objects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["Service", "NetworkPolicy", "Deployment", "Ingress"]);
    let actions: Vec<&str> = plan["actions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        [
            "ensure-namespace",
            "access-review",
            "dry-run",
            "dns-record",
            "nsg-rule",
            "apply",
            "apply",
            "apply",
            "apply",
            "track",
            "verify-digests",
            "rollback-on-failure",
            "wait-certificate"
        ]
    );
    assert_eq!(plan["actions"][4]["sources"], json!(["203.0.113.0/24"]));
    assert_eq!(
        plan["actions"][0]["labels"],
        json!({"pod-security.kubernetes.io/enforce": "restricted"})
    );
    // Application Gateway reaches the pods from its subnet: without it, a warning.
    assert!(
        plan["warnings"][0]
            .as_str()
            .unwrap()
            .contains("ingress-cidr"),
        "{plan:#}"
    );
    assert!(c.requests().is_empty());
}

/// An image that runs as root is refused by the kubelet under the default
/// run-as-non-root: the rollout fails fast naming the setting; relaxed (with a baseline
/// namespace), the same image rolls out.
#[test]
fn an_image_that_runs_as_root_fails_fast_naming_run_as_non_root() {
    let c = FakeCluster::start(SCALE);
    let base = [
        "--image",
        &image("runs-as-root", D1),
        "--app",
        "api",
        "--timeout",
        "60s",
    ];
    let mut args = vec!["--namespace", "strict"];
    args.extend(base);
    let out = c.deploy(&args);
    assert_eq!(out.code, 1, "{out:?}");
    let w = out.workload();
    assert_eq!(w["verdict"], "failed", "{out:?}");
    let reason = w["reason"].as_str().unwrap();
    assert!(
        reason.contains("container has runAsNonRoot and image will run as root"),
        "{reason}"
    );
    assert!(reason.contains("set run-as-non-root false"), "{reason}");

    let mut args = vec![
        "--namespace",
        "lax",
        "--run-as-non-root",
        "false",
        "--pod-security",
        "baseline",
    ];
    args.extend(base);
    let out = c.deploy(&args);
    assert_eq!(out.code, 0, "{out:?}");
}

/// Namespaces the deploy creates enforce the restricted Pod Security Standard; a
/// relaxed setting that breaks it fails fast with the admission's words and the
/// settings to relax, and `pod-security baseline` lets the same pods run.
#[test]
fn pod_security_admission_refusal_names_the_setting_to_relax() {
    let c = FakeCluster::start(SCALE);
    let base = [
        "--image",
        &image("api", D1),
        "--app",
        "api",
        "--timeout",
        "60s",
        "--run-as-non-root",
        "false",
    ];
    let mut args = vec!["--namespace", "strict"];
    args.extend(base);
    let out = c.deploy(&args);
    assert_eq!(out.code, 1, "{out:?}");
    let ns = c.http("GET", "/api/v1/namespaces/strict", None);
    assert_eq!(
        ns["metadata"]["labels"]["pod-security.kubernetes.io/enforce"],
        "restricted"
    );
    let reason = out.workload()["reason"].as_str().unwrap().to_string();
    assert!(
        reason.contains("violates PodSecurity \"restricted:latest\": runAsNonRoot != true"),
        "{reason}"
    );
    assert!(reason.contains("run-as-non-root"), "{reason}");
    assert!(
        reason.contains("set pod-security to a laxer level"),
        "{reason}"
    );
    assert!(
        out.stderr.contains("would violate PodSecurity"),
        "the plan warned before applying: {out:?}"
    );

    let mut args = vec!["--namespace", "lax", "--pod-security", "baseline"];
    args.extend(base);
    let out = c.deploy(&args);
    assert_eq!(out.code, 0, "{out:?}");
    let ns = c.http("GET", "/api/v1/namespaces/lax", None);
    assert_eq!(
        ns["metadata"]["labels"]["pod-security.kubernetes.io/enforce"],
        "baseline"
    );
}

// --- the Azure side: the app's A record and the gateway NSG's 443 rule, against the
// spec-validated Entra and ARM mocks, after the rollout on the fake cluster ---

mod azure {
    use serde_json::{Value, json};

    use super::{D1, SCALE, image};
    use crate::support::arm::{ArmMock, SUBSCRIPTION};
    use crate::support::azure::{RG, World, ZONE};
    use crate::support::entra::{self, EntraConfig};
    use crate::support::fake_cluster::{Deployed, FakeCluster};

    const HOST: &str = "api.shop.example.com";
    const GATEWAY_IP: &str = "20.48.1.10";
    const NSG: &str = "nsg-agw";

    fn record_id() -> String {
        format!(
            "{}/providers/Microsoft.Network/dnszones/{ZONE}/A/api",
            ArmMock::rg_id(RG)
        )
        .to_ascii_lowercase()
    }

    fn nsg_id() -> String {
        format!(
            "{}/providers/Microsoft.Network/networkSecurityGroups/{NSG}",
            ArmMock::rg_id(RG)
        )
        .to_ascii_lowercase()
    }

    /// The seeded world, and the fake cluster.
    async fn world() -> (World, FakeCluster) {
        let w = World::new(EntraConfig::default()).await;
        w.seed(false);
        (w, FakeCluster::start(SCALE))
    }

    /// The sign-in and endpoint flags, then `extra`.
    fn args(w: &World, extra: &[&str]) -> Vec<String> {
        let mut a: Vec<String> = [
            "--subscription-id",
            SUBSCRIPTION,
            "--resource-group",
            RG,
            "--tenant-id",
            entra::TENANT,
            "--client-id",
            entra::CLIENT_ID,
            "--authority-host",
            &w.entra.url,
            "--arm-endpoint",
            &w.arm.url,
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        a.extend(extra.iter().map(|s| s.to_string()));
        a
    }

    /// A generated deploy of `repo` at `HOST`, to the zone, gateway IP and NSG.
    fn app(repo: &str) -> Vec<String> {
        [
            "--namespace",
            "web",
            "--image",
            &image(repo, D1),
            "--app",
            "api",
            "--host",
            HOST,
            "--timeout",
            "60s",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    }

    fn targets() -> Vec<String> {
        [
            "--dns-zone",
            ZONE,
            "--gateway-public-ip",
            GATEWAY_IP,
            "--gateway-nsg-name",
            NSG,
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    }

    /// `aks-backend deploy` against the cluster and the Azure mocks, with `env` on top
    /// of a scrubbed environment (the mocks keep serving while it runs).
    async fn deploy(c: &FakeCluster, args: &[String], env: &[(&str, &str)]) -> Deployed {
        let outputs = c
            .dir
            .path()
            .join(format!("outputs-{}.json", uuid::Uuid::new_v4()));
        let out = tokio::process::Command::new(crate::support::tools::bin())
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOME", c.dir.path())
            // The Entra mock is served over TLS with the test CA.
            .envs([crate::support::tls::env()])
            .envs(env.iter().copied())
            .current_dir(c.dir.path())
            .arg("deploy")
            .args(["--outputs-file", outputs.to_str().unwrap()])
            .args(["--kubeconfig", c.kubeconfig.to_str().unwrap()])
            .args(args)
            .output()
            .await
            .expect("aks-backend runs");
        Deployed {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            outputs: std::fs::read_to_string(&outputs)
                .ok()
                .and_then(|t| serde_json::from_str(&t).ok())
                .unwrap_or(Value::Null),
        }
    }

    const SECRET: &[(&str, &str)] = &[("INPUT_CLIENT_SECRET", entra::CLIENT_SECRET)];

    fn stored(w: &World, id: &str) -> Option<Value> {
        w.arm
            .with(|d| d.resources.get(id).map(|(_, b, _)| b.clone()))
    }

    /// The rules the NSG holds, by lower-case ID.
    fn rules(w: &World) -> Vec<(String, Value)> {
        let prefix = format!("{}/securityrules/", nsg_id());
        w.arm.with(|d| {
            d.resources
                .iter()
                .filter(|(id, _)| id.starts_with(&prefix))
                .map(|(id, (_, b, _))| (id.clone(), b.clone()))
                .collect()
        })
    }

    fn puts(w: &World) -> Vec<String> {
        w.arm
            .calls()
            .into_iter()
            .filter(|c| c.starts_with("PUT "))
            .collect()
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn healthy_rollout_points_the_record_at_the_gateway_and_opens_443_to_the_cidrs() {
        let (w, c) = world().await;
        let mut a = args(&w, &["--allow-cidr", "203.0.113.0/24"]);
        a.extend(app("api"));
        a.extend(targets());
        let out = deploy(&c, &a, SECRET).await;
        assert_eq!(out.code, 0, "{out:?}");
        assert_eq!(out.outputs["rollout"], "healthy");
        assert_eq!(out.outputs["url"], format!("https://{HOST}"));

        // The A record `api` -> the gateway, in the seeded zone.
        let record = stored(&w, &record_id()).expect("the A record exists");
        assert_eq!(
            record["properties"]["ARecords"],
            json!([{"ipv4Address": GATEWAY_IP}])
        );
        assert_eq!(record["properties"]["fqdn"], format!("{HOST}."));
        assert_eq!(record["properties"]["TTL"], 300);

        // One rule on the NSG: TCP 443 inbound, from the listed CIDR only.
        let held = rules(&w);
        assert_eq!(held.len(), 1, "{held:#?}");
        let p = &held[0].1["properties"];
        assert_eq!(p["sourceAddressPrefix"], "203.0.113.0/24");
        assert!(p.get("sourceAddressPrefixes").is_none(), "{p}");
        assert_eq!(p["destinationPortRange"], "443");
        assert_eq!(p["protocol"], "Tcp");
        assert_eq!(p["access"], "Allow");
        assert_eq!(p["direction"], "Inbound");
        assert_eq!(p["provisioningState"], "Succeeded", "polled until done");

        // The report says what changed.
        let azure = out.report()["azure"].clone();
        assert_eq!(
            azure,
            json!([
                format!("DNS: api A {GATEWAY_IP} in zone {ZONE} (created)"),
                format!("NSG {NSG}: TCP 443 from 203.0.113.0/24 (created)"),
            ]),
            "{out:?}"
        );
        assert!(out.stderr.contains("(created)"), "{out:?}");
        // The token was asked for ARM, and only the two writes were made.
        assert!(
            w.entra
                .scopes()
                .iter()
                .all(|s| *s == format!("{}/.default", w.arm.url)),
            "{:?}",
            w.entra.scopes()
        );
        assert_eq!(puts(&w).len(), 2, "{:?}", w.arm.calls());

        // Again: the same record and rule, updated in place.
        let again = deploy(&c, &a, SECRET).await;
        assert_eq!(again.code, 0, "{again:?}");
        assert_eq!(
            again.report()["azure"],
            json!([
                format!("DNS: api A {GATEWAY_IP} in zone {ZONE} (updated)"),
                format!("NSG {NSG}: TCP 443 from 203.0.113.0/24 (updated)"),
            ]),
            "{again:?}"
        );
        assert_eq!(rules(&w).len(), 1);
        assert_eq!(
            stored(&w, &record_id()).unwrap()["properties"]["ARecords"],
            json!([{"ipv4Address": GATEWAY_IP}])
        );
        w.assert_valid();
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn without_allow_cidr_the_rule_allows_any_source() {
        let (w, c) = world().await;
        // Signed in as a GitHub Actions job would be: OIDC federation, no secret.
        let request_url = w.entra.github_request_url();
        let env = [
            ("GITHUB_ACTIONS", "true"),
            ("ACTIONS_ID_TOKEN_REQUEST_URL", request_url.as_str()),
            (
                "ACTIONS_ID_TOKEN_REQUEST_TOKEN",
                entra::GITHUB_REQUEST_TOKEN,
            ),
        ];
        let mut a = args(&w, &[]);
        a.extend(app("api"));
        a.extend(targets());
        let out = deploy(&c, &a, &env).await;
        assert_eq!(out.code, 0, "{out:?}");
        let held = rules(&w);
        assert_eq!(held.len(), 1, "{held:#?}");
        let p = &held[0].1["properties"];
        assert_eq!(p["sourceAddressPrefix"], "*");
        assert!(p.get("sourceAddressPrefixes").is_none(), "{p}");
        assert_eq!(p["destinationPortRange"], "443");
        assert_eq!(
            out.report()["azure"][1],
            format!("NSG {NSG}: TCP 443 from anywhere (created)"),
            "{out:?}"
        );
        assert!(w.entra.counts().github_mints >= 1);
        w.assert_valid();
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_failed_rollout_changes_nothing_in_azure() {
        let (w, c) = world().await;
        let mut a = args(&w, &["--allow-cidr", "203.0.113.0/24"]);
        a.extend(app("pull-fails"));
        a.extend(targets());
        let out = deploy(&c, &a, SECRET).await;
        assert_eq!(out.code, 1, "{out:?}");
        assert_eq!(out.outputs["rollout"], "failed");
        assert_eq!(out.report()["azure"], json!([]), "{out:?}");
        assert!(puts(&w).is_empty(), "{:?}", w.arm.calls());
        assert!(stored(&w, &record_id()).is_none());
        assert!(rules(&w).is_empty());
        w.assert_valid();
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn bad_azure_input_is_exit_2_with_nothing_applied_or_sent() {
        let (w, c) = world().await;
        let cases: Vec<(Vec<String>, &str)> = vec![
            (
                args(
                    &w,
                    &[
                        "--dns-zone",
                        "other.example.com",
                        "--gateway-public-ip",
                        GATEWAY_IP,
                    ],
                ),
                "the zone `other.example.com` does not contain the host `api.shop.example.com`",
            ),
            (
                args(&w, &["--dns-zone", ZONE]),
                "a DNS zone was given but not the gateway's public IP",
            ),
            (
                args(
                    &w,
                    &["--gateway-nsg-name", NSG, "--allow-cidr", "203.0.113.0/33"],
                ),
                "`203.0.113.0/33` is not a CIDR",
            ),
            (
                args(&w, &["--dns-zone", ZONE, "--gateway-public-ip", "20.48.1"]),
                "`20.48.1` is not an IPv4 address",
            ),
            (
                // An allow-list with no NSG to put it on is never silently dropped.
                args(&w, &["--allow-cidr", "203.0.113.0/24"]),
                "the allow-list cannot be applied",
            ),
            (
                // A zone and an NSG, but no subscription to find them in.
                [
                    "--dns-zone",
                    ZONE,
                    "--gateway-public-ip",
                    GATEWAY_IP,
                    "--gateway-nsg-name",
                    NSG,
                ]
                .iter()
                .map(|s| s.to_string())
                .collect(),
                "subscription",
            ),
        ];
        for (mut a, wanted) in cases {
            a.extend(app("api"));
            let out = deploy(&c, &a, SECRET).await;
            assert_eq!(out.code, 2, "{a:?}: {out:?}");
            assert!(out.stderr.contains(wanted), "{a:?}: {out:?}");
        }
        assert!(
            c.requests().is_empty(),
            "the cluster was never called: {:?}",
            c.requests()
        );
        assert!(w.arm.calls().is_empty(), "{:?}", w.arm.calls());
        assert_eq!(w.entra.counts().token_requests, 0);
        w.assert_valid();
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_forbidden_write_is_exit_3_naming_the_role_it_needs() {
        let (w, c) = world().await;
        let zone_id = format!(
            "{}/providers/Microsoft.Network/dnsZones/{ZONE}",
            ArmMock::rg_id(RG)
        );
        w.arm.forbid(
            &format!("/dnsZones/{ZONE}/A/api"),
            "Microsoft.Network/dnszones/A/write",
            &zone_id,
        );
        let out = deploy(&c, &a_for(&w), SECRET).await;
        assert_eq!(out.code, 3, "{out:?}");
        assert!(
            out.stderr.contains(&format!(
                "grant the role `DNS Zone Contributor` on scope `{zone_id}`"
            )),
            "{out:?}"
        );
        assert!(out.stderr.contains("HTTP 403"), "{out:?}");
        assert!(rules(&w).is_empty(), "nothing after the refused write");
        // The healthy rollout is still reported: outputs are written before the error.
        assert_eq!(out.outputs["rollout"], "healthy", "{out:?}");
        assert!(
            out.report()["azure"][0]
                .as_str()
                .is_some_and(|l| l.starts_with("Azure: failed:")),
            "{out:?}"
        );

        // The NSG rule needs Network Contributor.
        let (w, c) = world().await;
        let nsg = format!(
            "{}/providers/Microsoft.Network/networkSecurityGroups/{NSG}",
            ArmMock::rg_id(RG)
        );
        w.arm.forbid(
            "/securityRules/",
            "Microsoft.Network/networkSecurityGroups/securityRules/write",
            &nsg,
        );
        let out = deploy(&c, &a_for(&w), SECRET).await;
        assert_eq!(out.code, 3, "{out:?}");
        assert!(
            out.stderr.contains(&format!(
                "grant the role `Network Contributor` on scope `{nsg}`"
            )),
            "{out:?}"
        );
        w.assert_valid();
    }

    fn a_for(w: &World) -> Vec<String> {
        let mut a = args(w, &[]);
        a.extend(app("api"));
        a.extend(targets());
        a
    }
}

/// User manifests with a StatefulSet `db`, a DaemonSet `agent` and a Job `migrate`,
/// running `db`, `agent` and `job` images (repositories pick the fake's behaviour).
fn other_kinds(dir: &std::path::Path, db: &str, agent: &str, job: &str, extra: &str) -> String {
    let yaml = format!(
        r#"apiVersion: apps/v1
kind: StatefulSet
metadata: {{name: db}}
spec:
  replicas: 2
  serviceName: db
  selector: {{matchLabels: {{app: db}}}}
  template:
    metadata: {{labels: {{app: db}}}}
    spec:
      securityContext: {pss}
      containers: [{{name: db, image: "{db}", securityContext: {css}}}]
---
apiVersion: apps/v1
kind: DaemonSet
metadata: {{name: agent}}
spec:
  selector: {{matchLabels: {{app: agent}}}}
  template:
    metadata: {{labels: {{app: agent}}}}
    spec:
      securityContext: {pss}
      containers: [{{name: agent, image: "{agent}", securityContext: {css}}}]
---
apiVersion: batch/v1
kind: Job
metadata: {{name: migrate}}
spec:
  backoffLimit: 1
  template:
    spec:
      restartPolicy: Never
      securityContext: {pss}
      containers: [{{name: migrate, image: "{job}", securityContext: {css}}}]
{extra}"#,
        pss = pod_security_context(),
        css = container_security_context(),
    );
    let path = dir.join(format!("kinds-{}.yaml", uuid::Uuid::new_v4()));
    std::fs::write(&path, yaml).unwrap();
    path.to_str().unwrap().to_string()
}

fn by_kind(out: &crate::support::fake_cluster::Deployed, kind: &str) -> Value {
    out.report()["workloads"]
        .as_array()
        .unwrap()
        .iter()
        .find(|w| w["kind"] == kind)
        .cloned()
        .unwrap_or_else(|| panic!("no {kind} in the report: {out:?}"))
}

#[test]
fn statefulset_daemonset_and_job_are_tracked_to_healthy_together() {
    let c = FakeCluster::start(SCALE);
    let m = other_kinds(
        c.dir.path(),
        &image("db", D1),
        &image("agent", D1),
        &image("migrate", D1),
        "",
    );
    let out = c.deploy(&["--namespace", "web", "--manifests", &m, "--timeout", "60s"]);
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(out.outputs["rollout"], "healthy");
    let kinds: Vec<Value> = out.report()["workloads"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| json!([w["kind"], w["name"], w["verdict"]]))
        .collect();
    assert_eq!(
        kinds,
        [
            json!(["StatefulSet", "db", "healthy"]),
            json!(["DaemonSet", "agent", "healthy"]),
            json!(["Job", "migrate", "healthy"]),
        ],
        "{out:?}"
    );
    let db = by_kind(&out, "StatefulSet");
    assert_eq!(db["revision"], 1);
    // The digest check saw the StatefulSet's own pods, ordered by ordinal.
    let pods: Vec<&Value> = db["images"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| &i["pod"])
        .collect();
    assert_eq!(pods, [&json!("db-0"), &json!("db-1")], "{db}");
    assert!(text(&db["images"]).contains(D1));
    assert_eq!(
        by_kind(&out, "DaemonSet")["images"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    assert!(
        out.stderr
            .contains("web/StatefulSet/db: rolled out (revision 1)"),
        "{out:?}"
    );
    assert!(out.stderr.contains("web/Job/migrate: complete"), "{out:?}");
    // kubectl agrees.
    for target in ["statefulset/db", "daemonset/agent"] {
        let s = c.kubectl(&["-n", "web", "rollout", "status", target, "--timeout=10s"]);
        assert!(
            String::from_utf8_lossy(&s.stdout).contains("roll"),
            "{target}: {s:?}"
        );
        assert!(s.status.success(), "{target}: {s:?}");
    }
    let j = c.kubectl(&[
        "-n",
        "web",
        "get",
        "job",
        "migrate",
        "-o",
        "jsonpath={.status.conditions[0].type}={.status.succeeded}",
    ]);
    assert_eq!(String::from_utf8_lossy(&j.stdout), "Complete=1");
}

#[test]
fn statefulset_that_cannot_pull_fails_fast_with_the_pods_words() {
    let c = FakeCluster::start(SCALE);
    let m = other_kinds(
        c.dir.path(),
        &image("pull-fails", D1),
        &image("agent", D1),
        &image("migrate", D1),
        "",
    );
    let out = c.deploy(&["--namespace", "web", "--manifests", &m, "--timeout", "120s"]);
    assert_eq!(out.code, 1, "{out:?}");
    assert_eq!(out.outputs["rollout"], "failed");
    let db = by_kind(&out, "StatefulSet");
    assert_eq!(db["verdict"], "failed", "{db}");
    let reason = db["reason"].as_str().unwrap();
    assert!(
        reason.starts_with("pod db-0: container db is ErrImagePull: Failed to pull image")
            || reason
                .starts_with("pod db-0: container db is ImagePullBackOff: Back-off pulling image"),
        "{reason}"
    );
    assert!(out.stderr.contains("StatefulSet/db"), "{out:?}");
    assert!(
        text(&db["events"]).contains("Failed to pull image"),
        "the pod's events: {db}"
    );
    assert!(
        out.outputs["rollout-reason"]
            .as_str()
            .unwrap()
            .starts_with("StatefulSet/db: pod db-0: container db is "),
        "{out:?}"
    );
    // A first deploy has nothing to roll back to, and says so.
    assert_eq!(out.outputs["rolled-back"], "false");
    assert_eq!(db["rollback"]["verdict"], "cancelled");
    assert_eq!(
        db["rollback"]["reason"],
        "no earlier revision (first deploy)"
    );
}

#[test]
fn statefulset_and_daemonset_roll_back_to_the_previous_controller_revision() {
    let c = FakeCluster::start(SCALE);
    let good = other_kinds(
        c.dir.path(),
        &image("db", D1),
        &image("agent", D1),
        &image("migrate", D1),
        "",
    );
    let ok = c.deploy(&[
        "--namespace",
        "web",
        "--manifests",
        &good,
        "--timeout",
        "60s",
    ]);
    assert_eq!(ok.code, 0, "{ok:?}");
    let bad = other_kinds(
        c.dir.path(),
        &image("pull-fails", D2),
        &image("crashes", D2),
        &image("migrate", D1),
        "",
    );
    let out = c.deploy(&[
        "--namespace",
        "web",
        "--manifests",
        &bad,
        "--timeout",
        "60s",
    ]);
    assert_eq!(out.code, 1, "{out:?}");
    assert_eq!(out.outputs["rolled-back"], "true", "{out:?}");
    for kind in ["StatefulSet", "DaemonSet"] {
        let w = by_kind(&out, kind);
        assert!(
            w["verdict"] == "failed" || w["verdict"] == "cancelled",
            "{kind}: {w}"
        );
        assert_eq!(w["rollback"]["verdict"], "healthy", "{kind}: {w}");
        assert_eq!(w["rollback"]["to_revision"], 1, "{kind}: {w}");
    }
    assert!(
        out.stderr
            .contains("StatefulSet/db: deleting pod(s) stuck on the failed revision: db-1"),
        "{out:?}"
    );
    // What is left is the first template, as `kubectl rollout undo` leaves it.
    let images = |plural: &str| {
        c.objects(plural, "web")[0]["spec"]["template"]["spec"]["containers"][0]["image"].clone()
    };
    assert_eq!(images("statefulsets.apps"), image("db", D1));
    assert_eq!(images("daemonsets.apps"), image("agent", D1));
    let pods = c.kubectl(&[
        "-n",
        "web",
        "get",
        "pods",
        "-l",
        "app in (db,agent)",
        "-o",
        "jsonpath={range .items[*]}{.spec.containers[0].image}{\"\\n\"}{end}",
    ]);
    let pods = String::from_utf8_lossy(&pods.stdout).to_string();
    assert_eq!(pods.lines().count(), 4, "{pods}");
    assert!(pods.lines().all(|l| l.ends_with(D1)), "{pods}");
    for target in ["statefulset/db", "daemonset/agent"] {
        let s = c.kubectl(&["-n", "web", "rollout", "status", target, "--timeout=10s"]);
        assert!(s.status.success(), "{target}: {s:?}");
    }
    // The fields stayed ours: the next deploy applies without a conflict.
    let again = c.deploy(&[
        "--namespace",
        "web",
        "--manifests",
        &good,
        "--timeout",
        "60s",
    ]);
    assert_eq!(again.code, 0, "{again:?}");
}

#[test]
fn job_that_fails_reports_backoff_limit_exceeded_and_the_pods_log_tail() {
    let c = FakeCluster::start(SCALE);
    let job = image("crashes", D1);
    let m = other_kinds(
        c.dir.path(),
        &image("db", D1),
        &image("agent", D1),
        &job,
        "",
    );
    let out = c.deploy(&["--namespace", "web", "--manifests", &m, "--timeout", "120s"]);
    assert_eq!(out.code, 1, "{out:?}");
    let j = by_kind(&out, "Job");
    assert_eq!(j["verdict"], "failed", "{j}");
    assert_eq!(
        j["reason"],
        "Job migrate: BackoffLimitExceeded: Job has reached the specified backoff limit"
    );
    let logs = j["logs"].as_array().unwrap();
    assert_eq!(logs.len(), 1, "{j}");
    assert_eq!(logs[0]["container"], "migrate");
    assert_eq!(logs[0]["previous"], false);
    assert_eq!(
        logs[0]["lines"],
        json!([format!("starting migrate from {job}"), "boom"])
    );
    assert!(
        text(&j["events"]).contains("BackoffLimitExceeded"),
        "the Job's own event: {j}"
    );
    assert!(
        out.stderr.contains("boom"),
        "the log tail is printed: {out:?}"
    );
    assert_eq!(
        j["rollback"]["reason"],
        "Jobs are not rolled back; the failed Job is left as it is"
    );
}

#[test]
fn daemonset_crash_loop_fails_fast_with_the_previous_instance_logs() {
    let c = FakeCluster::start(SCALE);
    let m = other_kinds(
        c.dir.path(),
        &image("db", D1),
        &image("crashes", D1),
        &image("migrate", D1),
        "",
    );
    let out = c.deploy(&[
        "--namespace",
        "web",
        "--manifests",
        &m,
        "--max-restarts",
        "1",
        "--timeout",
        "120s",
    ]);
    assert_eq!(out.code, 1, "{out:?}");
    let agent = by_kind(&out, "DaemonSet");
    assert_eq!(agent["verdict"], "failed", "{agent}");
    let reason = agent["reason"].as_str().unwrap();
    assert!(
        reason.starts_with("pod agent-")
            && reason.ends_with(
                "container agent is in CrashLoopBackOff after 1 restart(s), last exit code 1 (Error)"
            ),
        "{reason}"
    );
    let logs = agent["logs"].as_array().unwrap();
    assert_eq!(logs[0]["previous"], true, "{agent}");
    assert_eq!(logs[0]["lines"], json!(["boom"]));
    // The others were not judged healthy after the failure: finished or cancelled.
    for w in out.report()["workloads"].as_array().unwrap() {
        assert_ne!(w["verdict"], "timed-out", "{w}");
    }
}

#[test]
fn an_on_delete_statefulset_is_reported_as_not_tracked_without_waiting() {
    let c = FakeCluster::start(SCALE);
    let m = other_kinds(
        c.dir.path(),
        &image("db", D1),
        &image("agent", D1),
        &image("migrate", D1),
        "",
    );
    let text_m = std::fs::read_to_string(&m).unwrap().replacen(
        "  serviceName: db\n",
        "  serviceName: db\n  updateStrategy: {type: OnDelete}\n",
        1,
    );
    std::fs::write(&m, text_m).unwrap();
    let out = c.deploy(&["--namespace", "web", "--manifests", &m, "--timeout", "60s"]);
    assert_eq!(out.code, 0, "{out:?}");
    let db = by_kind(&out, "StatefulSet");
    assert_eq!(db["verdict"], "not-tracked", "{db}");
    assert!(
        text(&db["reason"]).contains("updateStrategy OnDelete"),
        "{db}"
    );
    assert!(
        out.stderr.contains("StatefulSet/db: not tracked"),
        "{out:?}"
    );
    assert_eq!(out.outputs["rollout-reason"], "");
}

#[test]
fn dry_run_plans_tracking_of_every_workload_kind_and_rollback_of_all_but_jobs() {
    let c = FakeCluster::start(SCALE);
    let m = other_kinds(
        c.dir.path(),
        &image("db", D1),
        &image("agent", D1),
        &image("migrate", D1),
        "",
    );
    let out = c.deploy(&["--namespace", "web", "--manifests", &m, "--dry-run"]);
    assert_eq!(out.code, 0, "{out:?}");
    let plan: Value = serde_json::from_str(&out.stdout).unwrap();
    let actions = plan["actions"].as_array().unwrap();
    let track = actions.iter().find(|a| a["action"] == "track").unwrap();
    assert_eq!(
        track["workloads"],
        json!(["StatefulSet/db", "DaemonSet/agent", "Job/migrate"])
    );
    assert_eq!(track["deployments"], json!([]));
    assert!(actions.iter().any(|a| a["action"] == "rollback-on-failure"));
    assert!(c.requests().is_empty());
}
