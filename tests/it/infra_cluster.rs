//! `infra`'s cluster phase against the fake cluster started `--bare` (as the ARM phase
//! leaves AKS: the Flux extension, no cert-manager, no External Secrets), whose simulated
//! helm-controller, cert-manager and ESO answer at their real pace (scaled), and whose API
//! server validates every custom object against the real CRDs' schemas. Plus the plan's
//! objects checked against those schemas directly, and `deploy` after `infra`.

use serde_json::{Value, json};

use crate::support::fake_cluster::{Deployed, FakeCluster, step_with};

const SCALE: f64 = 0.05;
const CRDS: &str = "../shared/specs/infra/crds";

fn infra_args(extra: &[&str]) -> Vec<String> {
    let mut a: Vec<String> = [
        "--acme-email",
        "ops@contoso.com",
        "--dns-zone",
        "example.com",
        "--dns-zone-resource-group",
        "rg-dns",
        "--subscription-id",
        "00000000-0000-0000-0000-000000000000",
        "--tenant-id",
        "33333333-3333-3333-3333-333333333333",
        "--eso-client-id",
        "22222222-2222-2222-2222-222222222222",
        "--cert-manager-client-id",
        "11111111-1111-1111-1111-111111111111",
        "--key-vault-uri",
        "https://kv-example.vault.azure.net",
        "--timeout",
        "60s",
        // The cluster phase alone (the ARM phase is tests/it/infra.rs).
        "--infra-phases",
        "cluster",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    a.extend(extra.iter().map(|s| s.to_string()));
    a
}

fn infra(c: &FakeCluster, extra: &[&str]) -> Deployed {
    let args = infra_args(extra);
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    step_with("infra", Some(&c.kubeconfig), c.dir.path(), &refs)
}

fn get(c: &FakeCluster, path: &str) -> Value {
    c.http("GET", path, None)
}

fn ready(obj: &Value) -> bool {
    obj["status"]["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|c| c["type"] == "Ready" && c["status"] == "True")
}

#[test]
fn fresh_install_is_ready_a_rerun_changes_nothing_and_a_new_pinned_version_upgrades() {
    let c = FakeCluster::start_with(SCALE, &["--bare"]);
    let out = infra(&c, &["--cert-manager-version", "v1.21.0"]);
    assert_eq!(out.code, 0, "{out:?}");
    assert!(out.stderr.contains("cluster ready"), "{out:?}");
    for release in ["cert-manager", "external-secrets"] {
        let hr = get(
            &c,
            &format!(
                "/apis/helm.toolkit.fluxcd.io/v2/namespaces/flux-system/helmreleases/{release}"
            ),
        );
        assert!(ready(&hr), "{hr}");
    }
    // Workload identity: the controllers' pods are labelled, their accounts annotated.
    let cm = get(
        &c,
        "/apis/apps/v1/namespaces/cert-manager/deployments/cert-manager",
    );
    assert_eq!(
        cm["spec"]["template"]["metadata"]["labels"]["azure.workload.identity/use"],
        "true"
    );
    let sa = get(
        &c,
        "/api/v1/namespaces/external-secrets/serviceaccounts/external-secrets",
    );
    assert_eq!(
        sa["metadata"]["annotations"]["azure.workload.identity/client-id"],
        "22222222-2222-2222-2222-222222222222"
    );
    for issuer in ["letsencrypt", "letsencrypt-staging"] {
        let i = get(
            &c,
            &format!("/apis/cert-manager.io/v1/clusterissuers/{issuer}"),
        );
        assert!(ready(&i), "{i}");
        assert_eq!(
            i["spec"]["acme"]["solvers"][0]["dns01"]["azureDNS"]["managedIdentity"]["clientID"],
            "11111111-1111-1111-1111-111111111111"
        );
    }
    let store = get(
        &c,
        "/apis/external-secrets.io/v1/clustersecretstores/azure-keyvault",
    );
    assert!(ready(&store), "{store}");
    assert_eq!(
        store["spec"]["provider"]["azurekv"]["authType"],
        "WorkloadIdentity"
    );

    // Each release installs our checked HelmChart's artifact; the digest seen is printed.
    let hr = get(
        &c,
        "/apis/helm.toolkit.fluxcd.io/v2/namespaces/flux-system/helmreleases/cert-manager",
    );
    assert_eq!(hr["spec"]["chartRef"]["kind"], "HelmChart", "{hr}");
    assert_eq!(
        hr["spec"]["chartRef"]["name"], "cert-manager-v1.21.0",
        "{hr}"
    );
    assert!(hr["spec"]["chart"].is_null(), "{hr}");
    let digest = chart_digest("oci://quay.io/jetstack/charts", "cert-manager", "v1.21.0");
    assert!(
        out.stderr.contains(&format!(
            "cert-manager v1.21.0 digest {digest} (not pinned: pin it with --cert-manager-chart-digest {digest})"
        )),
        "{out:?}"
    );

    let again = infra(&c, &["--cert-manager-version", "v1.21.0"]);
    assert_eq!(again.code, 0, "{again:?}");
    assert!(
        again.stderr.contains("cluster ready: 0 object(s) changed"),
        "a re-run changes nothing: {again:?}"
    );

    let upgraded = infra(&c, &[]);
    assert_eq!(upgraded.code, 0, "{upgraded:?}");
    assert!(
        upgraded
            .stderr
            .contains("HelmRelease flux-system/cert-manager configured")
            && upgraded
                .stderr
                .contains("HelmChart flux-system/cert-manager-v1.21.1 created")
            && upgraded
                .stderr
                .contains("cluster ready: 2 object(s) changed"),
        "{upgraded:?}"
    );
    let hr = get(
        &c,
        "/apis/helm.toolkit.fluxcd.io/v2/namespaces/flux-system/helmreleases/cert-manager",
    );
    assert_eq!(hr["status"]["history"][0]["chartVersion"], "v1.21.1");
    assert_eq!(hr["status"]["conditions"][0]["reason"], "UpgradeSucceeded");
    let cm = get(
        &c,
        "/apis/apps/v1/namespaces/cert-manager/deployments/cert-manager",
    );
    assert!(
        cm["spec"]["template"]["spec"]["containers"][0]["image"]
            .as_str()
            .unwrap()
            .ends_with(":v1.21.1")
    );
}

/// The fake source-controller's artifact digest for a chart (deterministic, as a real
/// chart archive's is): sha256 of `URL/CHART:VERSION`.
fn chart_digest(url: &str, chart: &str, version: &str) -> String {
    use sha2::Digest;
    let hash = sha2::Sha256::digest(format!("{url}/{chart}:{version}").as_bytes());
    format!(
        "sha256:{}",
        hash.iter().map(|b| format!("{b:02x}")).collect::<String>()
    )
}

#[test]
fn a_pinned_chart_digest_that_matches_installs_and_a_rerun_changes_nothing() {
    let c = FakeCluster::start_with(SCALE, &["--bare"]);
    let cm = chart_digest("oci://quay.io/jetstack/charts", "cert-manager", "v1.21.1");
    let eso = chart_digest(
        "https://charts.external-secrets.io",
        "external-secrets",
        "2.9.0",
    );
    let pins = [
        "--cert-manager-chart-digest",
        cm.as_str(),
        "--external-secrets-chart-digest",
        eso.as_str(),
    ];
    let out = infra(&c, &pins);
    assert_eq!(out.code, 0, "{out:?}");
    assert!(
        out.stderr.contains(&format!(
            "cert-manager v1.21.1 digest {cm} (matches the pin)"
        )),
        "{out:?}"
    );
    let chart = get(
        &c,
        "/apis/source.toolkit.fluxcd.io/v1/namespaces/flux-system/helmcharts/cert-manager-v1.21.1",
    );
    assert_eq!(
        chart["status"]["artifact"]["digest"],
        cm.as_str(),
        "{chart}"
    );
    assert_eq!(
        chart["status"]["artifact"]["revision"], "v1.21.1",
        "{chart}"
    );
    let hr = get(
        &c,
        "/apis/helm.toolkit.fluxcd.io/v2/namespaces/flux-system/helmreleases/external-secrets",
    );
    assert!(ready(&hr), "{hr}");
    assert_eq!(
        hr["status"]["lastAttemptedRevisionDigest"],
        eso.as_str(),
        "{hr}"
    );
    let again = infra(&c, &pins);
    assert_eq!(again.code, 0, "{again:?}");
    assert!(
        again.stderr.contains("cluster ready: 0 object(s) changed"),
        "{again:?}"
    );
}

#[test]
fn a_chart_digest_mismatch_is_exit_3_naming_both_and_installs_nothing() {
    let c = FakeCluster::start_with(SCALE, &["--bare"]);
    let pinned = format!("sha256:{}", "ab".repeat(32));
    let seen = chart_digest("oci://quay.io/jetstack/charts", "cert-manager", "v1.21.1");
    let out = infra(&c, &["--cert-manager-chart-digest", &pinned]);
    assert_eq!(out.code, 3, "{out:?}");
    for words in [
        "HelmChart flux-system/cert-manager-v1.21.1: chart cert-manager v1.21.1 has digest",
        seen.as_str(),
        &format!("but --cert-manager-chart-digest pins {pinned}"),
        "no release was installed",
    ] {
        assert!(out.stderr.contains(words), "{words}: {out:?}");
    }
    let releases = get(
        &c,
        "/apis/helm.toolkit.fluxcd.io/v2/namespaces/flux-system/helmreleases",
    );
    assert_eq!(
        releases["items"].as_array().map(Vec::len),
        Some(0),
        "{releases}"
    );
    assert!(c.objects("deployments.apps", "cert-manager").is_empty());
    // A malformed pin is bad input, before the cluster is touched.
    let bad = infra(&c, &["--cert-manager-chart-digest", "sha256:abc"]);
    assert_eq!(bad.code, 2, "{bad:?}");
    assert!(bad.stderr.contains("is not a chart digest"), "{bad:?}");
}

#[test]
fn a_chart_version_the_repository_lacks_fails_in_source_controllers_words() {
    let c = FakeCluster::start_with(SCALE, &["--bare"]);
    let out = infra(&c, &["--external-secrets-version", "9.9.9"]);
    assert_eq!(out.code, 3, "{out:?}");
    for words in [
        "HelmChart flux-system/external-secrets-9.9.9 is not ready",
        "no 'external-secrets' chart with version matching '9.9.9' found",
        "hint: check the chart version",
    ] {
        assert!(out.stderr.contains(words), "{words}: {out:?}");
    }
}

#[test]
fn a_refused_acme_account_fails_in_lets_encrypts_words() {
    let c = FakeCluster::start_with(SCALE, &["--bare"]);
    c.fault(json!({"operators": ["acme-refused"]}));
    let out = infra(&c, &[]);
    assert_eq!(out.code, 3, "{out:?}");
    for words in [
        "ClusterIssuer letsencrypt",
        "urn:ietf:params:acme:error:invalidContact",
        "Warning ErrInitIssuer",
        "--acme-email",
    ] {
        assert!(out.stderr.contains(words), "{words}: {out:?}");
    }
}

#[test]
fn dns01_forbidden_is_reported_with_the_warning_that_names_the_missing_role() {
    let c = FakeCluster::start_with(SCALE, &["--bare"]);
    c.fault(json!({"operators": ["dns01-forbidden"]}));
    let out = infra(&c, &["--wildcard", "true", "--timeout", "12s"]);
    assert_eq!(out.code, 3, "{out:?}");
    for words in [
        "Certificate cert-manager/wildcard-tls was not ready within",
        "Warning PresentError",
        "AuthorizationFailed",
        "DNS Zone Contributor",
    ] {
        assert!(out.stderr.contains(words), "{words}: {out:?}");
    }
}

#[test]
fn key_vault_403_is_reported_with_the_stores_own_message() {
    let c = FakeCluster::start_with(SCALE, &["--bare"]);
    c.fault(json!({"operators": ["keyvault-forbidden"]}));
    let out = infra(&c, &["--timeout", "12s"]);
    assert_eq!(out.code, 3, "{out:?}");
    for words in [
        "ClusterSecretStore azure-keyvault was not ready within",
        "ForbiddenByRbac",
        "Key Vault Secrets User",
    ] {
        assert!(out.stderr.contains(words), "{words}: {out:?}");
    }
}

#[test]
fn deploys_into_two_namespaces_share_the_one_wildcard_certificate_and_read_key_vault() {
    let c = FakeCluster::start_with(SCALE, &["--bare"]);
    let out = infra(&c, &["--wildcard", "true"]);
    assert_eq!(out.code, 0, "{out:?}");
    let image = format!("registry.example.com/team/api@sha256:{}", "1".repeat(64));
    for (ns, host) in [("shop", "shop.example.com"), ("blog", "blog.example.com")] {
        let d = c.deploy(&[
            "--namespace",
            ns,
            "--image",
            &image,
            "--app",
            "api",
            "--host",
            host,
            "--tls",
            "wildcard",
            "--secret-env",
            "DB_PASSWORD=mysql-admin-password",
            "--timeout",
            "60s",
        ]);
        assert_eq!(d.code, 0, "{d:?}");
        let ing = &c.objects("ingresses.networking.k8s.io", ns)[0];
        assert_eq!(ing["spec"]["tls"][0]["secretName"], "wildcard-tls");
        assert!(ing["metadata"]["annotations"]["cert-manager.io/cluster-issuer"].is_null());
    }
    let certificates = get(&c, "/apis/cert-manager.io/v1/certificates")["items"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(certificates.len(), 1, "one certificate: {certificates:?}");
    let original = get(&c, "/api/v1/namespaces/cert-manager/secrets/wildcard-tls");
    assert_eq!(original["type"], "kubernetes.io/tls");
    // ESO syncs the copies a moment after deploy applied their ExternalSecrets.
    let copies = |ns: &str| get(&c, &format!("/api/v1/namespaces/{ns}/secrets/wildcard-tls"));
    for _ in 0..100 {
        if copies("shop")["data"].is_object() && copies("blog")["data"].is_object() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    for ns in ["shop", "blog"] {
        let copy = copies(ns);
        assert_eq!(copy["type"], "kubernetes.io/tls", "{copy}");
        assert_eq!(copy["data"]["tls.crt"], original["data"]["tls.crt"]);
        let db = get(&c, &format!("/api/v1/namespaces/{ns}/secrets/api-secrets"));
        use base64::Engine;
        let password = base64::engine::general_purpose::STANDARD
            .decode(db["data"]["DB_PASSWORD"].as_str().unwrap_or_default())
            .unwrap_or_default();
        assert_eq!(password, b"fake-mysql-admin-password", "{db}");
        let namespace = get(&c, &format!("/api/v1/namespaces/{ns}"));
        assert_eq!(
            namespace["metadata"]["labels"]["aks-backend.io/wildcard-tls"], "true",
            "deploy --tls wildcard labels the namespace it creates: {namespace}"
        );
    }
    // A namespace without the label cannot read the wildcard key through the store.
    c.http(
        "POST",
        "/api/v1/namespaces",
        Some(&json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "intruder"}})),
    );
    let copy = aks_backend::plan::manifests::wildcard_copy("intruder");
    c.http(
        "POST",
        "/apis/external-secrets.io/v1/namespaces/intruder/externalsecrets",
        Some(&copy),
    );
    let status = || {
        get(
            &c,
            "/apis/external-secrets.io/v1/namespaces/intruder/externalsecrets/wildcard-tls",
        )["status"]["conditions"][0]
            .clone()
    };
    for _ in 0..100 {
        if status()["status"].is_string() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let refused = status();
    assert_eq!(refused["status"], "False", "{refused}");
    assert!(
        refused["message"].as_str().unwrap_or_default().contains(
            "using cluster store \"wildcard-tls\" is not allowed from namespace \"intruder\""
        ),
        "{refused}"
    );
    let secret = get(&c, "/api/v1/namespaces/intruder/secrets/wildcard-tls");
    assert!(secret["data"].is_null(), "no copy: {secret}");
}

#[test]
fn deploy_secret_env_renders_an_external_secret_the_v1_crd_accepts() {
    let c = FakeCluster::start(SCALE);
    let image = format!("registry.example.com/team/api@sha256:{}", "1".repeat(64));
    let d = c.deploy(&[
        "--namespace",
        "web",
        "--image",
        &image,
        "--app",
        "api",
        "--secret-env",
        "DB_PASSWORD=mysql-admin-password",
        "--timeout",
        "60s",
    ]);
    assert_eq!(d.code, 0, "{d:?}");
    let es = &c.objects("externalsecrets.external-secrets.io", "web")[0];
    assert_eq!(es["apiVersion"], "external-secrets.io/v1");
    assert_eq!(
        es["spec"]["data"][0]["remoteRef"]["key"],
        "mysql-admin-password"
    );
    // v1beta1 is in the CRD but not served: the fake answers like ESO 2.9's API server.
    let old = c.http(
        "GET",
        "/apis/external-secrets.io/v1beta1/namespaces/web/externalsecrets",
        None,
    );
    assert!(
        old.as_str()
            .is_some_and(|t| t.contains("404 page not found")),
        "{old}"
    );
}

// --- the plan against the CRDs ---

/// The CRD's `openAPIV3Schema` for `version`, made strict the way the API server prunes:
/// an object schema with properties and no `x-kubernetes-preserve-unknown-fields` allows
/// no other fields (a pruned field would be silently lost, so here it is an error).
fn strict_schema(file: &str, version: &str) -> Value {
    let text =
        std::fs::read_to_string(format!("{}/{CRDS}/{file}", env!("CARGO_MANIFEST_DIR"))).unwrap();
    let crd: Value = serde_norway::from_str(&text).unwrap();
    let mut schema = crd["spec"]["versions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == version)
        .unwrap()["schema"]["openAPIV3Schema"]
        .clone();
    fn strict(s: &mut Value) {
        let Some(map) = s.as_object_mut() else { return };
        if map.contains_key("properties")
            && !map.contains_key("additionalProperties")
            && map.get("x-kubernetes-preserve-unknown-fields") != Some(&json!(true))
        {
            map.insert("additionalProperties".into(), json!(false));
        }
        for v in map.values_mut() {
            match v {
                Value::Object(_) => strict(v),
                Value::Array(items) => items.iter_mut().for_each(strict),
                _ => {}
            }
        }
    }
    strict(&mut schema);
    // apiVersion/kind/metadata are the API server's; the schema checks the rest.
    schema["properties"]["metadata"] = json!({"type": "object"});
    schema
}

#[test]
fn every_planned_custom_object_validates_against_its_crd_schema() {
    use aks_backend::inputs::settings::{AddonSettings, AddonVersions};
    let s = AddonSettings {
        acme_email: "ops@contoso.com".into(),
        http01: true,
        wildcard: true,
        wildcard_dns_record: false,
        zone: "example.com".into(),
        zone_resource_group: "rg-dns".into(),
        subscription_id: "00000000-0000-0000-0000-000000000000".into(),
        tenant_id: Some("33333333-3333-3333-3333-333333333333".into()),
        eso_client_id: "22222222-2222-2222-2222-222222222222".into(),
        cert_manager_client_id: "11111111-1111-1111-1111-111111111111".into(),
        key_vault_uri: "https://kv-example.vault.azure.net".into(),
        versions: AddonVersions {
            cert_manager: "v1.21.1".into(),
            external_secrets: "2.9.0".into(),
            cert_manager_digest: Some(format!("sha256:{}", "ab".repeat(32))),
            external_secrets_digest: None,
        },
        gateway_ip: None,
        kubeconfig: None,
        timeout: std::time::Duration::from_secs(60),
        dry_run: true,
        azure: None,
    };
    let plan = aks_backend::plan::addons::plan(&s);
    let mut objects: Vec<Value> = plan.objects().cloned().collect();
    objects.push(aks_backend::plan::manifests::wildcard_copy("shop"));
    let files = [
        (
            "helm.toolkit.fluxcd.io/v2",
            "HelmRelease",
            "helm.toolkit.fluxcd.io_helmreleases.yaml",
        ),
        (
            "source.toolkit.fluxcd.io/v1",
            "HelmRepository",
            "source.toolkit.fluxcd.io_helmrepositories.yaml",
        ),
        (
            "source.toolkit.fluxcd.io/v1",
            "HelmChart",
            "source.toolkit.fluxcd.io_helmcharts.yaml",
        ),
        (
            "cert-manager.io/v1",
            "ClusterIssuer",
            "cert-manager.io_clusterissuers.yaml",
        ),
        (
            "cert-manager.io/v1",
            "Certificate",
            "cert-manager.io_certificates.yaml",
        ),
        (
            "external-secrets.io/v1",
            "ClusterSecretStore",
            "external-secrets.io_clustersecretstores.yaml",
        ),
        (
            "external-secrets.io/v1",
            "ExternalSecret",
            "external-secrets.io_externalsecrets.yaml",
        ),
    ];
    let mut checked = 0;
    for o in &objects {
        let Some((api_version, _, file)) = files
            .iter()
            .find(|(a, k, _)| o["apiVersion"] == *a && o["kind"] == *k)
        else {
            continue;
        };
        let version = api_version.split('/').nth(1).unwrap();
        let schema = strict_schema(file, version);
        let validator = jsonschema::validator_for(&schema).unwrap();
        let errors: Vec<String> = validator
            .iter_errors(o)
            .map(|e| format!("{} at {}", e, e.instance_path()))
            .collect();
        assert!(
            errors.is_empty(),
            "{} {}: {errors:#?}",
            o["kind"],
            o["metadata"]["name"]
        );
        checked += 1;
    }
    // 2 repositories, 2 charts, 2 releases, 2 issuers, 2 stores, the certificate, the copy.
    assert_eq!(checked, 12);
}

#[test]
fn wrong_settings_are_exit_2_naming_the_input_and_dry_run_needs_no_cluster() {
    let dir = tempfile::tempdir().unwrap();
    let run = |args: Vec<String>| {
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        step_with("infra", None, dir.path(), &refs)
    };
    let without = |name: &str| {
        let mut a = infra_args(&["--dry-run", "true"]);
        let i = a.iter().position(|x| x == name).unwrap();
        a.drain(i..i + 2);
        a
    };
    for (args, words) in [
        (without("--acme-email"), "--acme-email"),
        (
            infra_args(&["--eso-client-id", "not-a-guid"]),
            "is not a client ID",
        ),
        (
            infra_args(&["--cert-manager-version", "1.21"]),
            "is not a pinned chart version",
        ),
        (
            infra_args(&["--wildcard-dns-record", "true"]),
            "--wildcard true",
        ),
        (without("--key-vault-uri"), "--key-vault-uri"),
    ] {
        let out = run(args);
        assert_eq!(out.code, 2, "{words}: {out:?}");
        assert!(out.stderr.contains(words), "{words}: {out:?}");
    }
    let plan = run(infra_args(&["--dry-run", "true", "--wildcard", "true"]));
    assert_eq!(plan.code, 0, "{plan:?}");
    for words in [
        "kind: HelmRelease",
        "version: v1.21.1",
        "version: 2.9.0",
        "hostedZoneName: example.com",
        "#   Certificate cert-manager/wildcard-tls issued",
    ] {
        assert!(plan.stdout.contains(words), "{words}: {plan:?}");
    }
}

#[test]
fn a_crashing_controller_fails_in_seconds_with_its_pods_words() {
    let c = FakeCluster::start_with(SCALE, &["--bare"]);
    c.fault(json!({"operators": ["controller-crashes"]}));
    // The rollout tracker judges the chart's Deployment long before helm's 5 minutes.
    let out = infra(&c, &["--timeout", "10m"]);
    assert_eq!(out.code, 3, "{out:?}");
    for words in [
        "did not become available",
        "CrashLoopBackOff",
        "hint: the chart's pods",
    ] {
        assert!(out.stderr.contains(words), "{words}: {out:?}");
    }
}

/// `infra_args` with some flags' values replaced.
fn with_values(mut args: Vec<String>, pairs: &[(&str, &str)]) -> Vec<String> {
    for (flag, value) in pairs {
        let i = args.iter().position(|a| a == flag).unwrap();
        args[i + 1] = value.to_string();
    }
    args
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_wildcard_dns_record_points_the_zone_at_the_gateway_through_arm() {
    use crate::support::arm::{ArmMock, SUBSCRIPTION};
    use crate::support::azure::World;
    use crate::support::entra::{self, EntraConfig};
    let w = World::new(EntraConfig::default()).await;
    w.arm.add_zone("rg-dns", "example.com", Value::Null);
    let c = FakeCluster::start_with(SCALE, &["--bare"]);
    let mut args = vec![
        "infra".to_string(),
        "--kubeconfig".into(),
        c.kubeconfig.display().to_string(),
    ];
    args.extend(with_values(
        infra_args(&[
            "--wildcard",
            "true",
            "--wildcard-dns-record",
            "true",
            "--gateway-public-ip",
            "20.50.60.70",
            "--client-id",
            entra::CLIENT_ID,
            "--authority-host",
            &w.entra.url,
            "--arm-endpoint",
            &w.arm.url,
        ]),
        &[
            ("--subscription-id", SUBSCRIPTION),
            ("--tenant-id", entra::TENANT),
        ],
    ));
    let mut env = w.base_env();
    env.push(("INPUT_CLIENT_SECRET".into(), entra::CLIENT_SECRET.into()));
    let run = |args: Vec<String>, env: Vec<(String, String)>| {
        let w = &w;
        async move {
            let out = w.run(&args, &env).await;
            let (stdout, stderr) = crate::support::azure::text(&out);
            (crate::support::azure::code(&out), stdout, stderr)
        }
    };
    let (code, _, stderr) = run(args.clone(), env.clone()).await;
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stderr.contains("DNS: * A 20.50.60.70 in zone example.com (created)"),
        "{stderr}"
    );
    let id = format!(
        "{}/providers/Microsoft.Network/dnszones/example.com/A/*",
        ArmMock::rg_id("rg-dns")
    )
    .to_ascii_lowercase();
    let record = w
        .arm
        .with(|d| d.resources.get(&id).map(|(_, b, _)| b.clone()))
        .unwrap_or_else(|| panic!("no record {id}: {:?}", w.arm.calls()));
    assert_eq!(record["name"], "*", "{record}");
    assert_eq!(
        record["properties"]["ARecords"],
        json!([{"ipv4Address": "20.50.60.70"}]),
        "{record}"
    );
    assert_eq!(record["properties"]["fqdn"], "*.example.com.", "{record}");
    // A re-run finds it and writes the same record (nothing new in the zone).
    let (code, _, stderr) = run(args, env).await;
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stderr.contains("DNS: * A 20.50.60.70 in zone example.com (updated)"),
        "{stderr}"
    );
    // Every request body matched the DNS spec; the client secret never reached the logs.
    w.assert_valid();
    assert!(!stderr.contains(entra::CLIENT_SECRET));
}

#[test]
fn missing_permissions_are_one_exit_2_list_before_anything_is_applied() {
    let c = FakeCluster::start_with(SCALE, &["--bare"]);
    c.fault(json!({"deny": [
        {"verb": "create", "group": "cert-manager.io", "resource": "clusterissuers"},
        {"verb": "patch", "group": "external-secrets.io", "resource": "clustersecretstores"},
        {"verb": "create", "group": "source.toolkit.fluxcd.io", "resource": "helmcharts",
         "namespace": "flux-system"},
        {"verb": "create", "group": "", "resource": "namespaces"},
    ]}));
    let out = infra(&c, &[]);
    assert_eq!(out.code, 2, "{out:?}");
    for words in [
        "the cluster phase may not do everything it needs",
        "create clusterissuers.cert-manager.io cluster-wide",
        "patch clustersecretstores.external-secrets.io cluster-wide",
        "create helmcharts.source.toolkit.fluxcd.io in namespace flux-system",
        "create namespaces cluster-wide",
        "hint: nothing was changed",
        "cluster-admin",
    ] {
        assert!(out.stderr.contains(words), "{words}: {out:?}");
    }
    assert!(!out.stderr.contains("created"), "nothing applied: {out:?}");
    let repos = get(
        &c,
        "/apis/source.toolkit.fluxcd.io/v1/namespaces/flux-system/helmrepositories",
    );
    assert_eq!(repos["items"].as_array().map(Vec::len), Some(0), "{repos}");
}
