//! Azure Container Registry's token service and the registry's manifest API.
//!
//! Sign-in without `docker login` or an admin password (Azure/acr `docs/AAD-OAuth.md`):
//! the registry's `/v2/` challenge names the token realm; an Entra (AAD) access token is
//! exchanged at `POST /oauth2/exchange` for an ACR refresh token, which the engine uses
//! as the password of the null-GUID user. The same refresh token buys scoped access
//! tokens at `POST /oauth2/token` for our own manifest `HEAD` that checks the digest
//! the engine reported. Registries that are not ACR get `GET realm` with Basic auth
//! (the Docker token protocol). Every call goes through the HTTP room (deadline, size
//! cap, one retry policy); 401/403 name the role needed.
//!
//! The Entra token is precious (it signs in to the whole tenant's ACRs): it is exchanged
//! only with Azure Container Registry login servers ([`is_acr_host`]: the public and
//! sovereign-cloud suffixes, or hosts the user names), only at a realm that is HTTPS on
//! the registry's own host ([`Challenge::token_service`]; a loopback registry's plain
//! HTTP only with `--registry-insecure`), and once per run.

use base64::Engine;
use url::Url;

use crate::clients::http::{self, Http, HttpError, Retry, is_loopback_host};
use crate::model::diagnostic::{Diagnostic, Exit};
use crate::secret::Secret;

/// The user name that goes with an ACR refresh token.
pub const NULL_GUID: &str = "00000000-0000-0000-0000-000000000000";

const MANIFEST_TYPES: &str = "application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.oci.image.index.v1+json";

/// The login-server suffixes of Azure Container Registry (public, China, US Government).
pub const ACR_SUFFIXES: [&str; 3] = [".azurecr.io", ".azurecr.cn", ".azurecr.us"];

#[derive(Debug, thiserror::Error)]
pub enum AcrError {
    #[error("{0}")]
    Net(#[from] HttpError),
    #[error(
        "the registry {registry} names the token service `{realm}`: {why}; the Entra token is not sent there"
    )]
    UntrustedRealm {
        registry: String,
        realm: String,
        why: String,
    },
    #[error("the registry {registry} refused the Entra token at {url} (HTTP {status}): {body}")]
    ExchangeDenied {
        registry: String,
        url: String,
        status: u16,
        body: String,
    },
    #[error("the registry {registry} refused a token for `{scope}` (HTTP {status}): {body}")]
    TokenDenied {
        registry: String,
        scope: String,
        status: u16,
        body: String,
    },
    #[error("{what} at {url} answered HTTP {status}: {body}")]
    Unexpected {
        what: &'static str,
        url: String,
        status: u16,
        body: String,
    },
    #[error("the registry {registry} has no usable token challenge at {url}: {message}")]
    Challenge {
        registry: String,
        url: String,
        message: String,
    },
    #[error(
        "the registry {registry} has {reference} at {registry_digest}, but the engine reported pushing {pushed}"
    )]
    DigestMismatch {
        registry: String,
        reference: String,
        pushed: String,
        registry_digest: String,
    },
    #[error("the registry {registry} has no manifest {reference} after the push")]
    ManifestMissing { registry: String, reference: String },
}

impl Diagnostic for AcrError {
    fn exit(&self) -> Exit {
        Exit::External
    }

    fn hint(&self) -> Option<String> {
        Some(match self {
            AcrError::ExchangeDenied { registry, .. } | AcrError::TokenDenied { registry, .. } => {
                format!(
                    "the signed-in identity needs the AcrPush role on {registry} (az role assignment create --role AcrPush --assignee <client-id> --scope <registry id>); the Entra token must be for the tenant of the registry"
                )
            }
            AcrError::Net(e) => e.hint(),
            AcrError::UntrustedRealm { .. } => "an Azure Container Registry's token service is https://<login server>/oauth2/token; check the registry name (for a loopback test registry pass --registry-insecure)".into(),
            AcrError::DigestMismatch { .. } => {
                "another push raced ours on the same tag; use the digest output, never the tag"
                    .into()
            }
            _ => return None,
        })
    }
}

/// A `Www-Authenticate: Bearer realm=..,service=..,scope=..` challenge.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Challenge {
    pub realm: String,
    pub service: String,
    pub scope: Option<String>,
}

impl Challenge {
    pub fn parse(header: &str) -> Option<Challenge> {
        let rest = header.trim();
        let rest = rest
            .strip_prefix("Bearer ")
            .or_else(|| rest.strip_prefix("bearer "))?;
        let mut realm = None;
        let mut service = None;
        let mut scope = None;
        let mut s = rest;
        while !s.is_empty() {
            let (k, after) = s.split_once('=')?;
            let k = k.trim().trim_start_matches(',').trim();
            let (v, next) = if let Some(q) = after.strip_prefix('"') {
                let end = q.find('"')?;
                (&q[..end], &q[end + 1..])
            } else {
                match after.find(',') {
                    Some(i) => (&after[..i], &after[i..]),
                    None => (after, ""),
                }
            };
            match k {
                "realm" => realm = Some(v.to_string()),
                "service" => service = Some(v.to_string()),
                "scope" => scope = Some(v.to_string()),
                _ => {}
            }
            s = next.trim_start_matches(',').trim();
        }
        Some(Challenge {
            realm: realm?,
            service: service.unwrap_or_default(),
            scope,
        })
    }

    /// The realm, when the registry's own token service may get a credential there: HTTPS
    /// on the registry's host (any port), or plain HTTP on a loopback registry when
    /// `insecure`. `registry` is `host[:port]`.
    pub fn token_service(&self, registry: &str, insecure: bool) -> Result<Url, AcrError> {
        let refuse = |why: &str| AcrError::UntrustedRealm {
            registry: registry.to_string(),
            realm: self.realm.clone(),
            why: why.to_string(),
        };
        let realm = Url::parse(&self.realm).map_err(|_| refuse("it is not a URL"))?;
        let host = realm.host_str().unwrap_or_default();
        if !host.eq_ignore_ascii_case(registry_host(registry)) {
            return Err(refuse("it is not on the registry's own host"));
        }
        match realm.scheme() {
            "https" => Ok(realm),
            "http" if insecure && is_loopback_host(host) => Ok(realm),
            "http" if is_loopback_host(host) => Err(refuse(
                "it is plain HTTP (allowed for a loopback registry with --registry-insecure)",
            )),
            _ => Err(refuse("it is not HTTPS")),
        }
    }

    /// ACR serves the exchange beside the token endpoint.
    pub fn exchange_url(&self) -> String {
        match self.realm.strip_suffix("/oauth2/token") {
            Some(base) => format!("{base}/oauth2/exchange"),
            None => format!("{}/oauth2/exchange", self.realm.trim_end_matches('/')),
        }
    }
}

/// How we authenticate to the registry's token realm.
#[derive(Clone, Debug)]
pub enum RegistryAuth {
    /// An ACR refresh token (`grant_type=refresh_token`).
    AcrRefreshToken(Secret),
    /// User and password (Basic auth at the realm).
    Basic {
        username: String,
        password: Secret,
    },
    Anonymous,
}

/// The tenant (`tid` claim) of an Entra access token, read without verifying it (the
/// registry verifies it; we only need to name the tenant in the exchange).
pub fn tenant_of(token: &Secret) -> Option<String> {
    let payload = token.expose().split('.').nth(1)?;
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    let v: serde_json::Value = serde_json::from_slice(&raw).ok()?;
    v.get("tid")?.as_str().map(String::from)
}

/// The registry `registry` (`host[:port]`) over `base_url` (`https://host`, or `http://`
/// for a loopback registry).
pub struct Acr {
    http: Http,
    registry: String,
    base_url: String,
    /// A loopback registry's token service may speak plain HTTP.
    insecure: bool,
}

/// The host of `host[:port]` (`[::1]:5000` -> `[::1]`).
fn registry_host(registry: &str) -> &str {
    match registry.rsplit_once(':') {
        Some((h, port)) if port.bytes().all(|b| b.is_ascii_digit()) && !h.is_empty() => h,
        _ => registry,
    }
}

/// Loopback registries speak plain HTTP (as the engine treats 127.0.0.0/8 as insecure).
/// Loopback is an IP address (or `localhost`): `127.evil.example` is a name.
pub fn base_url_for(registry: &str) -> String {
    if is_loopback_host(registry_host(registry)) {
        format!("http://{registry}")
    } else {
        format!("https://{registry}")
    }
}

/// Is `registry` (`host[:port]`) an Azure Container Registry login server: a public or
/// sovereign-cloud suffix, or one the user named (`acr-hosts`, `host` or `host:port`)?
pub fn is_acr_host(registry: &str, named: &[String]) -> bool {
    let r = registry.to_ascii_lowercase();
    if named.iter().any(|n| n.eq_ignore_ascii_case(&r)) {
        return true;
    }
    let host = registry_host(&r);
    // A port is not part of an ACR login server.
    host == r
        && ACR_SUFFIXES
            .iter()
            .any(|suffix| host.len() > suffix.len() && host.ends_with(suffix))
}

impl Acr {
    pub fn new(http: Http, registry: &str, base_url: &str) -> Self {
        Acr {
            http,
            registry: registry.to_string(),
            base_url: base_url.trim_end_matches('/').to_string(),
            insecure: false,
        }
    }

    /// Allows a loopback registry's token service over plain HTTP (`--registry-insecure`).
    pub fn insecure(mut self, insecure: bool) -> Self {
        self.insecure = insecure;
        self
    }

    pub fn registry(&self) -> &str {
        &self.registry
    }

    /// Sends a request built by `make` through the HTTP room. Token requests are POSTs
    /// the token protocol makes safe to repeat.
    async fn send(
        &self,
        retry: Retry,
        make: impl Fn(&reqwest::Client) -> reqwest::RequestBuilder,
    ) -> Result<http::Response, AcrError> {
        Ok(self.http.send(retry, make).await?)
    }

    /// The token challenge of `GET /v2/`.
    pub async fn challenge(&self) -> Result<Challenge, AcrError> {
        let url = format!("{}/v2/", self.base_url);
        let resp = self.send(Retry::ByMethod, |c| c.get(&url)).await?;
        let header = resp.header("www-authenticate").map(String::from);
        let status = resp.status.as_u16();
        match (status, header.as_deref().and_then(Challenge::parse)) {
            (401, Some(c)) => Ok(c),
            (_, _) => Err(AcrError::Challenge {
                registry: self.registry.clone(),
                url,
                message: format!(
                    "HTTP {status}, Www-Authenticate {}",
                    header.as_deref().unwrap_or("missing")
                ),
            }),
        }
    }

    /// `POST /oauth2/exchange`: Entra access token -> ACR refresh token.
    pub async fn exchange(
        &self,
        challenge: &Challenge,
        aad_token: &Secret,
        tenant: Option<&str>,
    ) -> Result<Secret, AcrError> {
        challenge.token_service(&self.registry, self.insecure)?;
        let url = challenge.exchange_url();
        let tenant = tenant.map(String::from).or_else(|| tenant_of(aad_token));
        let mut form = vec![
            ("grant_type", "access_token".to_string()),
            ("service", challenge.service.clone()),
        ];
        if let Some(t) = tenant {
            form.push(("tenant", t));
        }
        form.push(("access_token", aad_token.expose().to_string()));
        let resp = self.send(Retry::Safe, |c| c.post(&url).form(&form)).await?;
        let status = resp.status.as_u16();
        let body = resp.text();
        if status == 401 || status == 403 {
            return Err(AcrError::ExchangeDenied {
                registry: self.registry.clone(),
                url,
                status,
                body: short(&body),
            });
        }
        if status != 200 {
            return Err(AcrError::Unexpected {
                what: "the ACR token exchange",
                url,
                status,
                body: short(&body),
            });
        }
        #[derive(serde::Deserialize)]
        struct R {
            refresh_token: String,
        }
        let r: R = serde_json::from_str(&body).map_err(|e| AcrError::Unexpected {
            what: "the ACR token exchange",
            url: url.clone(),
            status,
            body: format!("not an AcrRefreshToken: {e}"),
        })?;
        Ok(Secret::new(r.refresh_token))
    }

    /// An access token for `scope` (`repository:repo:pull`).
    pub async fn access_token(
        &self,
        challenge: &Challenge,
        scope: &str,
        auth: &RegistryAuth,
    ) -> Result<Secret, AcrError> {
        let url = challenge.realm.clone();
        let resp = match auth {
            RegistryAuth::AcrRefreshToken(rt) => {
                // An ACR refresh token goes to the registry's own token service only.
                challenge.token_service(&self.registry, self.insecure)?;
                let form = [
                    ("grant_type", "refresh_token"),
                    ("service", challenge.service.as_str()),
                    ("scope", scope),
                    ("refresh_token", rt.expose()),
                ];
                self.send(Retry::Safe, |c| c.post(&url).form(&form)).await?
            }
            RegistryAuth::Basic { username, password } => {
                let q = [("service", challenge.service.as_str()), ("scope", scope)];
                self.send(Retry::ByMethod, |c| {
                    c.get(&url)
                        .query(&q)
                        .basic_auth(username, Some(password.expose()))
                })
                .await?
            }
            RegistryAuth::Anonymous => {
                let q = [("service", challenge.service.as_str()), ("scope", scope)];
                self.send(Retry::ByMethod, |c| c.get(&url).query(&q))
                    .await?
            }
        };
        let status = resp.status.as_u16();
        let body = resp.text();
        if status == 401 || status == 403 {
            return Err(AcrError::TokenDenied {
                registry: self.registry.clone(),
                scope: scope.to_string(),
                status,
                body: short(&body),
            });
        }
        if status != 200 {
            return Err(AcrError::Unexpected {
                what: "the registry token endpoint",
                url,
                status,
                body: short(&body),
            });
        }
        let v: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
        v.get("access_token")
            .or_else(|| v.get("token"))
            .and_then(|t| t.as_str())
            .map(Secret::new)
            .ok_or_else(|| AcrError::Unexpected {
                what: "the registry token endpoint",
                url,
                status,
                body: "no access_token in the answer".into(),
            })
    }

    /// `HEAD /v2/<repo>/manifests/<reference>`: the digest the registry serves, or
    /// `None` for 404.
    pub async fn manifest_digest(
        &self,
        repo: &str,
        reference: &str,
        auth: &RegistryAuth,
    ) -> Result<Option<String>, AcrError> {
        let url = format!("{}/v2/{repo}/manifests/{reference}", self.base_url);
        let head = |c: &reqwest::Client, token: Option<&Secret>| {
            let mut r = c.head(&url).header("accept", MANIFEST_TYPES);
            if let Some(t) = token {
                r = r.bearer_auth(t.expose());
            }
            r
        };
        let mut resp = self.send(Retry::ByMethod, |c| head(c, None)).await?;
        if resp.status.as_u16() == 401 {
            let challenge = resp
                .header("www-authenticate")
                .and_then(Challenge::parse)
                .ok_or_else(|| AcrError::Challenge {
                    registry: self.registry.clone(),
                    url: url.clone(),
                    message: "401 without a Bearer challenge".into(),
                })?;
            let scope = challenge
                .scope
                .clone()
                .unwrap_or_else(|| format!("repository:{repo}:pull"));
            let token = self.access_token(&challenge, &scope, auth).await?;
            resp = self
                .send(Retry::ByMethod, |c| head(c, Some(&token)))
                .await?;
        }
        let status = resp.status.as_u16();
        match status {
            200 => Ok(resp.header("docker-content-digest").map(String::from)),
            404 => Ok(None),
            401 | 403 => Err(AcrError::TokenDenied {
                registry: self.registry.clone(),
                scope: format!("repository:{repo}:pull"),
                status,
                body: String::new(),
            }),
            _ => Err(AcrError::Unexpected {
                what: "the manifest HEAD",
                url,
                status,
                body: String::new(),
            }),
        }
    }

    /// Checks that the registry serves `reference` at `pushed`.
    pub async fn verify(
        &self,
        repo: &str,
        reference: &str,
        pushed: &str,
        auth: &RegistryAuth,
    ) -> Result<(), AcrError> {
        match self.manifest_digest(repo, reference, auth).await? {
            Some(d) if d == pushed => Ok(()),
            Some(d) => Err(AcrError::DigestMismatch {
                registry: self.registry.clone(),
                reference: format!("{repo}:{reference}"),
                pushed: pushed.to_string(),
                registry_digest: d,
            }),
            None => Err(AcrError::ManifestMissing {
                registry: self.registry.clone(),
                reference: format!("{repo}:{reference}"),
            }),
        }
    }
}

fn short(body: &str) -> String {
    let b = body.trim();
    if b.len() > 300 {
        format!("{}…", &b[..b.floor_char_boundary(300)])
    } else {
        b.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenges() {
        let c = Challenge::parse(r#"Bearer realm="https://r.azurecr.io/oauth2/token",service="r.azurecr.io",scope="repository:a:pull,push""#).unwrap();
        assert_eq!(c.service, "r.azurecr.io");
        assert_eq!(c.scope.as_deref(), Some("repository:a:pull,push"));
        assert_eq!(c.exchange_url(), "https://r.azurecr.io/oauth2/exchange");
        assert!(Challenge::parse("Basic realm=\"x\"").is_none());
    }

    #[test]
    fn tenant_claim() {
        let payload =
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(br#"{"tid":"t-1","oid":"o"}"#);
        let tok = Secret::new(format!("h.{payload}.s"));
        assert_eq!(tenant_of(&tok).as_deref(), Some("t-1"));
        assert_eq!(base_url_for("127.0.0.1:5000"), "http://127.0.0.1:5000");
        assert_eq!(base_url_for("r.azurecr.io"), "https://r.azurecr.io");
    }

    #[test]
    fn loopback_registries_are_ip_addresses_not_name_prefixes() {
        assert_eq!(base_url_for("[::1]:5000"), "http://[::1]:5000");
        assert_eq!(base_url_for("localhost:5000"), "http://localhost:5000");
        assert_eq!(
            base_url_for("127.evil.example:5000"),
            "https://127.evil.example:5000"
        );
    }

    #[test]
    fn only_acr_login_servers_get_the_entra_token() {
        assert!(is_acr_host("myacr.azurecr.io", &[]));
        assert!(is_acr_host("myacr.azurecr.cn", &[]));
        assert!(is_acr_host("MyAcr.AzureCR.us", &[]));
        assert!(!is_acr_host("azurecr.io", &[]));
        assert!(!is_acr_host(".azurecr.io", &[]));
        assert!(!is_acr_host("ghcr.io", &[]));
        assert!(!is_acr_host("myacr.azurecr.io.evil.example", &[]));
        assert!(!is_acr_host("myacr.azurecr.io:8443", &[]));
        assert!(!is_acr_host("127.0.0.1:5000", &[]));
        let named = vec!["127.0.0.1:5000".to_string(), "acr.corp.example".to_string()];
        assert!(is_acr_host("127.0.0.1:5000", &named));
        assert!(is_acr_host("acr.corp.example", &named));
        assert!(!is_acr_host("127.0.0.1:5001", &named));
    }

    fn challenge(realm: &str) -> Challenge {
        Challenge {
            realm: realm.into(),
            service: "r".into(),
            scope: None,
        }
    }

    #[test]
    fn the_realm_must_be_https_on_the_registrys_own_host() {
        let ok = challenge("https://r.azurecr.io/oauth2/token");
        assert!(ok.token_service("r.azurecr.io", false).is_ok());
        for (realm, why) in [
            ("https://evil.example/oauth2/token", "own host"),
            ("https://r.azurecr.io.evil.example/oauth2/token", "own host"),
            ("http://r.azurecr.io/oauth2/token", "not HTTPS"),
            ("ftp://r.azurecr.io/x", "not HTTPS"),
            ("/oauth2/token", "not a URL"),
        ] {
            let e = challenge(realm)
                .token_service("r.azurecr.io", true)
                .unwrap_err()
                .to_string();
            assert!(e.contains(why), "{realm}: {e}");
        }
        // Loopback: plain HTTP only when insecure is allowed, and only on loopback.
        let local = challenge("http://127.0.0.1:5001/oauth2/token");
        assert!(local.token_service("127.0.0.1:5000", true).is_ok());
        let e = local.token_service("127.0.0.1:5000", false).unwrap_err();
        assert!(e.to_string().contains("--registry-insecure"), "{e}");
        let named = challenge("http://127.evil.example/oauth2/token");
        assert!(named.token_service("127.evil.example", true).is_err());
    }
}
