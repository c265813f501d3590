//! Entra ID's token endpoint through `azure_identity`: `ClientAssertionCredential` fed the
//! assertion our [`super::assertion`] sources minted (GitHub, Azure DevOps),
//! `WorkloadIdentityCredential` for `AZURE_FEDERATED_TOKEN_FILE`, and
//! `ClientSecretCredential`. Each is built for one token request, over our HTTP room
//! ([`RoomTransport`]): the one token cache is ours ([`super::cache`]), because
//! `azure_identity`'s own `TokenCache` has no way to forget a token after a 401
//! (`src/cache.rs:29-37` serves any token not within 5 minutes of expiry, and
//! `TokenRequestOptions` has no refresh flag).
//!
//! Entra's refusals keep their `AADSTS` code and the assertion's claims: the crate wraps
//! the answer in `ErrorKind::HttpResponse { error_code, raw_response }`
//! (`src/lib.rs:79-112`, `handle_entra_response`) under an `ErrorKind::Credential`
//! (`src/lib.rs:162`, `authentication_error`); [`refusal`] walks back to it.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use azure_core::credentials::{TokenCredential, TokenRequestOptions};
use azure_core::error::ErrorKind;
use azure_core::http::ClientMethodOptions;
use azure_identity::{
    ClientAssertion, ClientAssertionCredential, ClientAssertionCredentialOptions,
    ClientSecretCredential, ClientSecretCredentialOptions, WorkloadIdentityCredential,
    WorkloadIdentityCredentialOptions,
};
use url::Url;

use super::super::{AssertionClaims, AzureError};
use super::claims::{aadsts_code, claims};
use super::transport::RoomTransport;
use crate::clients::http::Http;
use crate::fsx;
use crate::secret::Secret;

const OP: &str = "Entra ID token request";

/// Who asks Entra: the authority host, the tenant and the client.
pub struct App<'a> {
    pub authority_host: &'a Url,
    pub tenant: &'a str,
    pub client_id: &'a str,
}

/// What the app proves itself with.
pub enum Grant<'s> {
    /// A minted ID token and its claims.
    Assertion(&'s Secret, &'s AssertionClaims),
    Secret(&'s Secret),
    /// A projected token the platform keeps fresh (AKS workload identity).
    TokenFile(&'s Path),
}

/// An assertion already minted: `ClientAssertionCredential` asks for it once.
struct Minted(Secret);

impl std::fmt::Debug for Minted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Minted(***)")
    }
}

#[async_trait::async_trait]
impl ClientAssertion for Minted {
    async fn secret(&self, _: Option<ClientMethodOptions<'_>>) -> azure_core::Result<String> {
        Ok(self.0.expose().to_string())
    }
}

/// A token for `scope`, and how long it lives.
pub async fn token(
    http: &Http,
    app: &App<'_>,
    scope: &str,
    grant: Grant<'_>,
) -> Result<(Secret, Duration), AzureError> {
    // The crate refuses anything else (`src/lib.rs:148`); say so in our words, as bad input.
    if app.authority_host.scheme() != "https" {
        return Err(AzureError::InvalidArgument {
            what: "--authority-host".into(),
            message: format!(
                "`{}` is not HTTPS: Entra ID is only reached over HTTPS",
                app.authority_host
            ),
        });
    }
    let room = RoomTransport::new(http);
    let options = room.client_options(app.authority_host);
    let built: azure_core::Result<Arc<dyn TokenCredential>> = match &grant {
        Grant::Assertion(jwt, _) => ClientAssertionCredential::new(
            app.tenant.to_string(),
            app.client_id.to_string(),
            Minted((*jwt).clone()),
            Some(ClientAssertionCredentialOptions {
                client_options: options,
            }),
        )
        .map(|c| c as Arc<dyn TokenCredential>),
        Grant::Secret(s) => ClientSecretCredential::new(
            app.tenant,
            app.client_id.to_string(),
            azure_core::credentials::Secret::new(s.expose().to_string()),
            Some(ClientSecretCredentialOptions {
                client_options: options,
            }),
        )
        .map(|c| c as Arc<dyn TokenCredential>),
        Grant::TokenFile(path) => {
            WorkloadIdentityCredential::new(Some(WorkloadIdentityCredentialOptions {
                credential_options: ClientAssertionCredentialOptions {
                    client_options: options,
                },
                client_id: Some(app.client_id.to_string()),
                tenant_id: Some(app.tenant.to_string()),
                token_file_path: Some(path.to_path_buf()),
            }))
            .map(|c| c as Arc<dyn TokenCredential>)
        }
    };
    let cred = built.map_err(|e| match &grant {
        // The file is read when the credential is built.
        Grant::TokenFile(path) => AzureError::FederatedTokenFile {
            path: path.display().to_string(),
            message: first_line(&e.to_string()),
        },
        _ => AzureError::InvalidArgument {
            what: "sign-in".into(),
            message: first_line(&e.to_string()),
        },
    })?;
    let got = cred
        .get_token(&[scope], None::<TokenRequestOptions<'_>>)
        .await;
    match got {
        Ok(t) => {
            let left = t.expires_on.unix_timestamp()
                - azure_core::time::OffsetDateTime::now_utc().unix_timestamp();
            Ok((
                Secret::new(t.token.secret()),
                Duration::from_secs(left.max(0) as u64),
            ))
        }
        Err(e) => {
            if let Some(source) = room.take_failure() {
                return Err(AzureError::Net {
                    op: OP.into(),
                    source,
                });
            }
            let claims = match &grant {
                Grant::Assertion(_, c) => Some((*c).clone()),
                Grant::TokenFile(path) => file_claims(path),
                Grant::Secret(_) => None,
            };
            Err(refusal(&e, app, claims))
        }
    }
}

/// The claims of the projected token, for the hint of a refusal.
fn file_claims(path: &Path) -> Option<AssertionClaims> {
    let text =
        fsx::read_to_string(path, "federated token file", fsx::Follow::Yes, 64 * 1024).ok()?;
    Some(claims(&Secret::new(text.trim())).0)
}

fn first_line(s: &str) -> String {
    s.lines().next().unwrap_or(s).trim().to_string()
}

/// Entra's answer to a failed token request, from the crate's error: the `AADSTS` code
/// and description of `ErrorKind::HttpResponse`, or the crate's own words.
fn refusal(e: &azure_core::Error, app: &App<'_>, claims: Option<AssertionClaims>) -> AzureError {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        if let Some(az) = err.downcast_ref::<azure_core::Error>()
            && let ErrorKind::HttpResponse {
                status,
                error_code,
                raw_response,
            } = az.kind()
        {
            let body: serde_json::Value = raw_response
                .as_ref()
                .and_then(|r| serde_json::from_slice(r.body().as_ref()).ok())
                .unwrap_or_default();
            let description = body
                .get("error_description")
                .and_then(serde_json::Value::as_str)
                .map(first_line)
                .unwrap_or_else(|| format!("HTTP {}", u16::from(*status)));
            let code = error_code
                .as_deref()
                .and_then(|c| c.split(',').next())
                .and_then(|c| c.trim().parse().ok())
                .or_else(|| aadsts_code(&description));
            return AzureError::Entra {
                client_id: app.client_id.to_string(),
                tenant: app.tenant.to_string(),
                code,
                description,
                assertion: claims.map(Box::new),
            };
        }
        cur = err.source();
    }
    AzureError::Protocol {
        op: OP.into(),
        message: first_line(&e.to_string()),
    }
}
