//! One Azure world for a test: the Entra/OIDC mock and the ARM/Key Vault mock sharing a
//! token book, the shared infrastructure of the seed, and a way to run the real binary
//! against them with a scrubbed environment.

use std::path::PathBuf;
use std::process::Output;
use std::sync::Arc;

use serde_json::{Value, json};

use super::arm::{ArmMock, SUBSCRIPTION};
use super::entra::{self, EntraConfig, EntraMock, TokenBook};
use super::tools::bin;

pub const RG: &str = "rg-shared";
pub const PLANTED: &str = "Pl4nted-MySQL-r00t-Passw0rd!";
pub const ZONE: &str = "shop.example.com";

pub struct World {
    pub book: Arc<TokenBook>,
    pub entra: EntraMock,
    pub arm: ArmMock,
    pub dir: tempfile::TempDir,
}

impl World {
    pub async fn new(cfg: EntraConfig) -> World {
        let book = Arc::new(TokenBook::default());
        let entra = EntraMock::start(cfg, book.clone()).await;
        let arm = ArmMock::start(book.clone(), &entra.url).await;
        World {
            book,
            entra,
            arm,
            dir: tempfile::tempdir().unwrap(),
        }
    }

    /// What the seed's shared-infrastructure pipeline creates, tagged `app=shop`.
    pub fn seed(&self, entra_id_cluster: bool) {
        let tags = json!({"app": "shop", "env": "prod"});
        self.arm.add_registry(RG, "acrshop", tags.clone());
        self.arm
            .add_cluster(RG, "aks-shop", tags.clone(), entra_id_cluster);
        self.arm.add_vault(RG, "kv-shop", tags.clone());
        self.arm.add_secret("mysql-root-password", PLANTED);
        self.arm.add_zone(RG, ZONE, Value::Null);
        self.arm
            .add_gateway(RG, "agw-shop", tags, &["nsg-agw"], &["nsg-aks"]);
        // Something else in the group that discovery must ignore.
        self.arm
            .add_registry(RG, "acrother", json!({"app": "other"}));
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// `refer` with the sign-in and endpoint flags.
    pub fn args(&self, extra: &[&str]) -> Vec<String> {
        let mut a: Vec<String> = [
            "refer",
            "--subscription-id",
            SUBSCRIPTION,
            "--resource-group",
            RG,
            "--authority-host",
            &self.entra.url,
            "--arm-endpoint",
            &self.arm.url,
            "--outputs-file",
            self.path("outputs.json").to_str().unwrap(),
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        a.extend(extra.iter().map(|s| s.to_string()));
        a
    }

    pub fn ids(&self) -> Vec<String> {
        vec![
            "--tenant-id".into(),
            entra::TENANT.into(),
            "--client-id".into(),
            entra::CLIENT_ID.into(),
        ]
    }

    /// A GitHub Actions job with `id-token: write`.
    pub fn github_env(&self) -> Vec<(String, String)> {
        let mut e = self.base_env();
        e.extend([
            ("GITHUB_ACTIONS".into(), "true".into()),
            (
                "ACTIONS_ID_TOKEN_REQUEST_URL".into(),
                self.entra.github_request_url(),
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
        ]);
        e
    }

    pub fn base_env(&self) -> Vec<(String, String)> {
        let tmp = self.path("tmp");
        std::fs::create_dir_all(&tmp).unwrap();
        vec![
            ("PATH".into(), "/usr/bin:/bin".into()),
            ("HOME".into(), self.dir.path().display().to_string()),
            ("RUNNER_TEMP".into(), tmp.display().to_string()),
            ("NO_COLOR".into(), "1".into()),
            // The Entra mock's TLS certificate is signed by the test CA.
            super::tls::env(),
        ]
    }

    pub async fn run(&self, args: &[String], env: &[(String, String)]) -> Output {
        tokio::process::Command::new(bin())
            .args(args)
            .env_clear()
            .envs(env.iter().cloned())
            .current_dir(self.dir.path())
            .output()
            .await
            .unwrap()
    }

    pub fn outputs(&self) -> serde_json::Map<String, Value> {
        let text = std::fs::read_to_string(self.path("outputs.json")).unwrap();
        serde_json::from_str(&text).unwrap()
    }

    /// Every file the run wrote under the test directory, with its contents.
    pub fn files(&self) -> Vec<(PathBuf, String)> {
        fn walk(d: &std::path::Path, out: &mut Vec<(PathBuf, String)>) {
            for e in std::fs::read_dir(d).unwrap().flatten() {
                let p = e.path();
                if p.is_dir() {
                    walk(&p, out);
                } else {
                    out.push((p.clone(), std::fs::read_to_string(&p).unwrap_or_default()));
                }
            }
        }
        let mut out = Vec::new();
        walk(self.dir.path(), &mut out);
        out
    }

    pub fn assert_valid(&self) {
        self.entra.assert_valid();
        self.arm.assert_valid();
    }
}

pub fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

pub fn code(o: &Output) -> i32 {
    o.status.code().unwrap_or(-1)
}
