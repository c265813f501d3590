//! A loopback ACR-like token service (`/oauth2/exchange`, `/oauth2/token`) whose tokens
//! the real `docker-registry` verifies (`auth: token:` with `rootcertbundle`).
//!
//! Keys and the certificate are generated per run (rcgen, ECDSA P-256); access tokens
//! are ES256 JWTs with an `x5c` header holding the self-signed certificate, which
//! distribution 2.8 verifies against the bundle. Every form body is checked against the
//! ACR data-plane spec (wire names per AAD-OAuth.md mapped to the spec's camelCase
//! schema), every JSON answer against `AcrRefreshToken` / `AcrAccessToken`. State is
//! real: refresh tokens are remembered per principal, and only principals granted
//! AcrPush get `push` in their access tokens.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use base64::Engine;
use serde_json::{Value, json};

use super::spec::spec;

const SPEC: &str = "azure-containerregistry/containerregistry.subset.json";
pub const ISSUER: &str = "acr-test-token-service";

#[derive(Default)]
pub struct Log {
    /// Every validation failure (the test asserts there are none).
    pub violations: Vec<String>,
    pub exchanges: u32,
    /// `(grant, scope)` of every access token issued.
    pub tokens: Vec<(String, String)>,
}

type TokenHook = Box<dyn FnMut(&str) + Send>;

struct Inner {
    service: String,
    tenant: String,
    push_principals: HashSet<String>,
    key: jsonwebtoken::EncodingKey,
    x5c: String,
    refresh: Mutex<HashMap<String, String>>,
    log: Arc<Mutex<Log>>,
    /// Called with the scope of each access token issued (lets a test act mid-push).
    on_token: Mutex<Option<TokenHook>>,
}

pub struct TokenService {
    pub url: String,
    pub cert_pem: String,
    pub log: Arc<Mutex<Log>>,
    inner: Arc<Inner>,
    _task: tokio::task::JoinHandle<()>,
}

impl TokenService {
    /// `service`: the registry's name (`127.0.0.1:PORT`); `tenant`: the Entra tenant
    /// whose tokens are accepted; `push_principals`: object IDs holding AcrPush.
    pub async fn start(service: &str, tenant: &str, push_principals: &[&str]) -> TokenService {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params =
            rcgen::CertificateParams::new(vec!["acr-test-token-service".into()]).unwrap();
        params.not_before = rcgen::date_time_ymd(2020, 1, 1);
        params.not_after = rcgen::date_time_ymd(2090, 1, 1);
        let cert = params.self_signed(&key).unwrap();
        let x5c = base64::engine::general_purpose::STANDARD.encode(cert.der());
        let log = Arc::new(Mutex::new(Log::default()));
        let inner = Arc::new(Inner {
            service: service.to_string(),
            tenant: tenant.to_string(),
            push_principals: push_principals.iter().map(|s| s.to_string()).collect(),
            key: jsonwebtoken::EncodingKey::from_ec_pem(key.serialize_pem().as_bytes()).unwrap(),
            x5c,
            refresh: Mutex::new(HashMap::new()),
            log: log.clone(),
            on_token: Mutex::new(None),
        });
        let app = axum::Router::new()
            .route("/oauth2/exchange", post(exchange))
            .route("/oauth2/token", post(token_post).get(token_get))
            .with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        TokenService {
            url,
            cert_pem: cert.pem(),
            log,
            inner,
            _task: task,
        }
    }

    pub fn on_token(&self, f: impl FnMut(&str) + Send + 'static) {
        *self.inner.on_token.lock().unwrap() = Some(Box::new(f));
    }

    pub fn violations(&self) -> Vec<String> {
        self.log.lock().unwrap().violations.clone()
    }
}

/// A fake Entra access token: unsigned claims are all the service reads (like ACR, it
/// would ask Entra/ARM; here the claims are the test's statement of who signs in).
pub fn entra_token(tenant: &str, oid: &str) -> String {
    let e = |v: &Value| {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(serde_json::to_vec(v).unwrap())
    };
    let now = jiff::Timestamp::now().as_second();
    format!(
        "{}.{}.c2ln",
        e(&json!({"alg": "RS256", "typ": "JWT", "kid": "test"})),
        e(
            &json!({"aud": "https://containerregistry.azure.net", "tid": tenant, "oid": oid,
                  "iss": format!("https://sts.windows.net/{tenant}/"), "exp": now + 3600, "nbf": now - 60})
        )
    )
}

fn claims(jwt: &str) -> Option<Value> {
    let p = jwt.split('.').nth(1)?;
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(p.trim_end_matches('='))
            .ok()?,
    )
    .ok()
}

fn error(status: StatusCode, code: &str, msg: &str) -> Response {
    (
        status,
        axum::Json(json!({"errors": [{"code": code, "message": msg}]})),
    )
        .into_response()
}

fn parse_form(headers: &HeaderMap, body: &str) -> Result<Vec<(String, String)>, String> {
    let ct = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !ct.starts_with("application/x-www-form-urlencoded") {
        return Err(format!(
            "content-type `{ct}`, want application/x-www-form-urlencoded"
        ));
    }
    Ok(url::form_urlencoded::parse(body.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect())
}

/// Validates wire fields against the spec's form schema (camelCase names).
fn check_form(
    inner: &Inner,
    form: &[(String, String)],
    definition: &str,
    renames: &[(&str, &str)],
    allowed_extra: &[&str],
) -> Result<BTreeMap<String, String>, String> {
    let mut wire = BTreeMap::new();
    let mut obj = serde_json::Map::new();
    for (k, v) in form {
        if k == "scope" && wire.contains_key("scope") {
            // scope may repeat; keep the first for the schema, all for the caller.
            let prev: &mut String = wire.get_mut("scope").unwrap();
            prev.push(' ');
            prev.push_str(v);
            continue;
        }
        wire.insert(k.clone(), v.clone());
        if allowed_extra.contains(&k.as_str()) {
            continue;
        }
        let Some((_, camel)) = renames.iter().find(|(w, _)| w == k) else {
            return Err(format!("unknown form field `{k}`"));
        };
        obj.insert(camel.to_string(), Value::String(v.clone()));
    }
    let r = spec(SPEC).check(&format!("#/definitions/{definition}"), &Value::Object(obj));
    if let Err(e) = r {
        inner.log.lock().unwrap().violations.push(e.clone());
        return Err(e);
    }
    Ok(wire)
}

fn sign(inner: &Inner, claims: &Value) -> String {
    let mut h = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
    h.x5c = Some(vec![inner.x5c.clone()]);
    jsonwebtoken::encode(&h, claims, &inner.key).unwrap()
}

fn respond(inner: &Inner, definition: &str, body: Value) -> Response {
    if let Err(e) = spec(SPEC).check(&format!("#/definitions/{definition}"), &body) {
        inner.log.lock().unwrap().violations.push(e);
    }
    axum::Json(body).into_response()
}

async fn exchange(State(inner): State<Arc<Inner>>, headers: HeaderMap, body: String) -> Response {
    let form = match parse_form(&headers, &body).and_then(|f| {
        check_form(
            &inner,
            &f,
            "Paths108HwamOauth2ExchangePostRequestbodyContentApplicationXWwwFormUrlencodedSchema",
            &[
                ("grant_type", "grantType"),
                ("service", "service"),
                ("tenant", "tenant"),
                ("access_token", "accessToken"),
                ("refresh_token", "acrRefreshToken"),
            ],
            &[],
        )
    }) {
        Ok(f) => f,
        Err(e) => return error(StatusCode::BAD_REQUEST, "BAD_REQUEST", &e),
    };
    inner.log.lock().unwrap().exchanges += 1;
    if form.get("grant_type").map(String::as_str) != Some("access_token") {
        return error(
            StatusCode::BAD_REQUEST,
            "UNSUPPORTED",
            "grant_type must be access_token",
        );
    }
    if form.get("service") != Some(&inner.service) {
        return error(
            StatusCode::BAD_REQUEST,
            "SERVICE",
            "service is not this registry",
        );
    }
    let Some(c) = form.get("access_token").and_then(|t| claims(t)) else {
        return error(
            StatusCode::UNAUTHORIZED,
            "UNAUTHORIZED",
            "access_token is not a JWT",
        );
    };
    let tid = c.get("tid").and_then(|v| v.as_str()).unwrap_or("");
    if tid != inner.tenant || form.get("tenant").is_some_and(|t| t != tid) {
        return error(
            StatusCode::UNAUTHORIZED,
            "UNAUTHORIZED",
            "the token's tenant is not the registry's tenant",
        );
    }
    if c.get("exp").and_then(|v| v.as_i64()).unwrap_or(0) < jiff::Timestamp::now().as_second() {
        return error(
            StatusCode::UNAUTHORIZED,
            "UNAUTHORIZED",
            "the Entra token expired",
        );
    }
    let oid = c
        .get("oid")
        .and_then(|v| v.as_str())
        .unwrap_or("")
        .to_string();
    let now = jiff::Timestamp::now().as_second();
    let rt = sign(
        &inner,
        &json!({"jti": uuid::Uuid::new_v4().to_string(), "sub": oid, "nbf": now - 5, "exp": now + 3 * 3600,
                "iat": now, "iss": ISSUER, "aud": inner.service, "version": "1.0",
                "grant_type": "refresh_token", "tenant": tid}),
    );
    inner.refresh.lock().unwrap().insert(rt.clone(), oid);
    respond(&inner, "AcrRefreshToken", json!({"refresh_token": rt}))
}

fn issue(inner: &Inner, refresh_token: &str, service: &str, scopes: &str, grant: &str) -> Response {
    if service != inner.service {
        return error(
            StatusCode::BAD_REQUEST,
            "SERVICE",
            "service is not this registry",
        );
    }
    let Some(oid) = inner.refresh.lock().unwrap().get(refresh_token).cloned() else {
        return error(
            StatusCode::UNAUTHORIZED,
            "UNAUTHORIZED",
            "unknown refresh token",
        );
    };
    let can_push = inner.push_principals.contains(&oid);
    let mut access = Vec::new();
    for scope in scopes.split(' ').filter(|s| !s.is_empty()) {
        let mut parts = scope.splitn(3, ':');
        let (Some(ty), Some(name), Some(actions)) = (parts.next(), parts.next(), parts.next())
        else {
            continue;
        };
        let granted: Vec<&str> = actions
            .split(',')
            .filter(|a| *a == "pull" || (can_push && (*a == "push" || *a == "*")))
            .collect();
        access.push(json!({"type": ty, "name": name, "actions": granted}));
    }
    {
        inner
            .log
            .lock()
            .unwrap()
            .tokens
            .push((grant.to_string(), scopes.to_string()));
    }
    if let Some(f) = inner.on_token.lock().unwrap().as_mut() {
        f(scopes);
    }
    let now = jiff::Timestamp::now().as_second();
    let at = sign(
        inner,
        &json!({"jti": uuid::Uuid::new_v4().to_string(), "sub": oid, "nbf": now - 5, "exp": now + 3600,
                "iat": now, "iss": ISSUER, "aud": inner.service, "version": "1.0",
                "access": access, "grant_type": grant}),
    );
    respond(inner, "AcrAccessToken", json!({"access_token": at}))
}

async fn token_post(State(inner): State<Arc<Inner>>, headers: HeaderMap, body: String) -> Response {
    let form = match parse_form(&headers, &body).and_then(|f| {
        check_form(
            &inner,
            &f,
            "PathsV3R3RxOauth2TokenPostRequestbodyContentApplicationXWwwFormUrlencodedSchema",
            &[
                ("grant_type", "grantType"),
                ("service", "service"),
                ("scope", "scope"),
                ("refresh_token", "refreshToken"),
            ],
            // The Docker engine's OAuth client adds these (distribution's token handler).
            &["client_id", "access_type"],
        )
    }) {
        Ok(f) => f,
        Err(e) => return error(StatusCode::BAD_REQUEST, "BAD_REQUEST", &e),
    };
    let g = |k: &str| form.get(k).cloned().unwrap_or_default();
    issue(
        &inner,
        &g("refresh_token"),
        &g("service"),
        &g("scope"),
        "refresh_token",
    )
}

async fn token_get(
    State(inner): State<Arc<Inner>>,
    headers: HeaderMap,
    Query(q): Query<Vec<(String, String)>>,
) -> Response {
    // GET /oauth2/token: query `service` and `scope` required (spec), Basic auth with
    // the null-GUID user and the ACR refresh token as the password.
    let service = q
        .iter()
        .find(|(k, _)| k == "service")
        .map(|(_, v)| v.clone());
    let scopes: Vec<String> = q
        .iter()
        .filter(|(k, _)| k == "scope")
        .map(|(_, v)| v.clone())
        .collect();
    let params = spec(SPEC).doc()["paths"]["/oauth2/token"]["get"]["parameters"].clone();
    for p in params.as_array().unwrap() {
        let (Some(name), Some(true)) = (p["name"].as_str(), p["required"].as_bool()) else {
            continue;
        };
        if p["in"] == "query" && !q.iter().any(|(k, _)| k == name) {
            inner
                .log
                .lock()
                .unwrap()
                .violations
                .push(format!("GET /oauth2/token without required query `{name}`"));
            return error(
                StatusCode::BAD_REQUEST,
                "BAD_REQUEST",
                &format!("missing {name}"),
            );
        }
    }
    let basic = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
        .and_then(|b| String::from_utf8(b).ok());
    let Some((user, password)) = basic.as_deref().and_then(|b| b.split_once(':')) else {
        return error(
            StatusCode::UNAUTHORIZED,
            "UNAUTHORIZED",
            "credentials required",
        );
    };
    if user != "00000000-0000-0000-0000-000000000000" {
        return error(
            StatusCode::UNAUTHORIZED,
            "UNAUTHORIZED",
            "only refresh tokens (null-GUID user) are accepted",
        );
    }
    issue(
        &inner,
        password,
        &service.unwrap_or_default(),
        &scopes.join(" "),
        "password",
    )
}
