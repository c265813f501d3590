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
                .contains("cluster ready: 1 object(s) changed"),
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

#[test]
fn a_chart_version_the_repository_lacks_fails_in_source_controllers_words() {
    let c = FakeCluster::start_with(SCALE, &["--bare"]);
    let out = infra(&c, &["--external-secrets-version", "9.9.9"]);
    assert_eq!(out.code, 3, "{out:?}");
    for words in [
        "HelmRelease flux-system/external-secrets is not ready",
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
    let out = infra(&c, &["--wildcard", "true", "--timeout", "8s"]);
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
    let out = infra(&c, &["--timeout", "8s"]);
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
    }
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
    // 2 sources, 2 releases, 2 issuers, 2 stores, the certificate, the copy.
    assert_eq!(checked, 10);
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
