//! Loopback Entra ID token endpoint, GitHub Actions and Azure DevOps OIDC providers, and
//! the instance metadata (managed identity) endpoint, sharing one [`TokenBook`] with the
//! ARM / Key Vault mock so those accept exactly the tokens issued here, until they expire.
//!
//! Requests are checked against `shared/specs/auth/auth-flows.md` (Entra form fields,
//! the GitHub `&audience=` request, the Azure DevOps `Oidctoken_Create` operation of
//! `azure-devops/task.json`). A request that does not match is answered 400 and
//! recorded; tests end with [`EntraMock::assert_valid`].

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use serde_json::{Value, json};

use super::spec::spec;

pub const TENANT: &str = "11111111-1111-1111-1111-111111111111";
pub const CLIENT_ID: &str = "22222222-2222-2222-2222-222222222222";
pub const GITHUB_ISSUER: &str = "https://token.actions.githubusercontent.com";
pub const GITHUB_SUBJECT: &str = "repo:octo/shop:ref:refs/heads/main";
pub const ADO_ISSUER: &str = "https://vstoken.dev.azure.com/33333333-3333-3333-3333-333333333333";
pub const ADO_SUBJECT: &str = "sc://octo/shop/shared-infra";
pub const SERVICE_CONNECTION: &str = "44444444-4444-4444-4444-444444444444";
pub const GITHUB_REQUEST_TOKEN: &str = "gh-request-token-5f1c";
pub const ADO_ACCESS_TOKEN: &str = "ado-system-access-token-9d2e";
pub const CLIENT_SECRET: &str = "client-secret-value-7a31";

/// Tokens issued by the Entra mock: token -> (scope, expiry).
#[derive(Default)]
pub struct TokenBook {
    tokens: Mutex<HashMap<String, (String, Instant)>>,
}

impl TokenBook {
    pub fn issue(&self, scope: &str, lifetime: Duration) -> String {
        let token = format!("eyJ0eXAi.mock-{}", uuid::Uuid::new_v4().simple());
        self.tokens.lock().unwrap().insert(
            token.clone(),
            (scope.to_string(), Instant::now() + lifetime),
        );
        token
    }

    /// A JWT-shaped token carrying `oid` (the signed-in identity's object ID), as Entra
    /// issues them; recorded like [`TokenBook::issue`]'s.
    pub fn issue_with_oid(&self, scope: &str, lifetime: Duration, oid: &str) -> String {
        let now = jiff::Timestamp::now().as_second();
        let exp = now + i64::try_from(lifetime.as_secs()).unwrap_or(3600);
        let claims = json!({"aud": scope.trim_end_matches("/.default"), "oid": oid, "tid": TENANT,
            "iss": format!("https://sts.windows.net/{TENANT}/"), "nbf": now - 60, "exp": exp,
            "uti": uuid::Uuid::new_v4().simple().to_string()});
        let token = format!(
            "{}.{}.c2lnbmF0dXJl",
            b64(&json!({"alg": "RS256", "typ": "JWT"})),
            b64(&claims)
        );
        self.tokens.lock().unwrap().insert(
            token.clone(),
            (scope.to_string(), Instant::now() + lifetime),
        );
        token
    }

    /// `Ok` when `bearer` was issued for `scope` and has not expired.
    pub fn check(&self, headers: &HeaderMap, scope: &str) -> Result<(), String> {
        let h = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .ok_or("no Authorization header")?;
        let t = h.strip_prefix("Bearer ").ok_or("not a Bearer token")?;
        let tokens = self.tokens.lock().unwrap();
        let (s, exp) = tokens.get(t).ok_or("unknown token")?;
        if s != scope {
            return Err(format!("token is for {s}, not {scope}"));
        }
        if Instant::now() >= *exp {
            return Err("token expired".into());
        }
        Ok(())
    }

    pub fn all_tokens(&self) -> Vec<String> {
        self.tokens.lock().unwrap().keys().cloned().collect()
    }
}

#[derive(Clone, Debug)]
pub struct EntraConfig {
    pub client_secret: Option<String>,
    /// Federated credentials of the app: (issuer, subject).
    pub federated: Vec<(String, String)>,
    /// `expires_in` of access tokens.
    pub token_lifetime: Duration,
    /// Lifetime of OIDC ID tokens minted by the GitHub/ADO mocks.
    pub oidc_lifetime: i64,
    /// How many of the first ID tokens are minted already expired.
    pub expired_oidc_first: u32,
    /// Access tokens carry this `oid` claim (the app's object ID) when set.
    pub object_id: Option<String>,
}

impl Default for EntraConfig {
    fn default() -> Self {
        EntraConfig {
            client_secret: Some(CLIENT_SECRET.into()),
            federated: vec![
                (GITHUB_ISSUER.into(), GITHUB_SUBJECT.into()),
                (ADO_ISSUER.into(), ADO_SUBJECT.into()),
            ],
            token_lifetime: Duration::from_secs(3599),
            oidc_lifetime: 300,
            expired_oidc_first: 0,
            object_id: None,
        }
    }
}

#[derive(Default, Clone, Copy, Debug)]
pub struct Counts {
    pub github_mints: u32,
    pub ado_mints: u32,
    pub token_requests: u32,
    pub imds_requests: u32,
}

pub struct EntraState {
    pub config: Mutex<EntraConfig>,
    pub book: Arc<TokenBook>,
    pub counts: Mutex<Counts>,
    /// Scopes asked for, in order.
    pub scopes: Mutex<Vec<String>>,
    /// Answers to give the token endpoint before the real one: (status, Retry-After).
    pub faults: Mutex<VecDeque<(u16, Option<u64>)>>,
    pub violations: Mutex<Vec<String>>,
}

pub struct EntraMock {
    pub url: String,
    pub state: Arc<EntraState>,
}

impl EntraMock {
    pub async fn start(config: EntraConfig, book: Arc<TokenBook>) -> EntraMock {
        let state = Arc::new(EntraState {
            config: Mutex::new(config),
            book,
            counts: Default::default(),
            scopes: Default::default(),
            faults: Default::default(),
            violations: Default::default(),
        });
        let app = axum::Router::new()
            .fallback(handle)
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let plain = listener.local_addr().unwrap().to_string();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        // Entra is reached over HTTPS only (azure_identity): the mock sits behind TLS.
        let url = super::tls::front(&plain).await;
        EntraMock { url, state }
    }

    /// `ACTIONS_ID_TOKEN_REQUEST_URL`: already carries a query string, as GitHub's does.
    pub fn github_request_url(&self) -> String {
        format!("{}/github/token?api-version=2.0", self.url)
    }

    /// `SYSTEM_OIDCREQUESTURI` up to `/oidctoken`.
    pub fn ado_request_uri(&self) -> String {
        format!(
            "{}/octo/55555555-5555-5555-5555-555555555555/_apis/distributedtask/hubs/build/plans/66666666-6666-6666-6666-666666666666/jobs/77777777-7777-7777-7777-777777777777/oidctoken",
            self.url
        )
    }

    pub fn counts(&self) -> Counts {
        *self.state.counts.lock().unwrap()
    }

    pub fn scopes(&self) -> Vec<String> {
        self.state.scopes.lock().unwrap().clone()
    }

    pub fn fail_next(&self, status: u16, retry_after: Option<u64>) {
        self.state
            .faults
            .lock()
            .unwrap()
            .push_back((status, retry_after));
    }

    pub fn configure(&self, f: impl FnOnce(&mut EntraConfig)) {
        f(&mut self.state.config.lock().unwrap());
    }

    pub fn assert_valid(&self) {
        let v = self.state.violations.lock().unwrap();
        assert!(v.is_empty(), "requests that broke the spec: {v:#?}");
    }
}

fn json_response(status: StatusCode, v: Value) -> Response {
    (
        status,
        [("content-type", "application/json")],
        v.to_string(),
    )
        .into_response()
}

fn violation(state: &EntraState, what: String) -> Response {
    state.violations.lock().unwrap().push(what.clone());
    json_response(
        StatusCode::BAD_REQUEST,
        json!({"error": "invalid_request", "error_description": format!("mock: {what}")}),
    )
}

fn query(uri: &Uri) -> Vec<(String, String)> {
    url::form_urlencoded::parse(uri.query().unwrap_or("").as_bytes())
        .into_owned()
        .collect()
}

fn b64(v: &Value) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
}

/// An unsigned-looking JWT with real claims (the Entra mock reads, not verifies, it).
pub fn jwt(iss: &str, sub: &str, aud: &str, lifetime: i64) -> String {
    let now = jiff::Timestamp::now().as_second();
    format!(
        "{}.{}.c2lnbmF0dXJl",
        b64(&json!({"alg": "RS256", "typ": "JWT", "kid": "mock"})),
        b64(
            &json!({"iss": iss, "sub": sub, "aud": aud, "iat": now - 5, "nbf": now - 5, "exp": now + lifetime, "jti": uuid::Uuid::new_v4().to_string()})
        )
    )
}

fn read_jwt(t: &str) -> Option<Value> {
    let p = t.split('.').nth(1)?;
    let b = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(p)
        .ok()?;
    serde_json::from_slice(&b).ok()
}

fn entra_error(status: StatusCode, error: &str, code: u32, msg: &str) -> Response {
    json_response(
        status,
        json!({
            "error": error,
            "error_description": format!("AADSTS{code}: {msg} Trace ID: 0000 Correlation ID: 0000 Timestamp: 2026-01-01 00:00:00Z"),
            "error_codes": [code],
            "timestamp": "2026-01-01 00:00:00Z",
            "trace_id": "00000000-0000-0000-0000-000000000000",
            "correlation_id": "00000000-0000-0000-0000-000000000000",
        }),
    )
}

async fn handle(
    State(state): State<Arc<EntraState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path().to_string();
    if method == Method::POST && path.ends_with("/oauth2/v2.0/token") {
        return token(&state, &path, &headers, &body);
    }
    if method == Method::GET && path == "/github/token" {
        return github(&state, &uri, &headers);
    }
    if method == Method::POST && path.ends_with("/oidctoken") {
        return ado(&state, &uri, &headers, &body);
    }
    if method == Method::GET && path == "/metadata/identity/oauth2/token" {
        return imds(&state, &uri, &headers);
    }
    violation(&state, format!("no such endpoint: {method} {path}"))
}

fn token(state: &EntraState, path: &str, headers: &HeaderMap, body: &[u8]) -> Response {
    state.counts.lock().unwrap().token_requests += 1;
    if let Some((status, retry)) = state.faults.lock().unwrap().pop_front() {
        let mut r = json_response(
            StatusCode::from_u16(status).unwrap(),
            json!({"error": "temporarily_unavailable", "error_description": "AADSTS50196: mock fault"}),
        );
        if let Some(s) = retry {
            r.headers_mut()
                .insert("retry-after", s.to_string().parse().unwrap());
        }
        return r;
    }
    let ct = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !ct.starts_with("application/x-www-form-urlencoded") {
        return violation(state, format!("token request content-type is {ct}"));
    }
    let form: HashMap<String, String> = url::form_urlencoded::parse(body).into_owned().collect();
    let tenant = path.trim_start_matches('/').split('/').next().unwrap_or("");
    let cfg = state.config.lock().unwrap().clone();
    for f in ["client_id", "scope", "grant_type"] {
        if !form.contains_key(f) {
            return violation(state, format!("token request without {f}"));
        }
    }
    if form["grant_type"] != "client_credentials" {
        return violation(state, format!("grant_type {}", form["grant_type"]));
    }
    if !form["scope"].ends_with("/.default") {
        return violation(
            state,
            format!("scope {} is not <resource>/.default", form["scope"]),
        );
    }
    let allowed = [
        "client_id",
        "scope",
        "grant_type",
        "client_assertion_type",
        "client_assertion",
        "client_secret",
    ];
    if let Some(k) = form.keys().find(|k| !allowed.contains(&k.as_str())) {
        return violation(state, format!("unexpected form field {k}"));
    }
    if tenant != TENANT {
        return entra_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            90002,
            &format!("Tenant '{tenant}' not found."),
        );
    }
    if form["client_id"] != CLIENT_ID {
        return entra_error(
            StatusCode::BAD_REQUEST,
            "unauthorized_client",
            700016,
            &format!(
                "Application with identifier '{}' was not found in the directory.",
                form["client_id"]
            ),
        );
    }
    match (form.get("client_assertion"), form.get("client_secret")) {
        (Some(a), None) => {
            if form.get("client_assertion_type").map(String::as_str)
                != Some("urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
            {
                return violation(state, "client_assertion_type is not jwt-bearer".into());
            }
            let Some(claims) = read_jwt(a) else {
                return entra_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_client",
                    50027,
                    "JWT token is invalid or malformed.",
                );
            };
            let s = |k: &str| claims[k].as_str().unwrap_or("").to_string();
            if claims["exp"].as_i64().unwrap_or(0) <= jiff::Timestamp::now().as_second() {
                return entra_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_client",
                    700024,
                    "Client assertion is not within its valid time range.",
                );
            }
            if s("aud") != "api://AzureADTokenExchange" {
                return entra_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_client",
                    700212,
                    "No matching federated identity record found for presented assertion audience.",
                );
            }
            if !cfg
                .federated
                .iter()
                .any(|(i, sub)| *i == s("iss") && *sub == s("sub"))
            {
                return entra_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_client",
                    70021,
                    &format!(
                        "No matching federated identity record found for presented assertion. Assertion Issuer: '{}'. Assertion Subject: '{}'. Assertion Audience: '{}'.",
                        s("iss"),
                        s("sub"),
                        s("aud")
                    ),
                );
            }
        }
        (None, Some(secret)) => {
            if form.contains_key("client_assertion_type") {
                return violation(
                    state,
                    "client_assertion_type without client_assertion".into(),
                );
            }
            if cfg.client_secret.as_deref() != Some(secret.as_str()) {
                return entra_error(
                    StatusCode::UNAUTHORIZED,
                    "invalid_client",
                    7000215,
                    "Invalid client secret provided.",
                );
            }
        }
        _ => {
            return violation(
                state,
                "exactly one of client_assertion / client_secret".into(),
            );
        }
    }
    state.scopes.lock().unwrap().push(form["scope"].clone());
    let access_token = match &cfg.object_id {
        Some(oid) => state
            .book
            .issue_with_oid(&form["scope"], cfg.token_lifetime, oid),
        None => state.book.issue(&form["scope"], cfg.token_lifetime),
    };
    json_response(
        StatusCode::OK,
        json!({"token_type": "Bearer", "expires_in": cfg.token_lifetime.as_secs(), "ext_expires_in": cfg.token_lifetime.as_secs(), "access_token": access_token}),
    )
}

fn mint_lifetime(state: &EntraState) -> i64 {
    let mut cfg = state.config.lock().unwrap();
    if cfg.expired_oidc_first > 0 {
        cfg.expired_oidc_first -= 1;
        -30
    } else {
        cfg.oidc_lifetime
    }
}

fn github(state: &EntraState, uri: &Uri, headers: &HeaderMap) -> Response {
    let q = query(uri);
    if !q.iter().any(|(k, v)| k == "api-version" && v == "2.0") {
        return violation(
            state,
            "the request URL's own query was lost (append with &)".into(),
        );
    }
    let Some(aud) = q
        .iter()
        .find(|(k, _)| k == "audience")
        .map(|(_, v)| v.clone())
    else {
        return violation(state, "GitHub OIDC request without audience".into());
    };
    let auth = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !auth.eq_ignore_ascii_case(&format!("bearer {GITHUB_REQUEST_TOKEN}")) {
        return json_response(
            StatusCode::UNAUTHORIZED,
            json!({"message": "Bad credentials"}),
        );
    }
    state.counts.lock().unwrap().github_mints += 1;
    let lifetime = mint_lifetime(state);
    json_response(
        StatusCode::OK,
        json!({"value": jwt(GITHUB_ISSUER, GITHUB_SUBJECT, &aud, lifetime), "count": 1}),
    )
}

fn ado(state: &EntraState, uri: &Uri, headers: &HeaderMap, body: &[u8]) -> Response {
    // Oidctoken_Create: path parameters, query, body schema, response schema.
    let parts: Vec<&str> = uri.path().trim_start_matches('/').split('/').collect();
    let shape = parts.len() == 11
        && parts[2] == "_apis"
        && parts[3] == "distributedtask"
        && parts[4] == "hubs"
        && parts[6] == "plans"
        && parts[8] == "jobs";
    if !shape {
        return violation(
            state,
            format!("not an Oidctoken_Create path: {}", uri.path()),
        );
    }
    for (i, name) in [(1, "scopeIdentifier"), (7, "planId"), (9, "jobId")] {
        if uuid::Uuid::parse_str(parts[i]).is_err() {
            return violation(state, format!("{name} is not a uuid"));
        }
    }
    let q = query(uri);
    let api = q
        .iter()
        .find(|(k, _)| k == "api-version")
        .map(|(_, v)| v.as_str());
    if api != Some("7.1-preview.1") {
        return violation(
            state,
            format!("api-version {api:?}, the operation is 7.1-preview.1"),
        );
    }
    if let Some((_, id)) = q.iter().find(|(k, _)| k == "serviceConnectionId")
        && uuid::Uuid::parse_str(id).is_err()
    {
        return violation(state, "serviceConnectionId is not a uuid".into());
    }
    let task = spec("azure-devops/task.json");
    let body: Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(e) => return violation(state, format!("body is not JSON: {e}")),
    };
    let body_schema = "#/paths/~1%7Borganization%7D~1%7BscopeIdentifier%7D~1_apis~1distributedtask~1hubs~1%7BhubName%7D~1plans~1%7BplanId%7D~1jobs~1%7BjobId%7D~1oidctoken/post/parameters/1/schema";
    if let Err(e) = task.check(body_schema, &body) {
        return violation(state, e);
    }
    let auth = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if auth != format!("Bearer {ADO_ACCESS_TOKEN}") {
        return json_response(
            StatusCode::UNAUTHORIZED,
            json!({"message": "TF400813: The user is not authorized to access this resource."}),
        );
    }
    state.counts.lock().unwrap().ado_mints += 1;
    let lifetime = mint_lifetime(state);
    let resp =
        json!({"oidcToken": jwt(ADO_ISSUER, ADO_SUBJECT, "api://AzureADTokenExchange", lifetime)});
    if let Err(e) = task.check("#/definitions/TaskHubOidcToken", &resp) {
        return violation(state, e);
    }
    json_response(StatusCode::OK, resp)
}

fn imds(state: &EntraState, uri: &Uri, headers: &HeaderMap) -> Response {
    state.counts.lock().unwrap().imds_requests += 1;
    if headers.get("metadata").and_then(|v| v.to_str().ok()) != Some("true") {
        return json_response(
            StatusCode::BAD_REQUEST,
            json!({"error": "invalid_request", "error_description": "Required metadata header not specified"}),
        );
    }
    let q = query(uri);
    if !q
        .iter()
        .any(|(k, v)| k == "api-version" && v == "2018-02-01")
    {
        return violation(state, "IMDS api-version".into());
    }
    let Some(resource) = q
        .iter()
        .find(|(k, _)| k == "resource")
        .map(|(_, v)| v.clone())
    else {
        return violation(state, "IMDS request without resource".into());
    };
    let scope = format!("{}/.default", resource.trim_end_matches('/'));
    state.scopes.lock().unwrap().push(scope.clone());
    let lifetime = state.config.lock().unwrap().token_lifetime;
    let token = state.book.issue(&scope, lifetime);
    json_response(
        StatusCode::OK,
        json!({"access_token": token, "expires_in": lifetime.as_secs().to_string(), "resource": resource, "token_type": "Bearer"}),
    )
}
