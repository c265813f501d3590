//! Serves the test suite's Azure mocks (Entra ID + GitHub OIDC, ARM + Key Vault), seeded
//! with the seed's shared infrastructure, until killed. For `scripts/bench/refer.sh`:
//! writes `export NAME=value` lines (endpoints, OIDC variables) to the file named by
//! the first argument once the servers listen.
//!
//! The mocks are the very modules `tests/it` uses (same spec validation); a request that
//! breaks the spec is printed to stderr when the process is interrupted.

#![allow(dead_code)]

// At the crate root, so that the modules' `super::spec` / `super::entra` resolve.
#[path = "../tests/it/support/arm.rs"]
mod arm;
#[path = "../tests/it/support/entra.rs"]
mod entra;
#[path = "../tests/it/support/spec.rs"]
mod spec;
#[path = "../tests/it/support/tls.rs"]
mod tls;

use std::sync::Arc;

use arm::{ArmMock, SUBSCRIPTION};
use entra::{EntraConfig, EntraMock, TokenBook};
use serde_json::json;

#[tokio::main]
async fn main() {
    let out = std::env::args()
        .nth(1)
        .expect("usage: azure-mocks ENV_FILE");
    let book = Arc::new(TokenBook::default());
    let entra = EntraMock::start(EntraConfig::default(), book.clone()).await;
    let arm = ArmMock::start(book, &entra.url).await;
    let rg = "rg-shared";
    let tags = json!({"app": "shop"});
    arm.add_registry(rg, "acrshop", tags.clone());
    arm.add_cluster(rg, "aks-shop", tags.clone(), true);
    arm.add_vault(rg, "kv-shop", tags.clone());
    arm.add_secret("mysql-root-password", "Pl4nted-MySQL-r00t-Passw0rd!");
    arm.add_zone(rg, "shop.example.com", serde_json::Value::Null);
    arm.add_gateway(rg, "agw-shop", tags, &["nsg-agw"], &["nsg-aks"]);
    let env = format!(
        "export AZ_MOCK_ENTRA={}\nexport AZ_MOCK_ARM={}\nexport AZ_MOCK_SUBSCRIPTION={SUBSCRIPTION}\nexport AZ_MOCK_TENANT={}\nexport AZ_MOCK_CLIENT={}\nexport ACTIONS_ID_TOKEN_REQUEST_URL='{}'\nexport ACTIONS_ID_TOKEN_REQUEST_TOKEN={}\nexport AKS_BACKEND_TEST_CA_FILE='{}'\n",
        entra.url,
        arm.url,
        entra::TENANT,
        entra::CLIENT_ID,
        entra.github_request_url(),
        entra::GITHUB_REQUEST_TOKEN,
        // The Entra mock is served over TLS (azure_identity's rule): the binary trusts
        // the mock's CA through the hidden, test-only variable.
        tls::ca().file.display(),
    );
    let tmp = format!("{out}.tmp");
    std::fs::write(&tmp, env).unwrap();
    std::fs::rename(&tmp, &out).unwrap();
    eprintln!(
        "azure-mocks: Entra {} ARM {} Key Vault {}",
        entra.url, arm.url, arm.vault_url
    );
    tokio::signal::ctrl_c().await.ok();
    let v = arm.with(|d| d.violations.clone());
    let e = entra.state.violations.lock().unwrap().clone();
    if !v.is_empty() || !e.is_empty() {
        eprintln!("azure-mocks: spec violations: {v:#?} {e:#?}");
        std::process::exit(1);
    }
}
