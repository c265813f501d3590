//! Key Vault: the vault (ARM) and its secrets (data plane, API 7.5).
//!
//! Secret values are `Secret`s from the moment they are parsed and masked through the
//! credential's mask; callers publish references (`https://vault/secrets/name/version`),
//! never the values, unless the user opted in.

use reqwest::StatusCode;
use url::Url;

use super::arm::{Arm, error_body, failure, not_found, send_with_retries};
use super::{AzureError, Forbidden};
use crate::secret::Secret;

pub const VAULT_API: &str = "2026-02-01";
pub const SECRETS_API: &str = "7.5";

#[derive(Clone, Debug, serde::Serialize)]
pub struct Vault {
    pub id: String,
    pub name: String,
    pub uri: String,
}

pub async fn vault(arm: &Arm<'_>, rg: &str, name: &str) -> Result<Vault, AzureError> {
    let path = format!(
        "{}/providers/Microsoft.KeyVault/vaults/{name}",
        arm.rg_path(rg)
    );
    let v = arm
        .get(&path, VAULT_API, "reading the Key Vault")
        .await
        .map_err(|e| not_found(e, "Key Vault", name, &format!("resource group {rg}")))?;
    let uri = v["properties"]["vaultUri"]
        .as_str()
        .ok_or_else(|| AzureError::Protocol {
            op: "reading the Key Vault".into(),
            message: "no properties.vaultUri".into(),
        })?;
    Ok(Vault {
        id: v["id"].as_str().unwrap_or(&path).to_string(),
        name: name.to_string(),
        uri: uri.to_string(),
    })
}

/// A secret: its versioned ID (the reference to publish) and its value.
#[derive(Clone, Debug)]
pub struct SecretValue {
    pub name: String,
    pub id: String,
    pub value: Secret,
}

/// The token scope of a vault: known clouds by host suffix, anything else (sovereign,
/// private, a test) by asking the vault (its 401 challenge names the resource).
async fn scope(http: &reqwest::Client, vault: &Url) -> Result<String, AzureError> {
    let host = vault.host_str().unwrap_or_default();
    for suffix in [
        "vault.azure.net",
        "vault.azure.cn",
        "vault.usgovcloudapi.net",
        "vault.microsoftazure.de",
    ] {
        if host.ends_with(&format!(".{suffix}")) {
            return Ok(format!("https://{suffix}/.default"));
        }
    }
    let op = "asking the Key Vault for its token audience";
    let mut u = vault.join("secrets").unwrap_or_else(|_| vault.clone());
    u.query_pairs_mut().append_pair("api-version", SECRETS_API);
    let resp = send_with_retries(op, || http.get(u.clone())).await?;
    let challenge = resp
        .headers()
        .get("www-authenticate")
        .and_then(|h| h.to_str().ok())
        .unwrap_or_default()
        .to_string();
    for key in ["resource=\"", "scope=\""] {
        if let Some(i) = challenge.find(key) {
            let rest = &challenge[i + key.len()..];
            let value = &rest[..rest.find('"').unwrap_or(rest.len())];
            let value = value.trim_end_matches("/.default").trim_end_matches('/');
            return Ok(format!("{value}/.default"));
        }
    }
    Err(AzureError::Protocol {
        op: op.into(),
        message: format!("no Bearer challenge (HTTP {})", resp.status().as_u16()),
    })
}

/// Reads the latest version of each secret in `names`. Values are masked on arrival.
pub async fn get_secrets(
    arm: &Arm<'_>,
    vault: &Vault,
    names: &[String],
) -> Result<Vec<SecretValue>, AzureError> {
    let base = Url::parse(&vault.uri).map_err(|e| AzureError::Protocol {
        op: "reading the Key Vault".into(),
        message: format!("vaultUri is not a URL: {e}"),
    })?;
    let http = arm.http();
    let cred = arm.credential();
    let scope = scope(http, &base).await?;
    let mut out = Vec::new();
    for name in names {
        let op = format!("reading secret `{name}` from Key Vault {}", vault.name);
        let mut u =
            base.join(&format!("secrets/{name}"))
                .map_err(|e| AzureError::InvalidArgument {
                    what: format!("secret name `{name}`"),
                    message: e.to_string(),
                })?;
        u.query_pairs_mut().append_pair("api-version", SECRETS_API);
        let mut renewed = false;
        let resp = loop {
            let token = cred.token(&scope).await?;
            let resp =
                send_with_retries(&op, || http.get(u.clone()).bearer_auth(token.expose())).await?;
            if resp.status() == StatusCode::UNAUTHORIZED && !renewed {
                cred.invalidate(&scope).await;
                renewed = true;
                continue;
            }
            break resp;
        };
        match resp.status() {
            s if s.is_success() => {}
            StatusCode::NOT_FOUND => {
                return Err(AzureError::NotFound {
                    op,
                    what: "Key Vault secret",
                    name: name.clone(),
                    scope: format!(" in {}", vault.name),
                });
            }
            StatusCode::FORBIDDEN => {
                let text = resp.text().await.unwrap_or_default();
                let (code, message) = error_body(&text);
                return Err(AzureError::Http {
                    op,
                    status: 403,
                    code: format!(" ({code})"),
                    message: message.lines().next().unwrap_or_default().to_string(),
                    forbidden: Some(Box::new(Forbidden {
                        action: Some("Microsoft.KeyVault/vaults/secrets/getSecret/action".into()),
                        scope: vault.id.clone(),
                        role: "Key Vault Secrets User",
                    })),
                });
            }
            _ => return Err(failure(&op, u.path(), resp).await),
        }
        let v: serde_json::Value = resp.json().await.map_err(|e| AzureError::Protocol {
            op: op.clone(),
            message: format!("the answer is not JSON: {e}"),
        })?;
        let value = Secret::new(v["value"].as_str().unwrap_or_default());
        // Masked before anything else can see it.
        cred.mask(&value);
        out.push(SecretValue {
            name: name.clone(),
            id: v["id"].as_str().unwrap_or(u.as_str()).to_string(),
            value,
        });
    }
    Ok(out)
}
