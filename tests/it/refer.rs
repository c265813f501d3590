//! refer step tests: the real binary (or the Azure room's functions) against the
//! spec-validated Entra, OIDC, ARM and Key Vault mocks.

use std::time::Duration;

use aks_backend::clients::azure::credential::{AKS_SERVER_SCOPE, NoMask};
use aks_backend::clients::azure::{Arm, AuthType, AzureError, Credential, dns, network};
use aks_backend::env::Env;
use aks_backend::inputs::settings::AzureSettings;
use aks_backend::inputs::settings::Cloud;
use aks_backend::secret::Secret;
use serde_json::json;

use crate::support::arm::{ArmMock, SUBSCRIPTION};
use crate::support::azure::{PLANTED, RG, World, ZONE, code, text};
use crate::support::entra::{self, EntraConfig};

fn settings(w: &World, auth: AuthType) -> AzureSettings {
    AzureSettings {
        cloud: Cloud::AzureCloud,
        tenant_id: Some(entra::TENANT.into()),
        client_id: Some(entra::CLIENT_ID.into()),
        subscription_id: Some(SUBSCRIPTION.into()),
        authority_host: w.entra.url.parse().unwrap(),
        arm_endpoint: w.arm.url.parse().unwrap(),
        managed_identity_endpoint: w.entra.url.parse().unwrap(),
        auth,
        client_secret: Some(Secret::new(entra::CLIENT_SECRET)),
        service_connection_id: None,
        audience: "api://AzureADTokenExchange".into(),
    }
}

fn github_env(w: &World) -> Env {
    Env::from_pairs(
        [
            ("GITHUB_ACTIONS".to_string(), "true".to_string()),
            (
                "ACTIONS_ID_TOKEN_REQUEST_URL".into(),
                w.entra.github_request_url(),
            ),
            (
                "ACTIONS_ID_TOKEN_REQUEST_TOKEN".into(),
                entra::GITHUB_REQUEST_TOKEN.into(),
            ),
        ],
        w.dir.path(),
    )
}

fn arm_scope(w: &World) -> String {
    format!("{}/.default", w.arm.url)
}

/// The value never shows up, except in the `::add-mask::` command that hides it.
fn assert_never_leaks(w: &World, o: &std::process::Output, value: &str) {
    let (out, err) = text(o);
    for line in out.lines().filter(|l| l.contains(value)) {
        assert!(line.starts_with("::add-mask::"), "stdout leaks it: {line}");
    }
    assert!(!err.contains(value), "stderr leaks it:\n{err}");
    for (path, content) in w.files() {
        assert!(!content.contains(value), "{} leaks it", path.display());
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn github_oidc_finds_the_shared_infrastructure_by_tags_and_never_leaks_a_secret() {
    let w = World::new(EntraConfig::default()).await;
    w.seed(true);
    let mut args = w.args(&[
        "--discovery-tags",
        "app=shop",
        "--key-vault-secrets",
        "mysql-root-password",
        "--dns-zone",
        ZONE,
    ]);
    args.extend(w.ids());
    let o = w.run(&args, &w.github_env()).await;
    let (out, err) = text(&o);
    assert_eq!(code(&o), 0, "stdout:\n{out}\nstderr:\n{err}");
    let outputs = w.outputs();
    assert_eq!(outputs["acr-login-server"], "acrshop.azurecr.io");
    assert_eq!(outputs["aks-name"], "aks-shop");
    assert_eq!(
        outputs["aks-server"],
        "https://aks-shop-dns.hcp.japaneast.azmk8s.io:443"
    );
    assert_eq!(outputs["aks-auth"], "entra-id-token");
    assert_eq!(outputs["gateway-public-ip"], "20.48.1.10");
    assert_eq!(outputs["gateway-nsg-name"], "nsg-agw");
    assert_eq!(outputs["dns-zone"], ZONE);
    let reference = outputs["secret-mysql-root-password"].as_str().unwrap();
    assert!(reference.starts_with(&format!("{}/secrets/mysql-root-password/", w.arm.vault_url)));

    // Entra ID cluster: a token for the AKS server app, no kubelogin, mode 0600.
    let kubeconfig = outputs["kubeconfig"].as_str().unwrap();
    let kc = std::fs::read_to_string(kubeconfig).unwrap();
    assert!(!kc.contains("kubelogin") && kc.contains("token:"), "{kc}");
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(kubeconfig).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    assert!(w.entra.scopes().contains(&AKS_SERVER_SCOPE.to_string()));

    // Every token and secret is masked at once; none is ever printed otherwise.
    assert!(out.contains(&format!("::add-mask::{PLANTED}")), "{out}");
    assert_never_leaks(&w, &o, PLANTED);
    for token in w.book.all_tokens() {
        assert_never_leaks_but_kubeconfig(&w, &o, &token, kubeconfig);
    }
    let summary = std::fs::read_to_string(w.path("summary.md")).unwrap();
    assert!(summary.contains("6 of 6 found"), "{summary}");
    assert!(summary.contains("acrshop"), "{summary}");
    assert!(
        std::fs::read_to_string(w.path("github_output"))
            .unwrap()
            .contains("acr-login-server=acrshop.azurecr.io")
    );
    assert_eq!(
        w.entra.counts().github_mints,
        1,
        "one assertion serves all scopes"
    );
    w.assert_valid();
}

/// Tokens may only be in the kubeconfig (mode 0600), which is their purpose.
fn assert_never_leaks_but_kubeconfig(
    w: &World,
    o: &std::process::Output,
    value: &str,
    kubeconfig: &str,
) {
    let (out, err) = text(o);
    for line in out.lines().filter(|l| l.contains(value)) {
        assert!(
            line.starts_with("::add-mask::"),
            "stdout leaks a token: {line}"
        );
    }
    assert!(!err.contains(value));
    for (path, content) in w.files() {
        if path.to_str() != Some(kubeconfig) {
            assert!(!content.contains(value), "{} leaks a token", path.display());
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn azure_devops_workload_identity_federation_uses_the_service_connection() {
    let w = World::new(EntraConfig::default()).await;
    w.seed(false);
    let id = entra::SERVICE_CONNECTION;
    let mut env = w.base_env();
    env.extend([
        ("TF_BUILD".to_string(), "True".to_string()),
        ("SYSTEM_OIDCREQUESTURI".into(), w.entra.ado_request_uri()),
        ("SYSTEM_ACCESSTOKEN".into(), entra::ADO_ACCESS_TOKEN.into()),
        ("INPUT_SERVICE_CONNECTION_ID".into(), id.into()),
        (
            format!("ENDPOINT_AUTH_PARAMETER_{id}_TENANTID"),
            entra::TENANT.into(),
        ),
        (
            format!("ENDPOINT_AUTH_PARAMETER_{id}_SERVICEPRINCIPALID"),
            entra::CLIENT_ID.into(),
        ),
        (
            "AGENT_TEMPDIRECTORY".into(),
            w.path("tmp").display().to_string(),
        ),
    ]);
    let args = w.args(&[
        "--discovery-tags",
        "app=shop",
        "--key-vault-secrets",
        "mysql-root-password",
    ]);
    let o = w.run(&args, &env).await;
    let (out, err) = text(&o);
    assert_eq!(code(&o), 0, "stdout:\n{out}\nstderr:\n{err}");
    assert!(
        out.contains(
            "##vso[task.setvariable variable=acr-login-server;isOutput=true]acrshop.azurecr.io"
        ),
        "{out}"
    );
    assert!(out.contains("##vso[task.setsecret]"));
    assert_eq!(w.outputs()["aks-auth"], "client-certificate");
    assert!(w.entra.counts().ado_mints >= 1);
    for line in out.lines().filter(|l| l.contains(PLANTED)) {
        assert!(line.starts_with("##vso[task.setsecret]"), "{line}");
    }
    assert!(!err.contains(PLANTED));
    w.assert_valid();
}

#[tokio::test(flavor = "multi_thread")]
async fn client_secret_on_a_laptop_with_names_prints_no_secret_at_all() {
    let w = World::new(EntraConfig::default()).await;
    w.seed(false);
    let mut args = w.args(&[
        "--acr-name",
        "acrshop",
        "--cluster-name",
        "aks-shop",
        "--key-vault-name",
        "kv-shop",
        "--app-gateway-name",
        "agw-shop",
        "--gateway-nsg-name",
        "nsg-agw",
        "--dns-zone",
        ZONE,
        "--key-vault-secrets",
        "mysql-root-password",
    ]);
    args.extend(w.ids());
    let mut env = w.base_env();
    env.push(("INPUT_CLIENT_SECRET".into(), entra::CLIENT_SECRET.into()));
    let o = w.run(&args, &env).await;
    let (out, err) = text(&o);
    assert_eq!(code(&o), 0, "{err}");
    assert!(err.contains("signed in with client-secret"), "{err}");
    // Local host: nothing to mask with, so nothing secret is printed at all.
    for v in [
        PLANTED,
        entra::CLIENT_SECRET,
        "mock-cluster-user-token-3c1d",
    ] {
        assert!(!out.contains(v) && !err.contains(v), "{v} leaked");
    }
    // The console gets the summary as plain text: a table in columns, no Markdown.
    assert!(err.contains("✅  Gateway NSG  "), "{err}");
    assert!(!err.contains("| ✅ |"), "{err}");
    assert_eq!(
        w.outputs()["acr-id"],
        format!(
            "{}/providers/Microsoft.ContainerRegistry/registries/acrshop",
            ArmMock::rg_id(RG)
        )
    );
    w.assert_valid();
}

#[tokio::test(flavor = "multi_thread")]
async fn managed_identity_signs_in_through_the_metadata_endpoint() {
    let w = World::new(EntraConfig::default()).await;
    w.seed(false);
    let args = w.args(&[
        "--auth-type",
        "managed-identity",
        "--managed-identity-endpoint",
        &w.entra.url,
        "--require",
        "acr",
        "--discovery-tags",
        "app=shop",
    ]);
    let o = w.run(&args, &w.base_env()).await;
    assert_eq!(code(&o), 0, "{:?}", text(&o));
    assert!(w.entra.counts().imds_requests >= 1);
    assert_eq!(w.outputs()["acr-name"], "acrshop");
    w.assert_valid();
}

#[tokio::test(flavor = "multi_thread")]
async fn the_azure_cli_is_the_last_resort_on_a_laptop() {
    let w = World::new(EntraConfig::default()).await;
    w.arm.add_registry(RG, "acrshop", json!({"app": "shop"}));
    let token = w.book.issue(&arm_scope(&w), Duration::from_secs(3600));
    let bin = w.path("fakebin");
    std::fs::create_dir_all(&bin).unwrap();
    let az = bin.join("az");
    let exp = jiff::Timestamp::now().as_second() + 3600;
    std::fs::write(
        &az,
        format!("#!/bin/sh\necho \"$@\" >> {}\necho '{{\"accessToken\": \"{token}\", \"expires_on\": {exp}, \"tokenType\": \"Bearer\"}}'\n", w.path("az-args").display()),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&az, std::fs::Permissions::from_mode(0o755)).unwrap();
    // auto: no CI, no secret, no metadata service (a closed port) -> the CLI.
    let args = w.args(&[
        "--managed-identity-endpoint",
        "http://127.0.0.1:9",
        "--require",
        "acr",
    ]);
    let mut env = w.base_env();
    env[0].1 = format!("{}:/usr/bin:/bin", bin.display());
    let o = w.run(&args, &env).await;
    let (_, err) = text(&o);
    assert_eq!(code(&o), 0, "{err}");
    assert!(
        err.contains("signed in with managed-identity") || err.contains("signed in with"),
        "{err}"
    );
    let az_args = std::fs::read_to_string(w.path("az-args")).unwrap();
    assert!(
        az_args.contains(&format!(
            "account get-access-token -o json --scope {}",
            arm_scope(&w)
        )),
        "{az_args}"
    );
    w.assert_valid();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_long_run_remints_the_federated_assertion_on_refresh() {
    let cfg = EntraConfig {
        token_lifetime: Duration::from_secs(1),
        oidc_lifetime: 2,
        ..Default::default()
    };
    let w = World::new(cfg).await;
    w.seed(false);
    let env = github_env(&w);
    let http = crate::support::tls::http();
    let cred =
        Credential::from_settings(&settings(&w, AuthType::Auto), &env, &http, &NoMask).unwrap();
    assert_eq!(cred.kind(), AuthType::GithubOidc);
    let arm = Arm::new(&http, &w.arm.url.parse().unwrap(), &cred, SUBSCRIPTION);
    for _ in 0..3 {
        // Each round outlives the access token and the ID token (a 40-minute job, fast).
        aks_backend::clients::azure::resources::registry(&arm, RG, "acrshop")
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(1300)).await;
    }
    assert!(w.entra.counts().github_mints >= 3, "{:?}", w.entra.counts());
    assert!(cred.stats().assertions_minted >= 3);
    w.assert_valid();
}

#[tokio::test(flavor = "multi_thread")]
async fn an_assertion_that_expired_in_flight_is_reminted_once_then_explained() {
    let w = World::new(EntraConfig {
        expired_oidc_first: 1,
        ..Default::default()
    })
    .await;
    let http = crate::support::tls::http();
    let env = github_env(&w);
    let cred = Credential::from_settings(&settings(&w, AuthType::GithubOidc), &env, &http, &NoMask)
        .unwrap();
    cred.token(&arm_scope(&w)).await.unwrap();
    assert_eq!(w.entra.counts().github_mints, 2);

    w.entra.configure(|c| c.expired_oidc_first = 100);
    let cred = Credential::from_settings(&settings(&w, AuthType::GithubOidc), &env, &http, &NoMask)
        .unwrap();
    let e = cred.token(&arm_scope(&w)).await.unwrap_err();
    assert!(
        matches!(
            e,
            AzureError::Entra {
                code: Some(700024),
                ..
            }
        ),
        "{e}"
    );
    let hint = aks_backend::error::Diagnostic::hint(&e).unwrap();
    assert!(hint.contains("AADSTS700024"), "{hint}");
    w.assert_valid();
}

#[tokio::test(flavor = "multi_thread")]
async fn aadsts70021_shows_the_subject_the_token_carried() {
    let w = World::new(EntraConfig {
        federated: vec![(
            entra::GITHUB_ISSUER.into(),
            "repo:octo/shop:environment:prod".into(),
        )],
        ..Default::default()
    })
    .await;
    w.seed(false);
    let mut args = w.args(&[]);
    args.extend(w.ids());
    let o = w.run(&args, &w.github_env()).await;
    let (out, _) = text(&o);
    assert_eq!(code(&o), 2, "{out}");
    assert!(out.contains("AADSTS70021"), "{out}");
    assert!(
        out.contains(&format!("subject `{}`", entra::GITHUB_SUBJECT)),
        "{out}"
    );
    assert!(out.contains("add a federated credential"), "{out}");
    w.assert_valid();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_workflow_without_id_token_write_is_told_so() {
    let w = World::new(EntraConfig::default()).await;
    let mut env = w.github_env();
    env.retain(|(k, _)| !k.starts_with("ACTIONS_ID_TOKEN"));
    let mut args = w.args(&[]);
    args.extend(w.ids());
    let o = w.run(&args, &env).await;
    let (out, _) = text(&o);
    assert_eq!(code(&o), 2);
    assert!(out.contains("permissions: id-token: write"), "{out}");
    assert_eq!(w.entra.counts().token_requests, 0, "nothing was attempted");
}

#[tokio::test(flavor = "multi_thread")]
async fn throttling_and_server_errors_are_retried_per_call() {
    let w = World::new(EntraConfig::default()).await;
    w.seed(false);
    w.entra.fail_next(503, Some(0));
    w.arm.fail(None, "/registries/acrshop", 429, Some(1), 1);
    w.arm.fail(None, "/managedClusters/aks-shop", 500, None, 2);
    w.arm.fail(None, "/resources", 503, Some(0), 1);
    let mut args = w.args(&["--discovery-tags", "app=shop"]);
    args.extend(w.ids());
    let mut env = w.base_env();
    env.push(("INPUT_CLIENT_SECRET".into(), entra::CLIENT_SECRET.into()));
    let o = w.run(&args, &env).await;
    assert_eq!(code(&o), 0, "{:?}", text(&o));
    let calls = w.arm.calls();
    let n = |p: &str| {
        calls
            .iter()
            .filter(|c| c.starts_with("GET") && c.ends_with(p))
            .count()
    };
    assert_eq!(n("/registries/acrshop"), 2);
    assert_eq!(n("/managedClusters/aks-shop"), 3);
    assert_eq!(n("/resources"), 2);
    w.assert_valid();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_401_mid_run_renews_the_token_once() {
    let w = World::new(EntraConfig::default()).await;
    w.seed(false);
    let http = crate::support::tls::http();
    let env = Env::from_pairs::<&str, &str>([], w.dir.path());
    let cred =
        Credential::from_settings(&settings(&w, AuthType::ClientSecret), &env, &http, &NoMask)
            .unwrap();
    let arm = Arm::new(&http, &w.arm.url.parse().unwrap(), &cred, SUBSCRIPTION);
    aks_backend::clients::azure::resources::registry(&arm, RG, "acrshop")
        .await
        .unwrap();
    w.arm.fail(None, "/registries/acrshop", 401, None, 1);
    aks_backend::clients::azure::resources::registry(&arm, RG, "acrshop")
        .await
        .unwrap();
    assert_eq!(w.entra.counts().token_requests, 2);
    w.assert_valid();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_403_names_the_missing_role_and_its_scope() {
    let w = World::new(EntraConfig::default()).await;
    w.seed(false);
    let scope = format!(
        "{}/providers/Microsoft.ContainerService/managedClusters/aks-shop",
        ArmMock::rg_id(RG)
    );
    w.arm.forbid(
        "/listClusterUserCredential",
        "Microsoft.ContainerService/managedClusters/listClusterUserCredential/action",
        &scope,
    );
    let mut args = w.args(&[
        "--cluster-name",
        "aks-shop",
        "--require",
        "aks",
        "--discovery-tags",
        "app=shop",
    ]);
    args.extend(w.ids());
    let mut env = w.base_env();
    env.push(("INPUT_CLIENT_SECRET".into(), entra::CLIENT_SECRET.into()));
    let o = w.run(&args, &env).await;
    let (_, err) = text(&o);
    assert_eq!(code(&o), 3, "{err}");
    assert!(
        err.contains("grant the role `Azure Kubernetes Service Cluster User Role` on scope"),
        "{err}"
    );
    assert!(err.contains(&scope), "{err}");
    w.assert_valid();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_named_resource_that_is_not_there_is_bad_input() {
    let w = World::new(EntraConfig::default()).await;
    w.seed(false);
    let mut args = w.args(&["--acr-name", "acrmissing"]);
    args.extend(w.ids());
    let mut env = w.base_env();
    env.push(("INPUT_CLIENT_SECRET".into(), entra::CLIENT_SECRET.into()));
    let o = w.run(&args, &env).await;
    let (_, err) = text(&o);
    assert_eq!(code(&o), 2, "{err}");
    assert!(
        err.contains("container registry `acrmissing` was not found in resource group rg-shared"),
        "{err}"
    );
    w.assert_valid();
}

#[tokio::test(flavor = "multi_thread")]
async fn discovery_with_two_or_zero_candidates_lists_what_it_saw() {
    let w = World::new(EntraConfig::default()).await;
    w.seed(false);
    w.arm
        .add_cluster(RG, "aks-shop-2", json!({"app": "shop"}), false);
    let mut env = w.base_env();
    env.push(("INPUT_CLIENT_SECRET".into(), entra::CLIENT_SECRET.into()));
    let mut args = w.args(&["--discovery-tags", "app=shop"]);
    args.extend(w.ids());
    let o = w.run(&args, &env).await;
    let (_, err) = text(&o);
    assert_eq!(code(&o), 2, "{err}");
    assert!(err.contains("looking for the AKS cluster in resource group rg-shared (by tags app=shop) found 2 candidates: aks-shop, aks-shop-2"), "{err}");
    assert!(err.contains("pass --cluster-name"), "{err}");

    let mut args = w.args(&["--discovery-tags", "app=nothing"]);
    args.extend(w.ids());
    let o = w.run(&args, &env).await;
    let (_, err) = text(&o);
    assert_eq!(code(&o), 2, "{err}");
    assert!(err.contains("looking for the Container registry in resource group rg-shared (by tags app=nothing) found none"), "{err}");
    w.assert_valid();
}

#[tokio::test(flavor = "multi_thread")]
async fn discovery_reads_every_page() {
    let w = World::new(EntraConfig::default()).await;
    w.seed(false);
    for i in 0..7 {
        w.arm
            .add_registry(RG, &format!("acrnoise{i}"), json!({"app": "noise"}));
    }
    w.arm.with(|d| d.page_size = 3);
    let mut env = w.base_env();
    env.push(("INPUT_CLIENT_SECRET".into(), entra::CLIENT_SECRET.into()));
    let mut args = w.args(&["--discovery-tags", "app=shop", "--dns-zone", ZONE]);
    args.extend(w.ids());
    let o = w.run(&args, &env).await;
    assert_eq!(code(&o), 0, "{:?}", text(&o));
    let pages = w
        .arm
        .calls()
        .iter()
        .filter(|c| c.ends_with("/resources"))
        .count();
    assert!(pages >= 5, "{pages} pages");
    assert_eq!(w.outputs()["gateway-nsg-name"], "nsg-agw");
    w.assert_valid();
}

#[tokio::test(flavor = "multi_thread")]
async fn deployment_outputs_name_the_resources_and_the_kubeconfig_comes_from_key_vault() {
    let w = World::new(EntraConfig::default()).await;
    w.arm
        .add_registry(RG, "acrdeployed", serde_json::Value::Null);
    let cluster_id = w
        .arm
        .add_cluster(RG, "aks-deployed", serde_json::Value::Null, true);
    w.arm.add_vault(RG, "kv-deployed", serde_json::Value::Null);
    let kubeconfig = "apiVersion: v1\nkind: Config\ncurrent-context: c\nclusters:\n- name: c\n  cluster:\n    server: https://aks-deployed.example:443\n    certificate-authority-data: Q0E=\ncontexts:\n- name: c\n  context: {cluster: c, user: admin}\nusers:\n- name: admin\n  user:\n    client-certificate-data: Q0VSVA==\n    client-key-data: a3Yta2V5LXZhbHVlLTQ0\n";
    use base64::Engine;
    w.arm.add_secret(
        "aks-kubeconfig",
        &base64::engine::general_purpose::STANDARD.encode(kubeconfig),
    );
    w.arm.add_deployment(
        RG,
        "shared-infra",
        json!({"acrName": "acrdeployed", "aksId": cluster_id, "keyVaultName": "kv-deployed"}),
    );
    let mut args = w.args(&[
        "--deployment-name",
        "shared-infra",
        "--kubeconfig-secret",
        "aks-kubeconfig",
    ]);
    args.extend(w.ids());
    let mut env = w.base_env();
    env.push(("INPUT_CLIENT_SECRET".into(), entra::CLIENT_SECRET.into()));
    let o = w.run(&args, &env).await;
    let (_, err) = text(&o);
    assert_eq!(code(&o), 0, "{err}");
    let out = w.outputs();
    assert_eq!(out["acr-name"], "acrdeployed");
    assert_eq!(out["aks-name"], "aks-deployed");
    assert_eq!(out["aks-auth"], "client-certificate");
    assert_eq!(out["aks-server"], "https://aks-deployed.example:443");
    assert!(
        err.contains("not found"),
        "the summary lists what was not found: {err}"
    );
    assert!(err.contains("has none of the outputs dnsZoneName"), "{err}");
    assert!(!err.contains("a3Yta2V5LXZhbHVlLTQ0"));
    assert!(
        !w.arm
            .calls()
            .iter()
            .any(|c| c.contains("listClusterUserCredential"))
    );
    w.assert_valid();
}

#[tokio::test(flavor = "multi_thread")]
async fn secret_values_reach_the_outputs_file_only_when_asked_and_then_0600() {
    let w = World::new(EntraConfig::default()).await;
    w.seed(false);
    let mut args = w.args(&[
        "--discovery-tags",
        "app=shop",
        "--key-vault-secrets",
        "mysql-root-password",
        "--secrets-in-outputs-file",
    ]);
    args.extend(w.ids());
    let mut env = w.base_env();
    env.push(("INPUT_CLIENT_SECRET".into(), entra::CLIENT_SECRET.into()));
    let o = w.run(&args, &env).await;
    let (out, err) = text(&o);
    assert_eq!(code(&o), 0, "{err}");
    assert_eq!(w.outputs()["secret-mysql-root-password-value"], PLANTED);
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(w.path("outputs.json"))
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o600);
    assert!(!out.contains(PLANTED) && !err.contains(PLANTED));

    // Without --outputs-file there is nowhere safe to put it: bad input, nothing done.
    let at = args.iter().position(|a| a == "--outputs-file").unwrap();
    args.drain(at..at + 2);
    let calls = w.arm.calls().len();
    let o = w.run(&args, &env).await;
    assert_eq!(code(&o), 2, "{:?}", text(&o));
    assert_eq!(w.arm.calls().len(), calls);
    w.assert_valid();
}

#[tokio::test(flavor = "multi_thread")]
async fn dns_a_record_is_created_then_updated() {
    let w = World::new(EntraConfig::default()).await;
    w.seed(false);
    let http = crate::support::tls::http();
    let token = Secret::new(w.book.issue(&arm_scope(&w), Duration::from_secs(600)));
    let mut record = dns::ARecord {
        subscription_id: SUBSCRIPTION.into(),
        resource_group: RG.into(),
        zone: ZONE.into(),
        name: "api".into(),
        ttl: 300,
        addresses: vec!["20.48.1.10".parse().unwrap()],
    };
    let endpoint = w.arm.url.parse().unwrap();
    let r = dns::upsert_a_record(&http, &endpoint, &token, &record)
        .await
        .unwrap();
    assert!(r.created);
    assert_eq!(r.fqdn.as_deref(), Some("api.shop.example.com."));
    record.addresses = vec!["20.48.1.11".parse().unwrap()];
    let r = dns::upsert_a_record(&http, &endpoint, &token, &record)
        .await
        .unwrap();
    assert!(!r.created);
    assert_eq!(r.addresses, record.addresses);
    // The body sent is the official example's shape.
    let bodies = w.arm.with(|d| d.put_bodies.clone());
    assert_eq!(
        bodies[0].1,
        json!({"properties": {"TTL": 300, "ARecords": [{"ipv4Address": "20.48.1.10"}]}})
    );

    record.zone = "missing.example.com".into();
    let e = dns::upsert_a_record(&http, &endpoint, &token, &record)
        .await
        .unwrap_err();
    assert!(matches!(e, AzureError::NotFound { .. }), "{e}");
    w.assert_valid();
}

#[tokio::test(flavor = "multi_thread")]
async fn nsg_rule_allows_https_from_the_listed_cidrs() {
    let w = World::new(EntraConfig::default()).await;
    w.seed(false);
    let http = crate::support::tls::http();
    let token = Secret::new(w.book.issue(&arm_scope(&w), Duration::from_secs(600)));
    let endpoint = w.arm.url.parse().unwrap();
    let mut rule = network::HttpsAllowRule {
        subscription_id: SUBSCRIPTION.into(),
        resource_group: RG.into(),
        nsg: "nsg-agw".into(),
        name: "allow-https".into(),
        priority: 200,
        sources: network::Sources::Cidrs(vec![
            network::Cidr::parse("203.0.113.0/24").unwrap(),
            network::Cidr::parse("198.51.100.7").unwrap(),
        ]),
        description: "aks-backend: HTTPS to the app".into(),
    };
    w.arm.fail(
        Some(reqwest::Method::PUT),
        "/securityRules/allow-https",
        429,
        Some(0),
        1,
    );
    let r = network::upsert_https_allow_rule(&http, &endpoint, &token, &rule)
        .await
        .unwrap();
    assert!(r.created);
    assert_eq!(r.provisioning_state, "Succeeded");
    let bodies = w.arm.with(|d| d.put_bodies.clone());
    let p = &bodies[0].1["properties"];
    assert_eq!(
        p["sourceAddressPrefixes"],
        json!(["203.0.113.0/24", "198.51.100.7"])
    );
    assert_eq!(p["destinationPortRange"], "443");
    assert_eq!(p["protocol"], "Tcp");

    rule.sources = network::Sources::Any;
    let r = network::upsert_https_allow_rule(&http, &endpoint, &token, &rule)
        .await
        .unwrap();
    assert!(!r.created);
    assert!(network::Cidr::parse("10.0.0.0/40").is_err());
    rule.priority = 50;
    assert!(matches!(
        network::upsert_https_allow_rule(&http, &endpoint, &token, &rule).await,
        Err(AzureError::InvalidArgument { .. })
    ));
    w.assert_valid();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_vault_without_the_role_names_key_vault_secrets_user() {
    let w = World::new(EntraConfig::default()).await;
    w.seed(false);
    w.arm.with(|d| d.vault_forbidden = true);
    let mut args = w.args(&[
        "--key-vault-name",
        "kv-shop",
        "--key-vault-secrets",
        "mysql-root-password",
        "--require",
        "key-vault",
        "--discovery-tags",
        "app=shop",
    ]);
    args.extend(w.ids());
    let mut env = w.base_env();
    env.push(("INPUT_CLIENT_SECRET".into(), entra::CLIENT_SECRET.into()));
    let o = w.run(&args, &env).await;
    let (_, err) = text(&o);
    assert_eq!(code(&o), 3, "{err}");
    assert!(
        err.contains("grant the role `Key Vault Secrets User` on scope"),
        "{err}"
    );
    w.assert_valid();
}

/// azure/login's `auth-type` values keep azure/login's meaning: SERVICE_PRINCIPAL is the
/// app registration (OIDC federation when the job can mint a token, else the client
/// secret, never a managed identity or the CLI); IDENTITY is a managed identity.
#[tokio::test(flavor = "multi_thread")]
async fn azure_login_auth_types_keep_their_meaning() {
    let w = World::new(EntraConfig::default()).await;
    let http = crate::support::tls::http();
    let sp = AuthType::parse("SERVICE_PRINCIPAL").unwrap();
    let cred =
        Credential::from_settings(&settings(&w, sp), &github_env(&w), &http, &NoMask).unwrap();
    assert_eq!(cred.kind(), AuthType::GithubOidc);
    let no_ci = Env::from_pairs::<&str, &str>([], w.dir.path());
    let cred = Credential::from_settings(&settings(&w, sp), &no_ci, &http, &NoMask).unwrap();
    assert_eq!(cred.kind(), AuthType::ClientSecret);
    let mut no_secret = settings(&w, sp);
    no_secret.client_secret = None;
    let e = Credential::from_settings(&no_secret, &no_ci, &http, &NoMask)
        .err()
        .expect("no way to sign in as the service principal");
    assert!(matches!(e, AzureError::MissingSetting { .. }), "{e}");
    let id = AuthType::parse("IDENTITY").unwrap();
    let cred = Credential::from_settings(&settings(&w, id), &no_ci, &http, &NoMask).unwrap();
    assert_eq!(cred.kind(), AuthType::ManagedIdentity);
}
