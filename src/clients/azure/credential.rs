//! One credential chain for every step: GitHub OIDC federation, Azure DevOps workload
//! identity federation, client secret, managed identity, and the Azure CLI last.
//!
//! Why not `azure_identity` for all of it: its credentials insist on an HTTPS authority
//! host (tests aim ours at a plain-HTTP loopback mock), read the process environment
//! instead of our `Env` snapshot, turn Entra's answers into opaque errors (we need
//! `AADSTS70021` with the subject the token carried), and its IMDS endpoint is fixed.
//! The token requests themselves are one form POST each, so they are written here with
//! `reqwest`. `azure_identity::AzureCliCredential` is used for the CLI fallback, where it
//! fits exactly (and is the only place a child process is started).
//!
//! Federated assertions are re-minted whenever an access token is (re)requested and the
//! cached assertion is within a minute of expiry, so a 40-minute job never presents a
//! stale one (`AADSTS700024`); if Entra still says it expired, one fresh assertion is
//! minted and the exchange retried once.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine;
use url::Url;

use super::arm::{error_body, send};
use super::{AssertionClaims, AzureError};
use crate::clients::http::{self, Http, Retry};
use crate::env::Env;
use crate::inputs::settings::AzureSettings;
use crate::secret::Secret;

/// Receives every secret the moment it exists (the host masks it in the logs).
pub trait Mask: Send + Sync {
    fn mask(&self, secret: &Secret);
}

impl Mask for crate::host::Host {
    fn mask(&self, secret: &Secret) {
        crate::host::Host::mask(self, secret)
    }
}

/// For callers that have no host (tests, tools).
pub struct NoMask;

impl Mask for NoMask {
    fn mask(&self, _: &Secret) {}
}

/// The scope of an AKS cluster with Entra ID integration (the AKS server application).
pub const AKS_SERVER_SCOPE: &str = "6dae42f8-4368-4678-94ff-3960e28e3630/.default";
/// The scope of Azure Container Registry's token exchange.
pub const ACR_SCOPE: &str = "https://containerregistry.azure.net/.default";

const CLIENT_ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
const ADO_OIDC_API_VERSION: &str = "7.1-preview.1";

/// How to sign in, as the `auth-type` setting names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum AuthType {
    Auto,
    GithubOidc,
    AzureDevopsOidc,
    ClientSecret,
    ManagedIdentity,
    AzureCli,
    /// azure/login's `SERVICE_PRINCIPAL`: the app registration, by OIDC federation when the
    /// CI host offers a token, else by client secret; never a managed identity or the CLI.
    ServicePrincipal,
}

impl AuthType {
    /// Ours, then azure/login's (`IDENTITY` is `managed-identity`).
    pub const NAMES: &'static str = "auto, github-oidc, azure-devops-oidc, client-secret, \
managed-identity, azure-cli, SERVICE_PRINCIPAL";

    pub fn parse(v: &str) -> Option<Self> {
        Some(match v.to_ascii_lowercase().as_str() {
            "auto" => AuthType::Auto,
            "github-oidc" | "oidc" => AuthType::GithubOidc,
            "azure-devops-oidc" | "workload-identity-federation" => AuthType::AzureDevopsOidc,
            "client-secret" => AuthType::ClientSecret,
            "service_principal" | "service-principal" => AuthType::ServicePrincipal,
            "managed-identity" | "identity" => AuthType::ManagedIdentity,
            "azure-cli" | "cli" => AuthType::AzureCli,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            AuthType::Auto => "auto",
            AuthType::GithubOidc => "github-oidc",
            AuthType::AzureDevopsOidc => "azure-devops-oidc",
            AuthType::ClientSecret => "client-secret",
            AuthType::ManagedIdentity => "managed-identity",
            AuthType::AzureCli => "azure-cli",
            AuthType::ServicePrincipal => "SERVICE_PRINCIPAL",
        }
    }
}

enum Source {
    GitHub {
        request_url: String,
        request_token: Secret,
    },
    AzureDevOps {
        request_uri: String,
        access_token: Secret,
        service_connection_id: String,
    },
    ClientSecret(Secret),
    ManagedIdentity {
        endpoint: Url,
        /// App Service / Container Apps: `IDENTITY_ENDPOINT` + `IDENTITY_HEADER`.
        app_service: Option<(String, Secret)>,
        /// Tried as part of `auto`: give up fast when there is no IMDS.
        probe: bool,
    },
    AzureCli(Arc<azure_identity::AzureCliCredential>),
}

impl Source {
    fn kind(&self) -> AuthType {
        match self {
            Source::GitHub { .. } => AuthType::GithubOidc,
            Source::AzureDevOps { .. } => AuthType::AzureDevopsOidc,
            Source::ClientSecret(_) => AuthType::ClientSecret,
            Source::ManagedIdentity { .. } => AuthType::ManagedIdentity,
            Source::AzureCli(_) => AuthType::AzureCli,
        }
    }
}

struct Cached {
    token: Secret,
    refresh_at: Instant,
}

struct Assertion {
    jwt: Secret,
    claims: AssertionClaims,
    /// When to mint a new one.
    stale_at: Option<Instant>,
}

#[derive(Default)]
struct State {
    tokens: HashMap<String, Cached>,
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
    authority_host: Url,
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

impl<'a> Credential<'a> {
    /// Picks the way to sign in from the settings and the CI environment. No I/O: a
    /// missing permission or setting is reported before anything else happens.
    pub fn from_settings(
        s: &AzureSettings,
        env: &Env,
        http: &Http,
        mask: &'a dyn Mask,
    ) -> Result<Self, AzureError> {
        let mut tenant_id = s.tenant_id.clone();
        let mut client_id = s.client_id.clone();
        // Azure Pipelines: the service connection carries tenant and client IDs.
        if let Some(id) = &s.service_connection_id {
            tenant_id =
                tenant_id.or_else(|| endpoint_var(env, "ENDPOINT_AUTH_PARAMETER", id, "TENANTID"));
            client_id = client_id
                .or_else(|| endpoint_var(env, "ENDPOINT_AUTH_PARAMETER", id, "SERVICEPRINCIPALID"));
        }
        let github = || -> Result<Source, AzureError> {
            let request_url = env
                .get("ACTIONS_ID_TOKEN_REQUEST_URL")
                .ok_or(AzureError::GitHubOidcUnavailable)?;
            let request_token = env
                .get("ACTIONS_ID_TOKEN_REQUEST_TOKEN")
                .ok_or(AzureError::GitHubOidcUnavailable)?;
            Ok(Source::GitHub {
                request_url: request_url.to_string(),
                request_token: Secret::new(request_token),
            })
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
            Ok(Source::AzureDevOps {
                request_uri: request_uri.to_string(),
                access_token: Secret::new(access_token),
                service_connection_id: service_connection_id.to_string(),
            })
        };
        let managed = |probe: bool| Source::ManagedIdentity {
            endpoint: s.managed_identity_endpoint.clone(),
            app_service: env
                .get("IDENTITY_ENDPOINT")
                .zip(env.get("IDENTITY_HEADER"))
                .map(|(e, h)| (e.to_string(), Secret::new(h))),
            probe,
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
                Source::GitHub { request_token, .. } => mask.mask(request_token),
                Source::AzureDevOps { access_token, .. } => mask.mask(access_token),
                Source::ClientSecret(sec) => mask.mask(sec),
                Source::ManagedIdentity {
                    app_service: Some((_, h)),
                    ..
                } => mask.mask(h),
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
        if let Some(c) = state.tokens.get(scope)
            && Instant::now() < c.refresh_at
        {
            return Ok(c.token.clone());
        }
        let (token, lifetime) = self.request(&mut state, scope).await?;
        self.mask.mask(&token);
        state.tokens.insert(
            scope.to_string(),
            Cached {
                token: token.clone(),
                refresh_at: refresh_at(Instant::now(), lifetime),
            },
        );
        Ok(token)
    }

    /// Forgets the cached token for `scope` (after a 401).
    pub async fn invalidate(&self, scope: &str) {
        self.state.lock().await.tokens.remove(scope);
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
        if let Some(i) = state.chosen {
            return self.request_from(state, &self.sources[i], scope).await;
        }
        let mut tried = Vec::new();
        let last = self.sources.len() - 1;
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
        unreachable!("a credential has at least one source")
    }

    async fn request_from(
        &self,
        state: &mut State,
        src: &Source,
        scope: &str,
    ) -> Result<(Secret, Duration), AzureError> {
        match src {
            Source::GitHub { .. } | Source::AzureDevOps { .. } => {
                let fresh = match &state.assertion {
                    Some(a) => a.stale_at.is_none_or(|t| Instant::now() >= t),
                    None => true,
                };
                if fresh {
                    state.assertion = Some(self.mint_assertion(src).await?);
                }
                let a = state.assertion.as_ref().expect("just minted");
                match self
                    .exchange(scope, Grant::Assertion(&a.jwt), Some(&a.claims))
                    .await
                {
                    Err(AzureError::Entra {
                        code: Some(700024), ..
                    }) => {
                        // Expired in flight (clock skew, a slow runner): one fresh try.
                        state.assertion = Some(self.mint_assertion(src).await?);
                        let a = state.assertion.as_ref().expect("just minted");
                        self.exchange(scope, Grant::Assertion(&a.jwt), Some(&a.claims))
                            .await
                    }
                    r => r,
                }
            }
            Source::ClientSecret(secret) => self.exchange(scope, Grant::Secret(secret), None).await,
            Source::ManagedIdentity {
                endpoint,
                app_service,
                probe,
            } => {
                self.managed_identity(endpoint, app_service.as_ref(), *probe, scope)
                    .await
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

    /// Gets a fresh ID token from the CI host's OIDC provider.
    async fn mint_assertion(&self, src: &Source) -> Result<Assertion, AzureError> {
        let (provider, jwt) = match src {
            Source::GitHub {
                request_url,
                request_token,
            } => {
                let sep = if request_url.contains('?') { '&' } else { '?' };
                let url = format!(
                    "{request_url}{sep}audience={}",
                    url::form_urlencoded::byte_serialize(self.audience.as_bytes())
                        .collect::<String>()
                );
                let op = "GitHub OIDC token request";
                let resp = send(&self.http, op, Retry::ByMethod, |c| {
                    c.get(&url)
                        .header(
                            "Authorization",
                            format!("bearer {}", request_token.expose()),
                        )
                        .header("Accept", "application/json")
                })
                .await?;
                let v = oidc_body("GitHub", resp).await?;
                let jwt = v["value"].as_str().ok_or_else(|| AzureError::Oidc {
                    provider: "GitHub",
                    status: String::new(),
                    message: "the answer has no `value` (ID token) field".into(),
                })?;
                ("GitHub", jwt.to_string())
            }
            Source::AzureDevOps {
                request_uri,
                access_token,
                service_connection_id,
            } => {
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
                let resp = send(&self.http, op, Retry::Safe, |c| {
                    c.post(url.clone())
                        .bearer_auth(access_token.expose())
                        .json(&serde_json::json!({}))
                })
                .await?;
                let v = oidc_body("Azure DevOps", resp).await?;
                let jwt = v["oidcToken"].as_str().ok_or_else(|| AzureError::Oidc {
                    provider: "Azure DevOps",
                    status: String::new(),
                    message: "the answer has no `oidcToken` field".into(),
                })?;
                ("Azure DevOps", jwt.to_string())
            }
            _ => unreachable!("only federated sources mint assertions"),
        };
        let jwt = Secret::new(jwt);
        self.mask.mask(&jwt);
        self.stats
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .assertions_minted += 1;
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

    /// Entra ID's token endpoint: client credentials with an assertion or a secret.
    async fn exchange(
        &self,
        scope: &str,
        grant: Grant<'_>,
        claims: Option<&AssertionClaims>,
    ) -> Result<(Secret, Duration), AzureError> {
        let tenant = self.tenant_id.as_deref().unwrap_or_default();
        let client_id = self.client_id.as_deref().unwrap_or_default();
        let url = format!(
            "{}/{tenant}/oauth2/v2.0/token",
            self.authority_host.as_str().trim_end_matches('/')
        );
        let mut form = vec![
            ("client_id", client_id),
            ("scope", scope),
            ("grant_type", "client_credentials"),
        ];
        match grant {
            Grant::Assertion(jwt) => {
                form.push(("client_assertion_type", CLIENT_ASSERTION_TYPE));
                form.push(("client_assertion", jwt.expose()));
            }
            Grant::Secret(s) => form.push(("client_secret", s.expose())),
        }
        // The client-credentials grant changes nothing: safe to repeat.
        let resp = send(&self.http, "Entra ID token request", Retry::Safe, |c| {
            c.post(&url).form(&form)
        })
        .await?;
        let status = resp.status;
        let text = resp.text();
        let v: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
        if !status.is_success() {
            let description = v["error_description"]
                .as_str()
                .map(|d| d.lines().next().unwrap_or(d).to_string())
                .unwrap_or_else(|| format!("HTTP {}", status.as_u16()));
            let code = v["error_codes"][0]
                .as_u64()
                .map(|c| c as u32)
                .or_else(|| aadsts_code(&description));
            return Err(AzureError::Entra {
                client_id: client_id.to_string(),
                tenant: tenant.to_string(),
                code,
                description,
                assertion: claims.cloned().map(Box::new),
            });
        }
        token_from(&v, "Entra ID token request")
    }

    async fn managed_identity(
        &self,
        endpoint: &Url,
        app_service: Option<&(String, Secret)>,
        probe: bool,
        scope: &str,
    ) -> Result<(Secret, Duration), AzureError> {
        let resource = scope.trim_end_matches("/.default");
        let (url, display) = match app_service {
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
                let mut u = endpoint
                    .join("metadata/identity/oauth2/token")
                    .map_err(|e| AzureError::ManagedIdentity {
                        endpoint: endpoint.to_string(),
                        message: e.to_string(),
                    })?;
                u.query_pairs_mut()
                    .append_pair("api-version", "2018-02-01")
                    .append_pair("resource", resource);
                (u, endpoint.to_string())
            }
        };
        let mut url = url;
        if let Some(c) = &self.client_id {
            url.query_pairs_mut().append_pair("client_id", c);
        }
        let mi_err = |message: String| AzureError::ManagedIdentity {
            endpoint: display.clone(),
            message,
        };
        // Part of `auto` on a laptop: no metadata service answers there.
        let room = if probe {
            self.http
                .with_deadline(tokio::time::Instant::now() + Duration::from_secs(2))
        } else {
            self.http.clone()
        };
        let resp = room
            .send(Retry::ByMethod, |c| {
                let req = c.get(url.clone()).header("Metadata", "true");
                match app_service {
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
                v["error_description"]
                    .as_str()
                    .or(v["error"]["message"].as_str())
                    .unwrap_or("no description")
            )));
        }
        token_from(&v, "managed identity token request")
    }
}

enum Grant<'s> {
    Assertion(&'s Secret),
    Secret(&'s Secret),
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

/// `AADSTS70021: ...` -> 70021.
fn aadsts_code(description: &str) -> Option<u32> {
    let rest = &description[description.find("AADSTS")? + 6..];
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

/// The claims of a JWT (not verified: only to explain errors and know its expiry), and
/// the seconds left until its `exp`.
pub fn claims(jwt: &Secret) -> (AssertionClaims, Option<i64>) {
    let payload = jwt
        .expose()
        .split('.')
        .nth(1)
        .and_then(|p| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(p.trim_end_matches('='))
                .ok()
        })
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
        .unwrap_or_default();
    let s = |k: &str| match &payload[k] {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Array(a) => a.first().and_then(|v| v.as_str()).map(String::from),
        _ => None,
    };
    let now = jiff::Timestamp::now().as_second();
    // Saturating: `exp` is outside text (found by the jwt_claims fuzz seed `i64::MIN`).
    let left = payload["exp"].as_i64().map(|exp| exp.saturating_sub(now));
    (
        AssertionClaims {
            issuer: s("iss"),
            subject: s("sub"),
            audience: s("aud"),
        },
        left,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aadsts_codes_are_read_from_descriptions() {
        assert_eq!(
            aadsts_code("AADSTS70021: No matching federated identity record found"),
            Some(70021)
        );
        assert_eq!(aadsts_code("nothing"), None);
    }

    #[test]
    fn claims_are_read_without_verification() {
        let enc = |v: serde_json::Value| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
        };
        let exp = jiff::Timestamp::now().as_second() + 600;
        let jwt = format!(
            "{}.{}.sig",
            enc(serde_json::json!({"alg": "RS256"})),
            enc(
                serde_json::json!({"iss": "https://token.actions.githubusercontent.com", "sub": "repo:o/r:ref:refs/heads/main", "aud": "api://AzureADTokenExchange", "exp": exp})
            )
        );
        let (c, left) = claims(&Secret::new(jwt));
        assert_eq!(c.subject.as_deref(), Some("repo:o/r:ref:refs/heads/main"));
        assert!(left.unwrap() > 590);
    }

    #[test]
    fn claims_with_an_extreme_exp_do_not_overflow() {
        let enc = |v: serde_json::Value| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
        };
        for exp in [i64::MIN, i64::MAX] {
            let jwt = format!("x.{}.y", enc(serde_json::json!({ "exp": exp })));
            let (_, left) = claims(&Secret::new(jwt));
            assert_eq!(left.unwrap().signum(), exp.signum());
        }
    }

    #[test]
    fn auth_types_parse_their_names() {
        for n in AuthType::NAMES.split(", ") {
            assert_eq!(AuthType::parse(n).unwrap().name(), n);
        }
        // azure/login's values, with its meaning.
        assert_eq!(AuthType::parse("IDENTITY"), Some(AuthType::ManagedIdentity));
        assert_eq!(
            AuthType::parse("SERVICE_PRINCIPAL"),
            Some(AuthType::ServicePrincipal)
        );
        assert_eq!(
            AuthType::parse("service-principal"),
            Some(AuthType::ServicePrincipal)
        );
    }
}

/// No token is cached longer than this, whatever lifetime a server claims (an
/// `expires_in` near u64::MAX must not overflow the clock).
const MAX_CACHED: Duration = Duration::from_secs(24 * 3600);

/// `now + d`, with `d` capped at [`MAX_CACHED`].
fn later(now: Instant, d: Duration) -> Instant {
    now.checked_add(d.min(MAX_CACHED)).unwrap_or(now)
}

/// When a token of `lifetime` is refreshed: a little before expiry (5 minutes, or a
/// tenth of a short lifetime).
fn refresh_at(now: Instant, lifetime: Duration) -> Instant {
    let margin = Duration::from_secs(300).min(lifetime / 10);
    later(now, lifetime.saturating_sub(margin))
}

#[cfg(test)]
mod lifetime_tests {
    use super::*;

    /// Issue 13 item 5: an IMDS `expires_in` near u64::MAX panicked on `Instant + Duration`.
    #[test]
    fn huge_lifetimes_do_not_overflow_the_clock() {
        let now = Instant::now();
        assert_eq!(
            refresh_at(now, Duration::from_secs(u64::MAX)),
            now + MAX_CACHED
        );
        assert_eq!(later(now, Duration::MAX), now + MAX_CACHED);
        assert_eq!(
            refresh_at(now, Duration::from_secs(3600)),
            now + Duration::from_secs(3300)
        );
        assert_eq!(
            refresh_at(now, Duration::from_secs(60)),
            now + Duration::from_secs(54)
        );
    }
}
