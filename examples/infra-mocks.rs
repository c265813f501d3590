//! Serves the infra tests' mocks (Entra ID + GitHub OIDC, the stateful ARM deployments
//! mock with Key Vault) until killed, for `scripts/bench/infra.sh`: writes `export
//! NAME=value` lines to the file named by the first argument once the servers listen.

#![allow(dead_code)]
// A development tool beside the tests (benchmarks), not the product: it fails loudly on
// a bad argument, as the tests do.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

#[path = "../tests/it/support/arm.rs"]
mod arm;
#[path = "../tests/it/support/arm_deployments.rs"]
mod arm_deployments;
#[path = "../tests/it/support/arm_template.rs"]
mod arm_template;
#[path = "../tests/it/support/entra.rs"]
mod entra;
#[path = "../tests/it/support/spec.rs"]
mod spec;
#[path = "../tests/it/support/tls.rs"]
mod tls;

use std::sync::Arc;

use entra::{EntraConfig, EntraMock, TokenBook};

#[tokio::main]
async fn main() {
    let out = std::env::args()
        .nth(1)
        .expect("usage: infra-mocks ENV_FILE");
    let book = Arc::new(TokenBook::default());
    let entra = EntraMock::start(EntraConfig::default(), book.clone()).await;
    let mock =
        arm_deployments::InfraMock::start(book, &entra.url, "rg-shared", "shop.example.com").await;
    let env = format!(
        "export AZ_MOCK_ENTRA={}\nexport AZ_MOCK_ARM={}\nexport AZ_MOCK_SUBSCRIPTION={}\nexport AZ_MOCK_TENANT={}\nexport AZ_MOCK_CLIENT={}\nexport ACTIONS_ID_TOKEN_REQUEST_URL='{}'\nexport ACTIONS_ID_TOKEN_REQUEST_TOKEN={}\nexport AKS_BACKEND_TEST_CA_FILE='{}'\n",
        entra.url,
        mock.url,
        arm::SUBSCRIPTION,
        entra::TENANT,
        entra::CLIENT_ID,
        entra.github_request_url(),
        entra::GITHUB_REQUEST_TOKEN,
        tls::ca().file.display(),
    );
    let tmp = format!("{out}.tmp");
    std::fs::write(&tmp, env).unwrap();
    std::fs::rename(&tmp, &out).unwrap();
    tokio::signal::ctrl_c().await.ok();
    let v = mock.with(|d| d.violations.clone());
    if !v.is_empty() {
        eprintln!("infra-mocks: spec violations: {v:#?}");
        std::process::exit(1);
    }
}
