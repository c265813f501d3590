//! Key Vault: the vault (ARM) and its secrets (data plane, API 7.5).
//!
//! Secret values are `Secret`s from the moment they are parsed and masked through the
//! credential's mask; callers publish references (`https://vault/secrets/name/version`),
//! never the values, unless the user opted in.
//!
//! A token is only ever sent where it belongs: the `vaultUri` ARM gives must be HTTPS
//! (plain HTTP on loopback only, which is how the tests' vault runs), and the `resource`
//! a vault's challenge names must be the vault's own host or a parent domain of it
//! (`https://vault.azure.net` for `x.vault.azure.net`): a vault cannot ask for a token for
//! ARM or another service.

use reqwest::StatusCode;
use url::Url;

use super::arm::{Arm, error_body, failure, not_found, send};
use super::{AzureError, Forbidden};
use crate::clients::http::{Http, Retry, is_loopback_host};
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
    let uri = v
        .pointer("/properties/vaultUri")
        .and_then(serde_json::Value::as_str)
        .ok_or_else(|| AzureError::Protocol {
            op: "reading the Key Vault".into(),
            message: "no properties.vaultUri".into(),
        })?;
    vault_url(uri)?;
    Ok(Vault {
        id: v
            .get("id")
            .and_then(serde_json::Value::as_str)
            .unwrap_or(&path)
            .to_string(),
        name: name.to_string(),
        uri: uri.to_string(),
    })
}

/// The vault's URL, when it is one we may send a token to: HTTPS, or plain HTTP to a
/// loopback address (the same allowance the Azure endpoint settings make).
pub fn vault_url(uri: &str) -> Result<Url, AzureError> {
    let bad = |message: String| AzureError::Protocol {
        op: "reading the Key Vault".into(),
        message,
    };
    let u = Url::parse(uri).map_err(|e| bad(format!("vaultUri `{uri}` is not a URL: {e}")))?;
    let loopback = u.host_str().is_some_and(is_loopback_host);
    match u.scheme() {
        "https" => Ok(u),
        "http" if loopback => Ok(u),
        _ => Err(bad(format!(
            "vaultUri `{uri}` is not an https:// URL; no token is sent to it"
        ))),
    }
}

/// Does the challenge's `resource` belong to the vault at `vault`? Its host must be the
/// vault's host or a parent domain of it (not a bare top-level domain), over HTTPS (or
/// plain HTTP on a loopback vault).
pub fn resource_belongs_to(resource: &str, vault: &Url) -> bool {
    let Ok(r) = Url::parse(resource) else {
        return false;
    };
    let (Some(rh), Some(vh)) = (r.host_str(), vault.host_str()) else {
        return false;
    };
    let (rh, vh) = (rh.to_ascii_lowercase(), vh.to_ascii_lowercase());
    let scheme_ok = r.scheme() == "https" || (r.scheme() == "http" && is_loopback_host(&rh));
    let same = rh == vh;
    let parent = rh.contains('.') && vh.ends_with(&format!(".{rh}"));
    scheme_ok && (same || parent)
}

/// A secret: its versioned ID (the reference to publish) and its value.
#[derive(Clone, Debug)]
pub struct SecretValue {
    pub name: String,
    pub id: String,
    pub value: Secret,
}

/// The token scope of a vault: known clouds by host suffix, anything else (sovereign,
/// private, a test) by asking the vault (its 401 challenge names the resource, which must
/// belong to the vault's own host).
async fn scope(http: &Http, vault: &Url) -> Result<String, AzureError> {
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
    let resp = send(http, op, Retry::ByMethod, |c| c.get(u.clone())).await?;
    let challenge = resp.header("www-authenticate").unwrap_or_default();
    for key in ["resource=\"", "scope=\""] {
        if let Some(i) = challenge.find(key) {
            let rest = &challenge[i + key.len()..];
            let value = &rest[..rest.find('"').unwrap_or(rest.len())];
            let value = value.trim_end_matches("/.default").trim_end_matches('/');
            if !resource_belongs_to(value, vault) {
                return Err(AzureError::Protocol {
                    op: op.into(),
                    message: format!(
                        "the vault at {} asks for a token for `{value}`, which is not the vault's own host; no token is sent",
                        vault.host_str().unwrap_or_default()
                    ),
                });
            }
            return Ok(format!("{value}/.default"));
        }
    }
    Err(AzureError::Protocol {
        op: op.into(),
        message: format!("no Bearer challenge (HTTP {})", resp.status.as_u16()),
    })
}

/// Reads the latest version of each secret in `names`. Values are masked on arrival.
pub async fn get_secrets(
    arm: &Arm<'_>,
    vault: &Vault,
    names: &[String],
) -> Result<Vec<SecretValue>, AzureError> {
    let base = vault_url(&vault.uri)?;
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
            let resp = send(http, &op, Retry::ByMethod, |c| {
                c.get(u.clone()).bearer_auth(token.expose())
            })
            .await?;
            if resp.status == StatusCode::UNAUTHORIZED && !renewed {
                cred.invalidate(&scope).await;
                renewed = true;
                continue;
            }
            break resp;
        };
        match resp.status {
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
                let (code, message) = error_body(&resp.text());
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
            _ => return Err(failure(&op, u.path(), &resp)),
        }
        let v: serde_json::Value = resp.json().map_err(|e| AzureError::Protocol {
            op: op.clone(),
            message: format!("the answer is not JSON: {e}"),
        })?;
        let value = Secret::new(
            v.get("value")
                .and_then(serde_json::Value::as_str)
                .unwrap_or_default(),
        );
        // Masked before anything else can see it.
        cred.mask(&value);
        out.push(SecretValue {
            name: name.clone(),
            id: v
                .get("id")
                .and_then(serde_json::Value::as_str)
                .unwrap_or(u.as_str())
                .to_string(),
            value,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_challenge_resource_must_be_the_vault_or_its_parent_domain() {
        let v = Url::parse("https://kv-shop.vault.azure.net/").unwrap();
        assert!(resource_belongs_to("https://vault.azure.net", &v));
        assert!(resource_belongs_to("https://kv-shop.vault.azure.net", &v));
        assert!(!resource_belongs_to("https://management.azure.com", &v));
        assert!(!resource_belongs_to("https://evil.example", &v));
        assert!(!resource_belongs_to("https://net", &v));
        assert!(!resource_belongs_to("http://vault.azure.net", &v));
        let private = Url::parse("https://kv.vault.local.azurestack.external/").unwrap();
        assert!(resource_belongs_to(
            "https://vault.local.azurestack.external",
            &private
        ));
        let test = Url::parse("http://127.0.0.1:4000/").unwrap();
        assert!(resource_belongs_to("http://127.0.0.1:4000", &test));
        assert!(!resource_belongs_to("https://vault.azure.net", &test));
    }

    #[test]
    fn a_vault_uri_must_be_https_off_loopback() {
        assert!(vault_url("https://kv.vault.azure.net/").is_ok());
        assert!(vault_url("http://127.0.0.1:9/").is_ok());
        assert!(vault_url("http://kv.vault.azure.net/").is_err());
        assert!(vault_url("http://127.evil.example/").is_err());
    }
}
