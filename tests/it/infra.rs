//! infra step tests: the real binary against the Entra mock and the stateful ARM
//! deployments mock (`support::arm_deployments`), which validates every request against
//! the deployments spec and every template resource against its schema.

use std::path::PathBuf;
use std::process::Output;
use std::sync::Arc;

use serde_json::Value;

use crate::support::arm::SUBSCRIPTION;
use crate::support::arm_deployments::{CONTRIBUTOR, FailRule, InfraMock, PLANTED_KUBE_TOKEN};
use crate::support::arm_template::{self, FUNCTIONS, Scope};
use crate::support::azure::{code, text};
use crate::support::entra::{self, EntraConfig, EntraMock, TokenBook};
use crate::support::spec::spec;
use crate::support::tools::bin;

const RG: &str = "rg-shared";
const ZONE: &str = "shop.example.com";

struct W {
    _entra: EntraMock,
    entra_url: String,
    github_request_url: String,
    arm: InfraMock,
    dir: tempfile::TempDir,
}

impl W {
    async fn new() -> W {
        W::with(EntraConfig::default()).await
    }

    async fn with(cfg: EntraConfig) -> W {
        let book = Arc::new(TokenBook::default());
        let entra = EntraMock::start(cfg, book.clone()).await;
        let arm = InfraMock::start(book, &entra.url, RG, ZONE).await;
        W {
            entra_url: entra.url.clone(),
            github_request_url: entra.github_request_url(),
            _entra: entra,
            arm,
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn path(&self, n: &str) -> PathBuf {
        self.dir.path().join(n)
    }

    fn args(&self, extra: &[&str]) -> Vec<String> {
        let mut a: Vec<String> = [
            "infra",
            // The ARM phase (the cluster phase is tests/it/infra_cluster.rs).
            "--infra-phases",
            "arm",
            "--subscription-id",
            SUBSCRIPTION,
            "--resource-group",
            RG,
            "--name-prefix",
            "shop",
            "--dns-zone",
            ZONE,
            "--discovery-tags",
            "app=shop",
            "--mysql-allow-cidr",
            "198.51.100.0/24",
            "--tenant-id",
            entra::TENANT,
            "--client-id",
            entra::CLIENT_ID,
            "--authority-host",
            &self.entra_url,
            "--arm-endpoint",
            &self.arm.url,
            "--outputs-file",
            self.path("outputs.json").to_str().unwrap(),
            "--state",
            self.path("state.json").to_str().unwrap(),
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        a.extend(extra.iter().map(|s| s.to_string()));
        a
    }

    fn env(&self) -> Vec<(String, String)> {
        let tmp = self.path("tmp");
        std::fs::create_dir_all(&tmp).unwrap();
        vec![
            ("PATH".into(), "/usr/bin:/bin".into()),
            ("HOME".into(), self.dir.path().display().to_string()),
            ("RUNNER_TEMP".into(), tmp.display().to_string()),
            ("NO_COLOR".into(), "1".into()),
            // The Entra mock's TLS certificate is signed by the test CA.
            crate::support::tls::env(),
            ("GITHUB_ACTIONS".into(), "true".into()),
            (
                "ACTIONS_ID_TOKEN_REQUEST_URL".into(),
                self.github_request_url.clone(),
            ),
            (
                "ACTIONS_ID_TOKEN_REQUEST_TOKEN".into(),
                entra::GITHUB_REQUEST_TOKEN.into(),
            ),
            (
                "GITHUB_OUTPUT".into(),
                self.path("github_output").display().to_string(),
            ),
            (
                "GITHUB_STEP_SUMMARY".into(),
                self.path("summary.md").display().to_string(),
            ),
        ]
    }

    async fn run(&self, extra: &[&str]) -> Output {
        self.command(self.args(extra), vec![]).await
    }

    async fn command(&self, args: Vec<String>, env: Vec<(String, String)>) -> Output {
        tokio::process::Command::new(bin())
            .args(args)
            .env_clear()
            .envs(self.env())
            .envs(env)
            .current_dir(self.dir.path())
            .output()
            .await
            .unwrap()
    }

    fn outputs(&self) -> serde_json::Map<String, Value> {
        serde_json::from_str(&std::fs::read_to_string(self.path("outputs.json")).unwrap()).unwrap()
    }

    fn password(&self) -> String {
        self.arm
            .with(|d| d.secrets.get("mysql-admin-password").cloned())
            .expect("the template wrote the password to Key Vault")
    }

    fn deploy_puts(&self) -> usize {
        self.arm
            .calls()
            .iter()
            .filter(|c| c.starts_with("PUT ") && c.contains("/deployments/"))
            .count()
    }

    /// Every stream and every file the runs wrote: the value is never in them, except
    /// in the `::add-mask::` command that hides it.
    fn assert_never_leaks(&self, outs: &[&Output], value: &str) {
        for o in outs {
            let (out, err) = text(o);
            for line in out.lines().chain(err.lines()).filter(|l| l.contains(value)) {
                assert!(
                    line.starts_with("::add-mask::"),
                    "a stream leaks it: {line}"
                );
            }
        }
        fn walk(d: &std::path::Path, out: &mut Vec<PathBuf>) {
            for e in std::fs::read_dir(d).unwrap().flatten() {
                if e.path().is_dir() {
                    walk(&e.path(), out)
                } else {
                    out.push(e.path())
                }
            }
        }
        let mut files = Vec::new();
        walk(self.dir.path(), &mut files);
        assert!(files.iter().any(|f| f.ends_with("state.json")));
        for f in files {
            let t = std::fs::read_to_string(&f).unwrap_or_default();
            assert!(!t.contains(value), "{} leaks it", f.display());
        }
    }
}

fn what_if_lines(o: &Output) -> Vec<String> {
    let (out, _) = text(o);
    out.lines()
        .filter(|l| {
            [
                "+ Create ",
                "~ Modify ",
                "- Delete ",
                "= NoChange ",
                "* Ignore ",
            ]
            .iter()
            .any(|p| l.starts_with(p))
        })
        .map(String::from)
        .collect()
}

#[tokio::test]
async fn infra_first_run_creates_everything_and_a_second_run_changes_nothing() {
    let w = W::new().await;
    let first = w.run(&[]).await;
    let (out, err) = text(&first);
    assert_eq!(code(&first), 0, "{out}\n{err}");
    let lines = what_if_lines(&first);
    assert!(lines.len() >= 20, "{out}");
    assert!(
        lines.iter().all(|l| l.starts_with("+ Create")),
        "{lines:#?}"
    );
    assert!(
        out.contains("Succeeded  Microsoft.ContainerService/managedClusters shop-aks"),
        "{out}"
    );
    let o = w.outputs();
    for k in [
        "acr-login-server",
        "aks-name",
        "aks-server",
        "oidc-issuer-url",
        "key-vault-uri",
        "mysql-fqdn",
        "mysql-admin-secret",
        "gateway-public-ip",
        "gateway-nsg-name",
        "dns-zone",
        "eso-client-id",
        "cert-manager-client-id",
        "log-analytics-workspace-id",
    ] {
        assert!(
            o.get(k)
                .is_some_and(|v| v.as_str().is_some_and(|s| !s.is_empty())),
            "output {k} missing: {o:#?}"
        );
    }
    assert_eq!(o["acr-login-server"], "shopacr.azurecr.io");
    assert!(
        o["mysql-admin-secret"]
            .as_str()
            .unwrap()
            .ends_with("/secrets/mysql-admin-password")
    );
    // The deployment's outputs carry the names refer reads with --deployment-name.
    assert!(
        w.arm
            .with(|d| d.deployments["aks-backend-infra"].outputs["aksName"]["value"] == "shop-aks")
    );
    // Every resource carries the discovery tags.
    w.arm.with(|d| {
        let tagged = d
            .resources
            .values()
            .filter(|r| r.desired["tags"]["app"] == "shop")
            .count();
        assert!(tagged >= 12, "{tagged}");
    });
    // The kubeconfig went to Key Vault.
    assert!(
        w.arm
            .with(|d| d.secrets["aks-kubeconfig"].contains(PLANTED_KUBE_TOKEN))
    );
    let password = w.password();
    let summary = std::fs::read_to_string(w.path("summary.md")).unwrap();
    assert!(summary.contains("Infrastructure what-if"), "{summary}");

    let second = w.run(&[]).await;
    let (out2, err2) = text(&second);
    assert_eq!(code(&second), 0, "{out2}\n{err2}");
    let lines = what_if_lines(&second);
    assert!(!lines.is_empty());
    // The gateway and its NSG exist: left out of the deployment (Ignore), see
    // `plan::infra::template` on re-runs.
    assert!(
        lines
            .iter()
            .all(|l| l.starts_with("= NoChange") || l.starts_with("* Ignore")),
        "{lines:#?}"
    );
    assert!(out2.contains("reusing the one in Key Vault"), "{out2}");
    assert_eq!(
        w.password(),
        password,
        "a re-run must not reset the database password"
    );
    w.assert_never_leaks(&[&first, &second], &password);
    w.assert_never_leaks(&[&first, &second], PLANTED_KUBE_TOKEN);
    w.arm.assert_valid();
    // Exactly the functions the template module documents.
    let used: std::collections::BTreeSet<String> =
        w.arm.with(|d| d.functions.iter().cloned().collect());
    let known: std::collections::BTreeSet<String> =
        FUNCTIONS.iter().map(|s| s.to_string()).collect();
    assert_eq!(used, known);
}

#[tokio::test]
async fn infra_a_changed_setting_is_one_modify_with_its_delta_and_dry_run_deploys_nothing() {
    let w = W::new().await;
    assert_eq!(code(&w.run(&[]).await), 0);
    let puts = w.deploy_puts();
    let o = w.run(&["--node-count", "3", "--dry-run"]).await;
    let (out, err) = text(&o);
    assert_eq!(code(&o), 0, "{out}\n{err}");
    let lines = what_if_lines(&o);
    let modified: Vec<&String> = lines
        .iter()
        .filter(|l| !l.starts_with("= NoChange") && !l.starts_with("* Ignore"))
        .collect();
    assert_eq!(modified.len(), 1, "{lines:#?}");
    assert!(
        modified[0].contains("managedClusters/shop-aks"),
        "{modified:?}"
    );
    assert!(
        out.contains("properties.agentPoolProfiles[0].count: 2 => 3"),
        "{out}"
    );
    assert_eq!(w.deploy_puts(), puts, "--dry-run stops after what-if");
    w.arm.assert_valid();
}

#[tokio::test]
async fn infra_a_failed_resource_is_exit_3_naming_it_with_its_error() {
    let w = W::new().await;
    w.arm.with(|d| {
        d.fail.push(FailRule {
            resource_contains: "shop-mysql".into(),
            code: "QuotaExceeded".into(),
            message: "Operation could not be completed as it results in exceeding approved quota."
                .into(),
        })
    });
    let o = w.run(&[]).await;
    let (out, err) = text(&o);
    assert_eq!(code(&o), 3, "{out}\n{err}");
    let all = format!("{out}{err}");
    assert!(
        all.contains("shop-mysql (Microsoft.DBforMySQL/flexibleServers): QuotaExceeded"),
        "{all}"
    );
    w.arm.assert_valid();
}

#[tokio::test]
async fn infra_missing_permissions_stop_in_preflight_naming_the_role() {
    let w = W::new().await;
    w.arm.with(|d| {
        d.permissions.insert(
            RG.into(),
            (
                CONTRIBUTOR.0.iter().map(|s| s.to_string()).collect(),
                CONTRIBUTOR.1.iter().map(|s| s.to_string()).collect(),
            ),
        );
        d.taken_names.push("shopacr".into());
    });
    let o = w.run(&[]).await;
    let (out, err) = text(&o);
    assert_eq!(code(&o), 2, "{out}\n{err}");
    let all = format!("{out}{err}");
    assert!(
        all.contains("Microsoft.Authorization/roleAssignments/write"),
        "{all}"
    );
    assert!(all.contains("User Access Administrator"), "{all}");
    assert!(all.contains("the name `shopacr`"), "{all}");
    assert_eq!(w.deploy_puts(), 0);
    w.arm.assert_valid();
}

#[tokio::test]
async fn infra_a_missing_dns_zone_is_exit_2_before_anything_is_deployed() {
    let w = W::new().await;
    w.arm.with(|d| d.zones.clear());
    let o = w.run(&[]).await;
    let (out, err) = text(&o);
    assert_eq!(code(&o), 2, "{out}\n{err}");
    assert!(
        format!("{out}{err}").contains("DNS zone `shop.example.com` does not exist"),
        "{out}{err}"
    );
    assert_eq!(w.deploy_puts(), 0);
    assert!(!w.arm.calls().iter().any(|c| c.contains("whatIf")));
}

#[tokio::test]
async fn infra_throttled_deployment_calls_are_retried() {
    let w = W::new().await;
    w.arm.with(|d| d.throttle = 3);
    let o = w.run(&[]).await;
    let (out, err) = text(&o);
    assert_eq!(code(&o), 0, "{out}\n{err}");
    w.arm.assert_valid();
}

struct NoAzure;

impl Scope for NoAzure {
    fn subscription(&self) -> &str {
        SUBSCRIPTION
    }
    fn tenant(&self) -> &str {
        entra::TENANT
    }
    fn resource_group(&self) -> &str {
        RG
    }
    fn parameter(&self, name: &str) -> Option<Value> {
        Some(if name.ends_with("Exists") {
            Value::Bool(false)
        } else {
            Value::String(String::new())
        })
    }
    fn reference(&self, _: &str) -> Option<Value> {
        None
    }
}

#[tokio::test]
async fn infra_dry_run_with_template_out_needs_no_azure_and_the_template_validates() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("infra.json");
    let o = tokio::process::Command::new(bin())
        .args([
            "infra",
            "--dry-run",
            "--infra-phases",
            "arm",
            "--resource-group",
            RG,
            "--name-prefix",
            "shop",
            "--dns-zone",
            ZONE,
            "--template-out",
            file.to_str().unwrap(),
            "--allow-cidr",
            "203.0.113.0/24",
            "--mysql-allow-cidr",
            "198.51.100.7",
            "--mysql-allow-azure-services",
            "--arm-endpoint",
            "http://127.0.0.1:9",
        ])
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("HOME", dir.path())
        .current_dir(dir.path())
        .output()
        .await
        .unwrap();
    let (out, err) = text(&o);
    assert_eq!(code(&o), 0, "{out}\n{err}");
    let plan: Value = serde_json::from_str(&out).expect("the plan is JSON");
    assert_eq!(plan["names"]["aks"], "shop-aks");
    let t: Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    spec("infra/arm-template-schema/infra-deploymentTemplate.schema.json")
        .check("#", &t)
        .unwrap();
    let mut used = Vec::new();
    for r in t["resources"].as_array().unwrap() {
        let kind = r["type"].as_str().unwrap();
        spec(&format!(
            "infra/arm-template-schema/types/{}.json",
            kind.replace('/', ".")
        ))
        .check("#", r)
        .unwrap();
        arm_template::eval(r, &NoAzure, &mut used).unwrap();
    }
    assert!(
        used.iter().all(|f| FUNCTIONS.contains(&f.as_str())),
        "{used:?}"
    );
    assert!(
        !std::fs::read_to_string(&file)
            .unwrap()
            .contains("defaultValue\": \"P")
    );
}

/// Both phases in one run: the cluster phase connects to the cluster the deployment made
/// (the kubeconfig ARM hands out, never written to disk) and takes the identities' client
/// IDs and the vault from the deployment's outputs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn infra_runs_the_cluster_phase_on_the_cluster_it_deployed_with_its_outputs() {
    let w = W::new().await;
    let c = tokio::task::spawn_blocking(|| {
        crate::support::fake_cluster::FakeCluster::start_with(1.0, &["--bare"])
    })
    .await
    .unwrap();
    let kubeconfig = std::fs::read_to_string(&c.kubeconfig).unwrap();
    w.arm.with(|d| d.kubeconfig = Some(kubeconfig));
    let o = w
        .run(&[
            "--infra-phases",
            "arm,cluster",
            "--acme-email",
            "ops@example.com",
            "--timeout",
            "120s",
        ])
        .await;
    let log = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(o.status.success(), "{log}");
    let outputs = w.outputs();
    let eso = outputs["eso-client-id"].as_str().unwrap().to_string();
    let vault = outputs["key-vault-uri"].as_str().unwrap().to_string();
    assert!(!eso.is_empty() && !vault.is_empty(), "{outputs:?}");
    let (releases, store) = tokio::task::spawn_blocking(move || {
        let r = c.http(
            "GET",
            "/apis/helm.toolkit.fluxcd.io/v2/namespaces/flux-system/helmreleases",
            None,
        );
        let s = c.http(
            "GET",
            "/apis/external-secrets.io/v1/clustersecretstores/azure-keyvault",
            None,
        );
        (r, s)
    })
    .await
    .unwrap();
    let releases = releases.to_string();
    assert!(
        releases.contains(&eso),
        "ESO's client ID from the deployment: {releases}"
    );
    assert!(
        store.to_string().contains(vault.trim_end_matches('/')),
        "{store}"
    );
    assert!(
        log.contains("cert-manager") && log.contains("external-secrets"),
        "{log}"
    );
}

fn say(o: &Output) -> String {
    let (out, err) = text(o);
    format!("exit {:?}\nstdout:\n{out}\nstderr:\n{err}", o.status.code())
}

/// `run --steps infra,refer,build,scan,deploy` on the hermetic stack: the ARM mock
/// deploys, refer finds everything by the deployment's outputs (`deployment-name` from
/// infra through the state), build pushes with a real engine to the token-auth registry
/// the deployment's ACR login server names,
/// real Trivy scans what was pushed, deploy rolls it out on the cluster whose kubeconfig
/// infra stored in Key Vault and points the DNS record at the gateway's IP and opens the
/// gateway NSG. A second `infra` then leaves deploy's NSG rule alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn infra_run_chains_infra_refer_build_scan_deploy_through_the_state() {
    use crate::support::registry::Registry;
    use crate::support::tools::{offline_trivy, trivy_cache, trivy_fixture};

    // One sign-in for every step: the registry (an ACR) trusts the Entra mock's tenant and
    // grants AcrPush to the identity it signs in.
    let w = W::with(EntraConfig {
        object_id: Some(DEPLOYER_OID.into()),
        ..Default::default()
    })
    .await;
    let reg = Registry::start_trusting(entra::TENANT, &[DEPLOYER_OID]).await;
    let cluster =
        tokio::task::spawn_blocking(|| crate::support::fake_cluster::FakeCluster::start(0.05))
            .await
            .unwrap();
    let kubeconfig = std::fs::read_to_string(&cluster.kubeconfig).unwrap();
    w.arm.with(|d| {
        d.kubeconfig = Some(kubeconfig);
        // The deployment's registry is the loopback one.
        d.acr_login_server = Some(reg.addr.clone());
    });
    let ctx = w.path("ctx");
    std::fs::create_dir_all(ctx.join("app")).unwrap();
    std::fs::write(
        ctx.join("Dockerfile"),
        "FROM trivy-fixture/debian12-vuln:test\nCOPY app/ /app/\n",
    )
    .unwrap();
    std::fs::write(ctx.join("app/hello.txt"), "hello\n").unwrap();
    let load = std::process::Command::new("docker")
        .args(["load", "-i"])
        .arg(trivy_fixture().join("image.tar"))
        .output()
        .unwrap();
    assert!(load.status.success(), "docker load failed");
    let cache = trivy_cache();
    let repo = format!("{}/team/api", reg.addr);
    let mut args = w.args(&[
        "--steps",
        "infra,refer,build,scan,deploy",
        "--kubeconfig-secret",
        "aks-kubeconfig",
        "--image",
        &repo,
        "--context",
        ctx.to_str().unwrap(),
        "--registry-insecure",
        // The loopback registry plays an ACR (token exchange) outside *.azurecr.io.
        "--acr-hosts",
        &reg.addr,
        "--app",
        "api",
        "--namespace",
        "shop",
        "--host",
        "api.shop.example.com",
        "--timeout",
        "60s",
        "--fail-on-findings",
        "false",
        "--upload-sarif",
        "false",
    ]);
    args[0] = "run".into();
    args.extend(offline_trivy(cache.path()));
    let env = vec![
        ("PATH".into(), std::env::var("PATH").unwrap_or_default()),
        ("INPUT_SETTLE_SECONDS".into(), "1".into()),
        ("INPUT_MIN_READY_SECONDS".into(), "0".into()),
    ];
    let o = w.command(args, env).await;
    assert_eq!(
        code(&o),
        0,
        "{}\nstate: {}",
        say(&o),
        std::fs::read_to_string(w.path("state.json")).unwrap_or_default()
    );

    let out = w.outputs();
    // refer read the deployment infra made: its registry, cluster and vault.
    assert_eq!(out["acr-login-server"], reg.addr.as_str(), "{out:#?}");
    assert_eq!(out["aks-name"], "shop-aks", "{out:#?}");
    // build pushed to that registry, scan and
    // deploy took the digest.
    let image = out["image-ref"].as_str().unwrap();
    assert!(image.starts_with(&format!("{repo}@sha256:")), "{out:#?}");
    assert_eq!(out["critical"], "4", "{out:#?}");
    assert_eq!(out["rollout"], "healthy", "{out:#?}");
    let deps = cluster.objects("deployments.apps", "shop");
    assert_eq!(
        deps[0]["spec"]["template"]["spec"]["containers"][0]["image"],
        image
    );
    // The state file holds each step's outputs; infra's fed refer.
    let state: Value =
        serde_json::from_str(&std::fs::read_to_string(w.path("state.json")).unwrap()).unwrap();
    let infra = &state["outputs"]["infra"];
    assert_eq!(infra["deployment-name"], "aks-backend-infra", "{state:#}");
    assert_eq!(infra["mysql-fqdn"], "shop-mysql.mysql.database.azure.com");
    assert_eq!(
        state["outputs"]["refer"]["aks-name"], "shop-aks",
        "{state:#}"
    );
    // deploy's Azure side: the A record at the gateway IP the deployment made, and the
    // HTTPS rule on the gateway NSG it named.
    let record = w
        .arm
        .with(|d| d.records.get("shop.example.com/api").cloned());
    assert_eq!(
        record.expect("deploy wrote the A record")["properties"]["ARecords"][0]["ipv4Address"],
        "20.27.1.10"
    );
    let nsg_rules = |w: &W| {
        w.arm.with(|d| {
            d.resources
                .values()
                .find(|r| r.id.ends_with("/networkSecurityGroups/shop-appgw-nsg"))
                .unwrap()
                .full["properties"]["securityRules"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r["name"].as_str().unwrap().to_string())
                .collect::<Vec<_>>()
        })
    };
    assert!(
        nsg_rules(&w).contains(&"aks-backend-https".to_string()),
        "{:?}",
        nsg_rules(&w)
    );

    // The shared infrastructure is re-deployed: deploy's rule stays.
    let again = w.run(&[]).await;
    assert_eq!(code(&again), 0, "{}", say(&again));
    let rules = nsg_rules(&w);
    for r in [
        "aks-backend-https",
        "AllowHttpsInbound",
        "AllowGatewayManagerInbound",
    ] {
        assert!(rules.contains(&r.to_string()), "{r} gone: {rules:?}");
    }
    assert!(
        what_if_lines(&again)
            .iter()
            .all(|l| l.starts_with("= NoChange") || l.starts_with("* Ignore")),
        "{:#?}",
        what_if_lines(&again)
    );
    w.arm.assert_valid();
}

/// AGIC owns the gateway after the first run: a re-run neither resets its listeners,
/// pools and rules nor shows them as changes (what-if: Ignore).
#[tokio::test]
async fn infra_a_rerun_leaves_the_gateway_agic_configured_alone() {
    let w = W::new().await;
    let first = w.run(&[]).await;
    assert_eq!(code(&first), 0, "{}", say(&first));
    // AGIC syncs an Ingress into the gateway.
    let agic = |body: &mut Value| {
        let p = &mut body["properties"];
        p["backendAddressPools"] = serde_json::json!([
            {"name": "defaultaddresspool", "properties": {}},
            {"name": "pool-shop-api-8080-bp-8080", "properties": {"backendAddresses": [{"ipAddress": "10.20.16.7"}]}},
        ]);
        p["httpListeners"] = serde_json::json!([
            {"name": "fl-shop-api-443", "properties": {"protocol": "Https", "hostName": "api.shop.example.com"}},
        ]);
        p["requestRoutingRules"] = serde_json::json!([
            {"name": "rr-shop-api-443", "properties": {"ruleType": "Basic", "priority": 19000}},
        ]);
    };
    let gateway = |w: &W| {
        w.arm.with(|d| {
            d.resources
                .values()
                .find(|r| r.id.ends_with("/applicationGateways/shop-appgw"))
                .unwrap()
                .clone()
        })
    };
    w.arm.with(|d| {
        let r = d
            .resources
            .values_mut()
            .find(|r| r.id.ends_with("/applicationGateways/shop-appgw"))
            .unwrap();
        agic(&mut r.desired);
        agic(&mut r.full);
    });
    let before = gateway(&w);
    let puts = w
        .arm
        .with(|d| d.deployments["aks-backend-infra"].done.len());
    assert!(puts > 0);

    let again = w.run(&[]).await;
    let (out, err) = text(&again);
    assert_eq!(code(&again), 0, "{out}\n{err}");
    assert!(
        out.contains("Application Gateway shop-appgw exists: AGIC owns"),
        "{out}"
    );
    let after = gateway(&w);
    assert_eq!(after.full, before.full, "AGIC's configuration survives");
    let lines = what_if_lines(&again);
    let gw_line: Vec<&String> = lines
        .iter()
        .filter(|l| l.contains("applicationGateways/shop-appgw"))
        .collect();
    assert_eq!(gw_line.len(), 1, "{lines:#?}");
    assert!(gw_line[0].starts_with("* Ignore"), "{gw_line:?}");
    assert!(
        lines
            .iter()
            .all(|l| l.starts_with("= NoChange") || l.starts_with("* Ignore")),
        "{lines:#?}"
    );
    // The second deployment never PUT the gateway.
    let touched = w.arm.with(|d| {
        d.deployments["aks-backend-infra"]
            .done
            .iter()
            .any(|(id, ..)| id.ends_with("/applicationGateways/shop-appgw"))
    });
    assert!(!touched, "the re-run deployed the gateway");
    w.arm.assert_valid();
}

const DEPLOYER_OID: &str = "0b1c2d3e-4f50-4617-8293-a4b5c6d7e8f9";

/// The identity running infra gets Key Vault Secrets Officer on the vault (its object ID
/// from the token's `oid` claim), so it can write and re-read the secrets.
#[tokio::test]
async fn infra_the_deployer_from_the_tokens_oid_gets_key_vault_secrets_officer() {
    let w = W::with(EntraConfig {
        object_id: Some(DEPLOYER_OID.into()),
        ..Default::default()
    })
    .await;
    let o = w.run(&[]).await;
    let (out, _) = text(&o);
    assert_eq!(code(&o), 0, "{}", say(&o));
    assert!(!out.contains("no `oid` claim"), "{out}");
    let assignment = w.arm.with(|d| {
        d.resources
            .values()
            .filter(|r| r.kind == "Microsoft.Authorization/roleAssignments")
            .find(|r| r.desired["properties"]["principalId"] == DEPLOYER_OID)
            .cloned()
    });
    let a = assignment.expect("a role assignment for the deployer");
    assert!(
        a.id.contains("/providers/Microsoft.KeyVault/vaults/shop-kv"),
        "scoped to the vault: {}",
        a.id
    );
    assert!(
        a.desired["properties"]["roleDefinitionId"]
            .as_str()
            .unwrap()
            .ends_with("/b86a8fe4-44ce-4948-aee5-eccb2c155cd7"),
        "Key Vault Secrets Officer: {:#}",
        a.desired
    );
    w.arm.assert_valid();
}

/// Without an `oid` in its token the template cannot name the deployer: the step says
/// which role to grant by hand, and deploys no assignment for an empty principal.
#[tokio::test]
async fn infra_without_an_oid_the_step_says_which_role_to_grant() {
    let w = W::new().await;
    let o = w.run(&[]).await;
    let (out, _) = text(&o);
    assert_eq!(code(&o), 0, "{}", say(&o));
    assert!(out.contains("no `oid` claim"), "{out}");
    assert!(
        out.contains("az role assignment create --role \"Key Vault Secrets Officer\""),
        "{out}"
    );
    let deployer_roles = w.arm.with(|d| {
        d.resources
            .values()
            .filter(|r| r.kind == "Microsoft.Authorization/roleAssignments")
            .filter(|r| r.desired["properties"]["principalId"] == "")
            .count()
    });
    assert_eq!(deployer_roles, 0);
    w.arm.assert_valid();
}
