//! Where a federated assertion (an OIDC ID token) comes from: the GitHub Actions token
//! service (`ACTIONS_ID_TOKEN_REQUEST_URL`, needs `permissions: id-token: write`), the
//! Azure Pipelines OIDC endpoint of a service connection (`SYSTEM_OIDCREQUESTURI`), or a
//! file the platform keeps fresh (`AZURE_FEDERATED_TOKEN_FILE`: AKS workload identity,
//! re-read on every mint because the kubelet rotates it).
//!
//! Each mint is fresh; [`Assertion::stale_at`] says when the chain must mint again (a
//! minute before `exp`), so a 40-minute job never presents a stale one.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use url::Url;

use super::super::wire::{error_body, send};
use super::super::{AssertionClaims, AzureError};
use super::cache::later;
use super::claims::claims;
use crate::clients::http::{self, Http, Retry};
use crate::fsx;
use crate::secret::Secret;

const ADO_OIDC_API_VERSION: &str = "7.1-preview.1";
/// A projected service account token is a few KiB; nothing bigger is one.
const TOKEN_FILE_CAP: u64 = 64 * 1024;

/// One way to get an ID token for the client-assertion grant.
pub enum AssertionSource {
    GitHub {
        request_url: String,
        request_token: Secret,
    },
    AzureDevOps {
        request_uri: String,
        access_token: Secret,
        service_connection_id: String,
    },
    /// `AZURE_FEDERATED_TOKEN_FILE`.
    File(PathBuf),
}

/// A minted ID token and what it claims.
pub struct Assertion {
    pub jwt: Secret,
    pub claims: AssertionClaims,
    /// When to mint a new one.
    pub stale_at: Option<Instant>,
}

impl Assertion {
    pub fn is_stale(&self) -> bool {
        self.stale_at.is_none_or(|t| Instant::now() >= t)
    }
}

impl AssertionSource {
    /// The secret the source itself holds (to mask before anything is logged).
    pub fn secret(&self) -> Option<&Secret> {
        match self {
            AssertionSource::GitHub { request_token, .. } => Some(request_token),
            AssertionSource::AzureDevOps { access_token, .. } => Some(access_token),
            AssertionSource::File(_) => None,
        }
    }

    /// Gets a fresh ID token for `audience`.
    pub async fn mint(&self, http: &Http, audience: &str) -> Result<Assertion, AzureError> {
        let (provider, jwt) = match self {
            AssertionSource::GitHub {
                request_url,
                request_token,
            } => (
                "GitHub",
                github(http, request_url, request_token, audience).await?,
            ),
            AssertionSource::AzureDevOps {
                request_uri,
                access_token,
                service_connection_id,
            } => (
                "Azure DevOps",
                azure_devops(http, request_uri, access_token, service_connection_id).await?,
            ),
            AssertionSource::File(path) => ("workload identity", token_file(path)?),
        };
        let jwt = Secret::new(jwt);
        let (claims, exp) = claims(&jwt);
        tracing::debug!(
            "{provider} OIDC token: issuer {:?}, subject {:?}",
            claims.issuer,
            claims.subject
        );
        let stale_at = exp.map(|secs_left| {
            later(
                Instant::now(),
                Duration::from_secs(secs_left.saturating_sub(60).max(0) as u64),
            )
        });
        Ok(Assertion {
            jwt,
            claims,
            stale_at,
        })
    }
}

async fn github(
    http: &Http,
    request_url: &str,
    request_token: &Secret,
    audience: &str,
) -> Result<String, AzureError> {
    let sep = if request_url.contains('?') { '&' } else { '?' };
    let url = format!(
        "{request_url}{sep}audience={}",
        url::form_urlencoded::byte_serialize(audience.as_bytes()).collect::<String>()
    );
    let op = "GitHub OIDC token request";
    let resp = send(http, op, Retry::ByMethod, |c| {
        c.get(&url)
            .header(
                "Authorization",
                format!("bearer {}", request_token.expose()),
            )
            .header("Accept", "application/json")
    })
    .await?;
    let v = oidc_body("GitHub", resp).await?;
    v.get("value")
        .and_then(serde_json::Value::as_str)
        .map(String::from)
        .ok_or_else(|| AzureError::Oidc {
            provider: "GitHub",
            status: String::new(),
            message: "the answer has no `value` (ID token) field".into(),
        })
}

async fn azure_devops(
    http: &Http,
    request_uri: &str,
    access_token: &Secret,
    service_connection_id: &str,
) -> Result<String, AzureError> {
    let mut url = Url::parse(request_uri).map_err(|e| AzureError::Oidc {
        provider: "Azure DevOps",
        status: String::new(),
        message: format!("SYSTEM_OIDCREQUESTURI is not a URL: {e}"),
    })?;
    url.query_pairs_mut()
        .append_pair("api-version", ADO_OIDC_API_VERSION)
        .append_pair("serviceConnectionId", service_connection_id);
    let op = "Azure DevOps OIDC token request";
    // Minting an ID token changes nothing: safe to repeat.
    let resp = send(http, op, Retry::Safe, |c| {
        c.post(url.clone())
            .bearer_auth(access_token.expose())
            .json(&serde_json::json!({}))
    })
    .await?;
    let v = oidc_body("Azure DevOps", resp).await?;
    v.get("oidcToken")
        .and_then(serde_json::Value::as_str)
        .map(String::from)
        .ok_or_else(|| AzureError::Oidc {
            provider: "Azure DevOps",
            status: String::new(),
            message: "the answer has no `oidcToken` field".into(),
        })
}

/// The projected token: a link to the current file in AKS (`..data/token`), so links
/// are followed; the target must be a regular file of at most [`TOKEN_FILE_CAP`].
fn token_file(path: &Path) -> Result<String, AzureError> {
    let text = fsx::read_to_string(
        path,
        "federated token file",
        fsx::Follow::Yes,
        TOKEN_FILE_CAP,
    )
    .map_err(|e| AzureError::FederatedTokenFile {
        path: path.display().to_string(),
        message: e.to_string(),
    })?;
    let jwt = text.trim();
    if jwt.is_empty() {
        return Err(AzureError::FederatedTokenFile {
            path: path.display().to_string(),
            message: "the file is empty".into(),
        });
    }
    Ok(jwt.to_string())
}

async fn oidc_body(
    provider: &'static str,
    resp: http::Response,
) -> Result<serde_json::Value, AzureError> {
    let status = resp.status;
    let text = resp.text();
    if !status.is_success() {
        let (_, message) = error_body(&text);
        return Err(AzureError::Oidc {
            provider,
            status: format!(" (HTTP {})", status.as_u16()),
            message: if message.is_empty() {
                status.canonical_reason().unwrap_or("error").to_string()
            } else {
                message
            },
        });
    }
    serde_json::from_str(&text).map_err(|e| AzureError::Oidc {
        provider,
        status: String::new(),
        message: format!("the answer is not JSON: {e}"),
    })
}
