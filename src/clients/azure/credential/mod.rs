//! One credential chain for every step: GitHub OIDC federation, Azure DevOps workload
//! identity federation, AKS workload identity (`AZURE_FEDERATED_TOKEN_FILE`), client
//! secret, managed identity, and the Azure CLI last. The chain picks its way from the
//! settings and the CI environment, sticks to the first way that worked, and caches a
//! token per scope ([`cache`]). Federated assertions come from [`assertion`]; what they
//! claim is read by [`claims`] to explain Entra's refusals.
//!
//! The `AZURE_*` conventions every Azure tool reads fill what our settings leave empty:
//! `AZURE_TENANT_ID`, `AZURE_CLIENT_ID`, `AZURE_FEDERATED_TOKEN_FILE` (a self-hosted
//! runner in an AKS pod with workload identity). Our own settings win.
//!
//! Entra ID is asked through `azure_identity` ([`entra`]: `ClientAssertionCredential`,
//! `WorkloadIdentityCredential`, `ClientSecretCredential`) over our HTTP room, and the
//! Azure CLI through its `AzureCliCredential` (the only child process). The managed
//! identity's endpoint is asked by us ([`imds`] says which lines of the crate stop it).
//!
//! Federated assertions are re-minted whenever an access token is (re)requested and the
//! cached assertion is within a minute of expiry, so a 40-minute job never presents a
//! stale one (`AADSTS700024`); if Entra still says it expired, one fresh assertion is
//! minted and the exchange retried once.

pub mod assertion;
pub mod cache;
pub mod claims;
mod entra;
mod imds;
mod transport;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use assertion::{Assertion, AssertionSource};
use cache::TokenCache;
pub use claims::claims;
use entra::{App, Grant};
use imds::ManagedIdentity;

use super::AzureError;
use crate::clients::http::Http;
use crate::env::Env;
pub use crate::model::sign_in::AuthType;
use crate::model::sign_in::SignIn;
use crate::secret::Secret;
pub use crate::secret::{Mask, NoMask};

/// The scope of an AKS cluster with Entra ID integration (the AKS server application).
pub const AKS_SERVER_SCOPE: &str = "6dae42f8-4368-4678-94ff-3960e28e3630/.default";
/// The scope of Azure Container Registry's token exchange.
pub const ACR_SCOPE: &str = "https://containerregistry.azure.net/.default";

/// The conventions of the Azure SDKs and CLIs, read as defaults under our settings.
pub const AZURE_TENANT_ID: &str = "AZURE_TENANT_ID";
pub const AZURE_CLIENT_ID: &str = "AZURE_CLIENT_ID";
pub const AZURE_FEDERATED_TOKEN_FILE: &str = "AZURE_FEDERATED_TOKEN_FILE";

enum Source {
    /// GitHub, Azure DevOps or a token file: the client-assertion grant.
    Federated(AuthType, AssertionSource),
    ClientSecret(Secret),
    ManagedIdentity(ManagedIdentity),
    AzureCli(Arc<azure_identity::AzureCliCredential>),
}

impl Source {
    fn kind(&self) -> AuthType {
        match self {
            Source::Federated(kind, _) => *kind,
            Source::ClientSecret(_) => AuthType::ClientSecret,
            Source::ManagedIdentity(_) => AuthType::ManagedIdentity,
            Source::AzureCli(_) => AuthType::AzureCli,
        }
    }
}

#[derive(Default)]
struct State {
    tokens: TokenCache,
    assertion: Option<Assertion>,
    /// Index into `sources` of the one that worked (the chain sticks to it).
    chosen: Option<usize>,
}

/// Counts, for tests and the benchmark.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    pub assertions_minted: u32,
    pub tokens_requested: u32,
}

/// A signed-in identity; `token(scope)` gives a bearer token, cached until near expiry.
pub struct Credential<'a> {
    http: Http,
    authority_host: url::Url,
    tenant_id: Option<String>,
    client_id: Option<String>,
    audience: String,
    sources: Vec<Source>,
    mask: &'a dyn Mask,
    state: tokio::sync::Mutex<State>,
    stats: std::sync::Mutex<Stats>,
}

fn need<'s>(
    v: &'s Option<String>,
    setting: &'static str,
    auth: AuthType,
) -> Result<&'s str, AzureError> {
    v.as_deref().ok_or(AzureError::MissingSetting {
        setting,
        auth: auth.name(),
    })
}

/// An Azure Pipelines service connection's parameter, as the agent exposes it.
fn endpoint_var(env: &Env, prefix: &str, id: &str, key: &str) -> Option<String> {
    [
        format!("{prefix}_{id}_{key}"),
        format!("{prefix}_{}_{key}", id.to_ascii_uppercase()),
    ]
    .iter()
    .find_map(|k| env.get(k).map(String::from))
}

/// A non-empty variable.
fn var(env: &Env, name: &str) -> Option<String> {
    env.get(name)
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(String::from)
}

impl<'a> Credential<'a> {
    /// Picks the way to sign in from the settings and the CI environment. No I/O: a
    /// missing permission or setting is reported before anything else happens.
    pub fn from_settings(
        s: impl Into<SignIn>,
        env: &Env,
        http: &Http,
        mask: &'a dyn Mask,
    ) -> Result<Self, AzureError> {
        let s: SignIn = s.into();
        let mut tenant_id = s.tenant_id.clone();
        let mut client_id = s.client_id.clone();
        // Azure Pipelines: the service connection carries tenant and client IDs.
        if let Some(id) = &s.service_connection_id {
            tenant_id =
                tenant_id.or_else(|| endpoint_var(env, "ENDPOINT_AUTH_PARAMETER", id, "TENANTID"));
            client_id = client_id
                .or_else(|| endpoint_var(env, "ENDPOINT_AUTH_PARAMETER", id, "SERVICEPRINCIPALID"));
        }
        // The Azure SDK conventions, under ours.
        tenant_id = tenant_id.or_else(|| var(env, AZURE_TENANT_ID));
        client_id = client_id.or_else(|| var(env, AZURE_CLIENT_ID));
        let token_file = var(env, AZURE_FEDERATED_TOKEN_FILE).map(PathBuf::from);

        let github = || -> Result<Source, AzureError> {
            let request_url = env
                .get("ACTIONS_ID_TOKEN_REQUEST_URL")
                .ok_or(AzureError::GitHubOidcUnavailable)?;
            let request_token = env
                .get("ACTIONS_ID_TOKEN_REQUEST_TOKEN")
                .ok_or(AzureError::GitHubOidcUnavailable)?;
            Ok(Source::Federated(
                AuthType::GithubOidc,
                AssertionSource::GitHub {
                    request_url: request_url.to_string(),
                    request_token: Secret::new(request_token),
                },
            ))
        };
        let ado = |service_connection_id: &str| -> Result<Source, AzureError> {
            let request_uri =
                env.get("SYSTEM_OIDCREQUESTURI")
                    .ok_or(AzureError::AzureDevOpsOidcUnavailable {
                        missing: "SYSTEM_OIDCREQUESTURI",
                    })?;
            let access_token = env
                .get("SYSTEM_ACCESSTOKEN")
                .or_else(|| env.get("ENDPOINT_AUTH_PARAMETER_SYSTEMVSSCONNECTION_ACCESSTOKEN"))
                .ok_or(AzureError::AzureDevOpsOidcUnavailable {
                    missing: "SYSTEM_ACCESSTOKEN",
                })?;
            Ok(Source::Federated(
                AuthType::AzureDevopsOidc,
                AssertionSource::AzureDevOps {
                    request_uri: request_uri.to_string(),
                    access_token: Secret::new(access_token),
                    service_connection_id: service_connection_id.to_string(),
                },
            ))
        };
        let workload = |path: &PathBuf| {
            Source::Federated(
                AuthType::WorkloadIdentity,
                AssertionSource::File(path.clone()),
            )
        };
        let managed = |probe: bool| {
            Source::ManagedIdentity(ManagedIdentity {
                endpoint: s.managed_identity_endpoint.clone(),
                app_service: env
                    .get("IDENTITY_ENDPOINT")
                    .zip(env.get("IDENTITY_HEADER"))
                    .map(|(e, h)| (e.to_string(), Secret::new(h))),
                probe,
            })
        };
        let cli = || -> Result<Source, AzureError> {
            let options = azure_identity::AzureCliCredentialOptions {
                tenant_id: tenant_id.clone(),
                ..Default::default()
            };
            azure_identity::AzureCliCredential::new(Some(options))
                .map(Source::AzureCli)
                .map_err(|e| AzureError::AzureCli {
                    message: e.to_string(),
                })
        };

        let sources = match s.auth {
            AuthType::GithubOidc => {
                need(&tenant_id, "tenant-id", s.auth)?;
                need(&client_id, "client-id", s.auth)?;
                vec![github()?]
            }
            AuthType::AzureDevopsOidc => {
                let id = need(&s.service_connection_id, "service-connection-id", s.auth)?;
                need(&tenant_id, "tenant-id", s.auth)?;
                need(&client_id, "client-id", s.auth)?;
                vec![ado(id)?]
            }
            AuthType::WorkloadIdentity => {
                need(&tenant_id, "tenant-id", s.auth)?;
                need(&client_id, "client-id", s.auth)?;
                let path = token_file
                    .as_ref()
                    .ok_or(AzureError::WorkloadIdentityUnavailable)?;
                vec![workload(path)]
            }
            AuthType::ClientSecret => {
                need(&tenant_id, "tenant-id", s.auth)?;
                need(&client_id, "client-id", s.auth)?;
                let secret = s.client_secret.clone().ok_or(AzureError::MissingSetting {
                    setting: "client-secret",
                    auth: "client-secret",
                })?;
                vec![Source::ClientSecret(secret)]
            }
            AuthType::ManagedIdentity => vec![managed(false)],
            AuthType::AzureCli => vec![cli()?],
            AuthType::ServicePrincipal => {
                need(&tenant_id, "tenant-id", s.auth)?;
                need(&client_id, "client-id", s.auth)?;
                if env.get("ACTIONS_ID_TOKEN_REQUEST_URL").is_some() {
                    vec![github()?]
                } else if let (Some(id), Some(_)) = (
                    s.service_connection_id.as_deref(),
                    env.get("SYSTEM_OIDCREQUESTURI"),
                ) {
                    vec![ado(id)?]
                } else if let Some(secret) = &s.client_secret {
                    vec![Source::ClientSecret(secret.clone())]
                } else if let Some(path) = &token_file {
                    vec![workload(path)]
                } else if env.is_true("GITHUB_ACTIONS") {
                    return Err(AzureError::GitHubOidcUnavailable);
                } else {
                    return Err(AzureError::MissingSetting {
                        setting: "client-secret",
                        auth: "SERVICE_PRINCIPAL",
                    });
                }
            }
            AuthType::Auto => {
                let federated = tenant_id.is_some() && client_id.is_some();
                if federated && env.get("ACTIONS_ID_TOKEN_REQUEST_URL").is_some() {
                    vec![github()?]
                } else if let (true, Some(id), Some(_)) = (
                    federated,
                    s.service_connection_id.as_deref(),
                    env.get("SYSTEM_OIDCREQUESTURI"),
                ) {
                    vec![ado(id)?]
                } else if federated && let Some(secret) = &s.client_secret {
                    vec![Source::ClientSecret(secret.clone())]
                } else if federated && let Some(path) = &token_file {
                    // A runner in an AKS pod with workload identity.
                    vec![workload(path)]
                } else if federated && env.is_true("GITHUB_ACTIONS") {
                    // Client and tenant given in a workflow: OIDC was meant, the
                    // permission is missing.
                    return Err(AzureError::GitHubOidcUnavailable);
                } else {
                    vec![managed(true), cli()?]
                }
            }
        };
        for src in &sources {
            match src {
                Source::Federated(_, a) => a.secret().into_iter().for_each(|s| mask.mask(s)),
                Source::ClientSecret(sec) => mask.mask(sec),
                Source::ManagedIdentity(ManagedIdentity {
                    app_service: Some((_, h)),
                    ..
                }) => mask.mask(h),
                _ => {}
            }
        }
        Ok(Credential {
            http: http.clone(),
            authority_host: s.authority_host.clone(),
            tenant_id,
            client_id,
            audience: s.audience.clone(),
            sources,
            mask,
            state: Default::default(),
            stats: Default::default(),
        })
    }

    /// The way this credential signs in (the first of the chain until one worked).
    pub fn kind(&self) -> AuthType {
        self.sources
            .first()
            .map(Source::kind)
            .unwrap_or(AuthType::Auto)
    }

    /// Masks a secret found with this credential's help (Key Vault values, kubeconfigs).
    pub fn mask(&self, secret: &Secret) {
        self.mask.mask(secret)
    }

    pub fn stats(&self) -> Stats {
        *self.stats.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A bearer token for `scope` (e.g. `https://management.azure.com/.default`), masked
    /// on the host before it is returned. Cached until shortly before it expires.
    pub async fn token(&self, scope: &str) -> Result<Secret, AzureError> {
        let mut state = self.state.lock().await;
        if let Some(t) = state.tokens.get(scope) {
            return Ok(t);
        }
        let (token, lifetime) = self.request(&mut state, scope).await?;
        self.mask.mask(&token);
        state.tokens.put(scope, token.clone(), lifetime);
        Ok(token)
    }

    /// Forgets the cached token for `scope` (after a 401).
    pub async fn invalidate(&self, scope: &str) {
        self.state.lock().await.tokens.forget(scope);
    }

    async fn request(
        &self,
        state: &mut State,
        scope: &str,
    ) -> Result<(Secret, Duration), AzureError> {
        self.stats
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .tokens_requested += 1;
        if let Some(i) = state.chosen
            && let Some(src) = self.sources.get(i)
        {
            return self.request_from(state, src, scope).await;
        }
        let mut tried = Vec::new();
        let last = self.sources.len().saturating_sub(1);
        for (i, src) in self.sources.iter().enumerate() {
            match self.request_from(state, src, scope).await {
                Ok(t) => {
                    state.chosen = Some(i);
                    return Ok(t);
                }
                Err(e) if i < last => {
                    tracing::debug!("{} sign-in unavailable: {e}", src.kind().name());
                    tried.push(format!("{}: {e}", src.kind().name()));
                }
                Err(e) if self.sources.len() > 1 => {
                    tried.push(format!("{}: {e}", src.kind().name()));
                    return Err(AzureError::NoCredential {
                        tried: tried.join("; "),
                    });
                }
                Err(e) => return Err(e),
            }
        }
        Err(AzureError::NoCredential {
            tried: tried.join("; "),
        })
    }

    fn app(&self) -> App<'_> {
        App {
            authority_host: &self.authority_host,
            tenant: self.tenant_id.as_deref().unwrap_or_default(),
            client_id: self.client_id.as_deref().unwrap_or_default(),
        }
    }

    async fn request_from(
        &self,
        state: &mut State,
        src: &Source,
        scope: &str,
    ) -> Result<(Secret, Duration), AzureError> {
        match src {
            Source::Federated(_, AssertionSource::File(path)) => {
                // The platform keeps the file fresh; the crate's credential reads it.
                entra::token(&self.http, &self.app(), scope, Grant::TokenFile(path)).await
            }
            Source::Federated(_, source) => {
                let assertion = match state.assertion.take() {
                    Some(a) if !a.is_stale() => a,
                    _ => self.mint(source).await?,
                };
                let first = self.exchange(scope, &assertion).await;
                let (assertion, result) = match first {
                    Err(AzureError::Entra {
                        code: Some(700024), ..
                    }) => {
                        // Expired in flight (clock skew, a slow runner): one fresh try.
                        let fresh = self.mint(source).await?;
                        let r = self.exchange(scope, &fresh).await;
                        (fresh, r)
                    }
                    r => (assertion, r),
                };
                state.assertion = Some(assertion);
                result
            }
            Source::ClientSecret(secret) => {
                entra::token(&self.http, &self.app(), scope, Grant::Secret(secret)).await
            }
            Source::ManagedIdentity(mi) => {
                mi.token(&self.http, self.client_id.as_deref(), scope).await
            }
            Source::AzureCli(cli) => {
                use azure_core::credentials::TokenCredential;
                let t = cli
                    .get_token(&[scope], None)
                    .await
                    .map_err(|e| AzureError::AzureCli {
                        message: e.to_string(),
                    })?;
                let left = t.expires_on.unix_timestamp()
                    - azure_core::time::OffsetDateTime::now_utc().unix_timestamp();
                Ok((
                    Secret::new(t.token.secret()),
                    Duration::from_secs(left.max(0) as u64),
                ))
            }
        }
    }

    async fn exchange(&self, scope: &str, a: &Assertion) -> Result<(Secret, Duration), AzureError> {
        let grant = Grant::Assertion(&a.jwt, &a.claims);
        entra::token(&self.http, &self.app(), scope, grant).await
    }

    /// A fresh assertion from `source`, masked and counted.
    async fn mint(&self, source: &AssertionSource) -> Result<Assertion, AzureError> {
        let a = source.mint(&self.http, &self.audience).await?;
        self.mask.mask(&a.jwt);
        self.stats
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .assertions_minted += 1;
        Ok(a)
    }
}
