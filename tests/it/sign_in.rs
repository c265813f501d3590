//! Sign-in through `azure_identity` against the TLS-served Entra mock: the `AZURE_*`
//! conventions of the Azure SDKs (a self-hosted runner in an AKS pod with workload
//! identity), our settings winning over them, and HTTPS kept for Entra.

use aks_backend::clients::azure::credential::NoMask;
use aks_backend::clients::azure::{AuthType, AzureError, Credential};
use aks_backend::env::Env;
use aks_backend::inputs::settings::{AzureSettings, Cloud};

use crate::support::arm::SUBSCRIPTION;
use crate::support::azure::{World, code, text};
use crate::support::entra::{self, EntraConfig};

const AKS_ISSUER: &str = "https://eastus.oic.prod-aks.azure.com/11111111-1111-1111-1111-111111111111/88888888-8888-8888-8888-888888888888/";
const RUNNER_SUBJECT: &str = "system:serviceaccount:arc-runners:runner";

fn aks_config() -> EntraConfig {
    let mut cfg = EntraConfig::default();
    cfg.federated
        .push((AKS_ISSUER.into(), RUNNER_SUBJECT.into()));
    cfg
}

/// What the AKS workload identity webhook puts in a pod: the three variables and the
/// projected token they name.
fn workload_env(w: &World, subject: &str) -> Vec<(String, String)> {
    let file = w.path("azure-identity-token");
    let token = entra::jwt(AKS_ISSUER, subject, "api://AzureADTokenExchange", 3600);
    std::fs::write(&file, token).unwrap();
    let mut env = w.base_env();
    env.extend([
        ("AZURE_CLIENT_ID".to_string(), entra::CLIENT_ID.to_string()),
        ("AZURE_TENANT_ID".into(), entra::TENANT.into()),
        (
            "AZURE_FEDERATED_TOKEN_FILE".into(),
            file.display().to_string(),
        ),
        (
            "AZURE_AUTHORITY_HOST".into(),
            "https://login.microsoftonline.com/".into(),
        ),
    ]);
    env
}

#[tokio::test(flavor = "multi_thread")]
async fn azure_client_id_tenant_id_and_federated_token_file_sign_in_a_runner_on_aks() {
    let w = World::new(aks_config()).await;
    w.seed(false);
    // No --tenant-id, --client-id or --auth-type: the pod's variables are enough.
    let args = w.args(&["--require", "acr", "--discovery-tags", "app=shop"]);
    let o = w.run(&args, &workload_env(&w, RUNNER_SUBJECT)).await;
    let (out, err) = text(&o);
    assert_eq!(code(&o), 0, "{out}\n{err}");
    assert!(err.contains("signed in with workload-identity"), "{err}");
    assert!(w.entra.counts().token_requests >= 1);
    assert_eq!(w.entra.counts().github_mints, 0);
    w.assert_valid();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_token_file_whose_subject_is_not_federated_names_that_subject() {
    let w = World::new(aks_config()).await;
    w.seed(false);
    let args = w.args(&["--require", "acr"]);
    let o = w
        .run(
            &args,
            &workload_env(&w, "system:serviceaccount:default:default"),
        )
        .await;
    let (out, err) = text(&o);
    let out = format!("{out}{err}");
    assert_eq!(code(&o), 2, "{out}");
    assert!(out.contains("AADSTS70021"), "{out}");
    assert!(
        out.contains("subject `system:serviceaccount:default:default`"),
        "{out}"
    );
    w.assert_valid();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_missing_federated_token_file_is_bad_input_naming_it() {
    let w = World::new(aks_config()).await;
    let mut env = workload_env(&w, RUNNER_SUBJECT);
    let gone = w.path("no-such-token");
    for (k, v) in env.iter_mut() {
        if k == "AZURE_FEDERATED_TOKEN_FILE" {
            *v = gone.display().to_string();
        }
    }
    let o = w.run(&w.args(&["--require", "acr"]), &env).await;
    let (out, err) = text(&o);
    let out = format!("{out}{err}");
    assert_eq!(code(&o), 2, "{out}");
    assert!(out.contains(&gone.display().to_string()), "{out}");
    assert!(out.contains("AZURE_FEDERATED_TOKEN_FILE"), "{out}");
    assert_eq!(w.entra.counts().token_requests, 0);
}

fn settings(w: &World, client_id: Option<&str>, tenant_id: Option<&str>) -> AzureSettings {
    AzureSettings {
        cloud: Cloud::AzureCloud,
        tenant_id: tenant_id.map(String::from),
        client_id: client_id.map(String::from),
        subscription_id: Some(SUBSCRIPTION.into()),
        authority_host: w.entra.url.parse().unwrap(),
        arm_endpoint: w.arm.url.parse().unwrap(),
        managed_identity_endpoint: w.entra.url.parse().unwrap(),
        auth: AuthType::Auto,
        client_secret: Some(aks_backend::secret::Secret::new(entra::CLIENT_SECRET)),
        service_connection_id: None,
        audience: "api://AzureADTokenExchange".into(),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn azure_client_id_and_tenant_id_fill_what_the_settings_leave_empty() {
    let w = World::new(EntraConfig::default()).await;
    let http = crate::support::tls::http();
    let env = Env::from_pairs(
        [
            ("AZURE_CLIENT_ID", entra::CLIENT_ID),
            ("AZURE_TENANT_ID", entra::TENANT),
        ],
        w.dir.path(),
    );
    let cred = Credential::from_settings(&settings(&w, None, None), &env, &http, &NoMask).unwrap();
    assert_eq!(cred.kind(), AuthType::ClientSecret);
    cred.token(&format!("{}/.default", w.arm.url))
        .await
        .unwrap();
    w.assert_valid();
}

#[tokio::test(flavor = "multi_thread")]
async fn our_client_id_setting_wins_over_azure_client_id() {
    let w = World::new(EntraConfig::default()).await;
    let http = crate::support::tls::http();
    let env = Env::from_pairs(
        [("AZURE_CLIENT_ID", "99999999-9999-9999-9999-999999999999")],
        w.dir.path(),
    );
    let s = settings(&w, Some(entra::CLIENT_ID), Some(entra::TENANT));
    let cred = Credential::from_settings(&s, &env, &http, &NoMask).unwrap();
    cred.token(&format!("{}/.default", w.arm.url))
        .await
        .unwrap();
    w.assert_valid();
}

#[tokio::test(flavor = "multi_thread")]
async fn an_entra_authority_that_is_not_https_is_bad_input() {
    let w = World::new(EntraConfig::default()).await;
    let http = crate::support::tls::http();
    let mut s = settings(&w, Some(entra::CLIENT_ID), Some(entra::TENANT));
    s.authority_host = "http://127.0.0.1:9/".parse().unwrap();
    let env = Env::from_pairs(Vec::<(String, String)>::new(), w.dir.path());
    let cred = Credential::from_settings(&s, &env, &http, &NoMask).unwrap();
    let e = cred
        .token(&format!("{}/.default", w.arm.url))
        .await
        .unwrap_err();
    assert!(matches!(e, AzureError::InvalidArgument { .. }), "{e}");
    assert_eq!(
        aks_backend::error::Diagnostic::exit(&e),
        aks_backend::error::Exit::BadInput
    );
    assert!(e.to_string().contains("authority-host"), "{e}");
    assert!(e.to_string().contains("not HTTPS"), "{e}");
}

#[tokio::test(flavor = "multi_thread")]
async fn workload_identity_without_azure_federated_token_file_is_bad_input_naming_it() {
    let w = World::new(EntraConfig::default()).await;
    let http = crate::support::tls::http();
    let mut s = settings(&w, Some(entra::CLIENT_ID), Some(entra::TENANT));
    s.auth = AuthType::WorkloadIdentity;
    let env = Env::from_pairs(Vec::<(String, String)>::new(), w.dir.path());
    let e = Credential::from_settings(&s, &env, &http, &NoMask)
        .err()
        .expect("no token file, no credential");
    assert_eq!(
        aks_backend::error::Diagnostic::exit(&e),
        aks_backend::error::Exit::BadInput
    );
    assert!(e.to_string().contains("AZURE_FEDERATED_TOKEN_FILE"), "{e}");
    assert_eq!(w.entra.counts().token_requests, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn azure_authority_host_is_the_default_of_authority_host() {
    let w = World::new(aks_config()).await;
    w.seed(false);
    let mut args = w.args(&["--require", "acr", "--discovery-tags", "app=shop"]);
    let i = args.iter().position(|a| a == "--authority-host").unwrap();
    args.drain(i..i + 2);
    let mut env = workload_env(&w, RUNNER_SUBJECT);
    for (k, v) in env.iter_mut() {
        if k == "AZURE_AUTHORITY_HOST" {
            *v = w.entra.url.clone();
        }
    }
    let o = w.run(&args, &env).await;
    let (out, err) = text(&o);
    assert_eq!(code(&o), 0, "{out}\n{err}");
    assert!(w.entra.counts().token_requests >= 1);
    w.assert_valid();
}
