//! The managed identity's token endpoint, asked by us rather than by `azure_identity`'s
//! `ManagedIdentityCredential`: the instance metadata service (or App Service's
//! `IDENTITY_ENDPOINT`).
//!
//! Why not the crate's credential (azure_identity 1.0.0):
//! - the IMDS address is a constant, `const ENDPOINT: &str =
//!   "http://169.254.169.254/metadata/identity/oauth2/token"`
//!   (`src/virtual_machine_managed_identity_credential.rs:16`), so the
//!   `managed-identity-endpoint` setting (and the tests' loopback IMDS) could only be
//!   honoured by our transport rewriting the address of requests it is handed (not done:
//!   a transport that redirects is a surprise waiting for the next reader);
//! - the App Service variables are read from the process environment, never from ours:
//!   `ManagedIdentityCredentialOptions::env` is `pub(crate)`
//!   (`src/managed_identity_credential.rs:47`) and `Env::default()` is used outside the
//!   crate's tests (`src/managed_identity_credential.rs:67`);
//! - it asks IMDS with api-version 2019-08-01 (`src/virtual_machine_managed_identity_credential.rs:17`)
//!   and requires `expires_on` in the answer (`src/imds_managed_identity_credential.rs:229-231`),
//!   where ours reads `expires_in`, which every IMDS version sends;
//! - (not a blocker by itself) `auto` probes IMDS with a 2-second deadline on a laptop,
//!   which the room gives ([`Http::with_deadline`]) whoever builds the request.

use std::time::Duration;

use url::Url;

use super::super::AzureError;
use crate::clients::http::{Http, Retry};
use crate::secret::Secret;

/// Where a managed identity's token comes from.
pub struct ManagedIdentity {
    pub endpoint: Url,
    /// App Service / Container Apps: `IDENTITY_ENDPOINT` + `IDENTITY_HEADER`.
    pub app_service: Option<(String, Secret)>,
    /// Tried as part of `auto`: give up fast when there is no IMDS.
    pub probe: bool,
}

impl ManagedIdentity {
    pub async fn token(
        &self,
        http: &Http,
        client_id: Option<&str>,
        scope: &str,
    ) -> Result<(Secret, Duration), AzureError> {
        let resource = scope.trim_end_matches("/.default");
        let (mut url, display) = match &self.app_service {
            Some((e, _)) => {
                let mut u = Url::parse(e).map_err(|e| AzureError::ManagedIdentity {
                    endpoint: "IDENTITY_ENDPOINT".into(),
                    message: e.to_string(),
                })?;
                u.query_pairs_mut()
                    .append_pair("api-version", "2019-08-01")
                    .append_pair("resource", resource);
                (u, e.clone())
            }
            None => {
                let mut u = self
                    .endpoint
                    .join("metadata/identity/oauth2/token")
                    .map_err(|e| AzureError::ManagedIdentity {
                        endpoint: self.endpoint.to_string(),
                        message: e.to_string(),
                    })?;
                u.query_pairs_mut()
                    .append_pair("api-version", "2018-02-01")
                    .append_pair("resource", resource);
                (u, self.endpoint.to_string())
            }
        };
        if let Some(c) = client_id {
            url.query_pairs_mut().append_pair("client_id", c);
        }
        let mi_err = |message: String| AzureError::ManagedIdentity {
            endpoint: display.clone(),
            message,
        };
        // Part of `auto` on a laptop: no metadata service answers there.
        let room = if self.probe {
            http.with_deadline(tokio::time::Instant::now() + Duration::from_secs(2))
        } else {
            http.clone()
        };
        let resp = room
            .send(Retry::ByMethod, |c| {
                let req = c.get(url.clone()).header("Metadata", "true");
                match &self.app_service {
                    Some((_, h)) => req.header("X-IDENTITY-HEADER", h.expose()),
                    None => req,
                }
            })
            .await
            .map_err(|e| mi_err(e.to_string()))?;
        let status = resp.status;
        let v: serde_json::Value = resp.json().unwrap_or_default();
        if !status.is_success() {
            return Err(mi_err(format!(
                "HTTP {}: {}",
                status.as_u16(),
                v.get("error_description")
                    .and_then(serde_json::Value::as_str)
                    .or(v
                        .pointer("/error/message")
                        .and_then(serde_json::Value::as_str))
                    .unwrap_or("no description")
            )));
        }
        token_from(&v, "managed identity token request")
    }
}

/// `access_token` + `expires_in` (a number, or a string in IMDS answers).
fn token_from(v: &serde_json::Value, op: &str) -> Result<(Secret, Duration), AzureError> {
    let token = v["access_token"]
        .as_str()
        .filter(|t| !t.is_empty())
        .ok_or_else(|| AzureError::Protocol {
            op: op.into(),
            message: "the answer has no access_token".into(),
        })?;
    let expires_in = v["expires_in"]
        .as_u64()
        .or_else(|| v["expires_in"].as_str().and_then(|s| s.parse().ok()))
        .unwrap_or(300);
    Ok((Secret::new(token), Duration::from_secs(expires_in)))
}
