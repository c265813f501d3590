//! A loopback GitHub REST API with state: issue comments (ids, pagination through
//! `Link` headers, read-only tokens answered with 403 "Resource not accessible by
//! integration", secondary rate limits with `retry-after`), SARIF uploads (decoded,
//! gunzipped and validated against the SARIF 2.1.0 schema; processing states), and
//! deployments.
//!
//! Every request body is validated against the official OpenAPI description in
//! `shared/specs/github/`, and so is every comment the mock returns; a violation is
//! answered with 422 and recorded, and [`GitHubMock::assert_valid`] fails the test.

// Handlers answer errors as ready responses; their size does not matter in a mock.
#![allow(clippy::result_large_err)]

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::prelude::{BASE64_STANDARD, Engine as _};
use serde_json::{Value, json};

use super::spec::{Spec, spec};

const SPEC: &str = "github/api.github.com.2022-11-28.subset.json";

#[derive(Clone, Debug)]
pub struct StoredComment {
    pub id: u64,
    pub issue: u64,
    pub body: String,
    pub login: String,
}

#[derive(Clone, Debug)]
pub struct SarifUpload {
    pub id: String,
    pub commit_sha: String,
    pub git_ref: String,
    /// The decoded SARIF document.
    pub sarif: Value,
    pub polls: u32,
}

#[derive(Default)]
pub struct Inner {
    pub comments: BTreeMap<u64, StoredComment>,
    next_id: u64,
    /// Tokens that may read but not write.
    pub read_only_tokens: BTreeSet<String>,
    /// The next N writes are refused as a secondary rate limit (403 + retry-after: 1).
    pub secondary_limit_writes: u32,
    /// The next N requests of any kind get 429 + retry-after: 1.
    pub too_many_requests: u32,
    /// 403 on SARIF uploads (code scanning not enabled).
    pub code_scanning_disabled: bool,
    /// How many status polls answer `pending` before `complete`.
    pub sarif_pending_polls: u32,
    /// Processing fails with these errors.
    pub sarif_errors: Option<Vec<String>>,
    pub sarifs: Vec<SarifUpload>,
    pub deployments: Vec<Value>,
    pub deployment_statuses: Vec<(u64, Value)>,
    /// Method and path of every request, in order.
    pub log: Vec<String>,
    pub violations: Vec<String>,
    pub rate_limited: u32,
    /// Milliseconds each request is held, to let racing clients interleave.
    pub delay_ms: u64,
}

#[derive(Clone)]
pub struct GitHubMock {
    pub url: String,
    pub token: String,
    pub state: Arc<Mutex<Inner>>,
}

#[derive(Clone)]
struct App {
    url: String,
    token: String,
    state: Arc<Mutex<Inner>>,
    spec: Arc<Spec>,
}

impl GitHubMock {
    pub async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr: SocketAddr = listener.local_addr().unwrap();
        let url = format!("http://{addr}");
        let state = Arc::new(Mutex::new(Inner {
            next_id: 1000,
            ..Default::default()
        }));
        let app = App {
            url: url.clone(),
            token: "ghs_mocktoken".into(),
            state: state.clone(),
            spec: spec(SPEC),
        };
        let router = Router::new()
            .route(
                "/repos/{owner}/{repo}/issues/{issue}/comments",
                get(list_comments).post(create_comment),
            )
            .route("/user", get(authenticated_user))
            .route(
                "/repos/{owner}/{repo}/issues/comments/{id}",
                get(get_comment)
                    .patch(update_comment)
                    .delete(delete_comment),
            )
            .route(
                "/repos/{owner}/{repo}/code-scanning/sarifs",
                post(upload_sarif),
            )
            .route(
                "/repos/{owner}/{repo}/code-scanning/sarifs/{id}",
                get(sarif_status),
            )
            .route("/repos/{owner}/{repo}/deployments", post(create_deployment))
            .route(
                "/repos/{owner}/{repo}/deployments/{id}/statuses",
                post(create_deployment_status),
            )
            .layer(axum::middleware::from_fn_with_state(app.clone(), gate))
            .with_state(app.clone());
        tokio::spawn(async move {
            axum::serve(listener, router).await.unwrap();
        });
        GitHubMock {
            url,
            token: app.token,
            state,
        }
    }

    pub fn with<R>(&self, f: impl FnOnce(&mut Inner) -> R) -> R {
        f(&mut self.state.lock().unwrap())
    }

    /// A comment by someone else (or by us, with a marker).
    pub fn seed_comment(&self, issue: u64, body: &str, login: &str) -> u64 {
        self.with(|s| {
            s.next_id += 1;
            let id = s.next_id;
            s.comments.insert(
                id,
                StoredComment {
                    id,
                    issue,
                    body: body.into(),
                    login: login.into(),
                },
            );
            id
        })
    }

    pub fn comments_on(&self, issue: u64) -> Vec<StoredComment> {
        self.with(|s| {
            s.comments
                .values()
                .filter(|c| c.issue == issue)
                .cloned()
                .collect()
        })
    }

    /// Fails the test if any request did not match the official description.
    pub fn assert_valid(&self) {
        let v = self.with(|s| s.violations.clone());
        assert!(v.is_empty(), "requests violated the GitHub spec: {v:#?}");
    }
}

fn error(status: StatusCode, message: &str) -> Response {
    (
        status,
        axum::Json(json!({
            "message": message,
            "documentation_url": "https://docs.github.com/rest",
            "status": status.as_u16().to_string(),
        })),
    )
        .into_response()
}

/// Auth, rate limits, the request log and the artificial delay, for every route.
async fn gate(
    State(app): State<App>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let method = req.method().clone();
    let auth = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let token = auth
        .strip_prefix("Bearer ")
        .or_else(|| auth.strip_prefix("token "))
        .unwrap_or("")
        .to_string();
    let (delay, read_only, limited, too_many) = {
        let mut s = app.state.lock().unwrap();
        s.log.push(format!("{} {}", method, req.uri().path()));
        let read_only = s.read_only_tokens.contains(&token);
        let write = method != Method::GET;
        let limited = write && s.secondary_limit_writes > 0;
        if limited {
            s.secondary_limit_writes -= 1;
            s.rate_limited += 1;
        }
        let too_many = !limited && s.too_many_requests > 0;
        if too_many {
            s.too_many_requests -= 1;
            s.rate_limited += 1;
        }
        (s.delay_ms, read_only, limited, too_many)
    };
    if delay > 0 {
        tokio::time::sleep(std::time::Duration::from_millis(delay)).await;
    }
    if token != app.token && !read_only {
        return error(StatusCode::UNAUTHORIZED, "Bad credentials");
    }
    if limited {
        let mut r = error(
            StatusCode::FORBIDDEN,
            "You have exceeded a secondary rate limit. Please wait a few minutes before you try again.",
        );
        r.headers_mut().insert("retry-after", "1".parse().unwrap());
        return r;
    }
    if too_many {
        let mut r = error(StatusCode::TOO_MANY_REQUESTS, "API rate limit exceeded");
        r.headers_mut().insert("retry-after", "1".parse().unwrap());
        return r;
    }
    if read_only && method != Method::GET {
        return error(
            StatusCode::FORBIDDEN,
            "Resource not accessible by integration",
        );
    }
    next.run(req).await
}

impl App {
    fn check_request(&self, path: &str, method: &str, body: &Value) -> Result<(), Response> {
        let p = Spec::request_pointer(path, method);
        self.spec.check(&p, body).map_err(|e| {
            self.state.lock().unwrap().violations.push(e.clone());
            error(StatusCode::UNPROCESSABLE_ENTITY, &e)
        })
    }

    fn check_response(&self, pointer: &str, v: &Value) {
        if let Err(e) = self.spec.check(pointer, v) {
            self.state
                .lock()
                .unwrap()
                .violations
                .push(format!("mock response: {e}"));
        }
    }

    fn comment_json(&self, owner: &str, repo: &str, c: &StoredComment) -> Value {
        let u = &self.url;
        let login = &c.login;
        // As GitHub shows them: the Actions bot (app 15368), other apps' bots, people.
        let (user_id, node_id, kind, avatar) = match login.as_str() {
            "github-actions[bot]" => (
                41898282u64,
                "MDM6Qm90NDE4OTgyODI=".to_string(),
                "Bot",
                "https://avatars.githubusercontent.com/in/15368?v=4".to_string(),
            ),
            l if l.ends_with("[bot]") => (
                49699333,
                "MDM6Qm90NDk2OTkzMzM=".to_string(),
                "Bot",
                "https://avatars.githubusercontent.com/in/29110?v=4".to_string(),
            ),
            l => {
                let id = 1000 + l.bytes().map(u64::from).sum::<u64>();
                (
                    id,
                    format!("U_kgDO{id}"),
                    "User",
                    format!("https://avatars.githubusercontent.com/u/{id}?v=4"),
                )
            }
        };
        let v = json!({
            "id": c.id,
            "node_id": format!("IC_{}", c.id),
            "url": format!("{u}/repos/{owner}/{repo}/issues/comments/{}", c.id),
            "html_url": format!("https://github.com/{owner}/{repo}/pull/{}#issuecomment-{}", c.issue, c.id),
            "issue_url": format!("{u}/repos/{owner}/{repo}/issues/{}", c.issue),
            "body": c.body,
            "user": {
                "login": login, "id": user_id, "node_id": node_id,
                "avatar_url": avatar, "gravatar_id": "",
                "url": format!("{u}/users/{login}"), "html_url": format!("https://github.com/{login}"),
                "followers_url": format!("{u}/users/{login}/followers"),
                "following_url": format!("{u}/users/{login}/following{{/other_user}}"),
                "gists_url": format!("{u}/users/{login}/gists{{/gist_id}}"),
                "starred_url": format!("{u}/users/{login}/starred{{/owner}}{{/repo}}"),
                "subscriptions_url": format!("{u}/users/{login}/subscriptions"),
                "organizations_url": format!("{u}/users/{login}/orgs"),
                "repos_url": format!("{u}/users/{login}/repos"),
                "events_url": format!("{u}/users/{login}/events{{/privacy}}"),
                "received_events_url": format!("{u}/users/{login}/received_events"),
                "type": kind, "site_admin": false
            },
            "created_at": "2026-01-02T03:04:05Z",
            "updated_at": "2026-01-02T03:04:05Z",
            "author_association": "NONE",
        });
        self.check_response("#/components/schemas/issue-comment", &v);
        v
    }
}

fn parse_json(app: &App, body: &Bytes) -> Result<Value, Response> {
    serde_json::from_slice(body).map_err(|e| {
        app.state
            .lock()
            .unwrap()
            .violations
            .push(format!("body is not JSON: {e}"));
        error(StatusCode::BAD_REQUEST, "Problems parsing JSON")
    })
}

async fn list_comments(
    State(app): State<App>,
    Path((owner, repo, issue)): Path<(String, String, u64)>,
    Query(q): Query<BTreeMap<String, String>>,
    uri: Uri,
) -> Response {
    let per_page: usize = q
        .get("per_page")
        .and_then(|v| v.parse().ok())
        .unwrap_or(30)
        .clamp(1, 100);
    let page: usize = q
        .get("page")
        .and_then(|v| v.parse().ok())
        .unwrap_or(1)
        .max(1);
    let all: Vec<StoredComment> = app
        .state
        .lock()
        .unwrap()
        .comments
        .values()
        .filter(|c| c.issue == issue)
        .cloned()
        .collect();
    let last = all.len().div_ceil(per_page).max(1);
    let items: Vec<Value> = all
        .iter()
        .skip((page - 1) * per_page)
        .take(per_page)
        .map(|c| app.comment_json(&owner, &repo, c))
        .collect();
    let base = format!("{}{}", app.url, uri.path());
    let mut links = Vec::new();
    let link =
        |p: usize, rel: &str| format!("<{base}?per_page={per_page}&page={p}>; rel=\"{rel}\"");
    if page < last {
        links.push(link(page + 1, "next"));
        links.push(link(last, "last"));
    }
    if page > 1 {
        links.push(link(1, "first"));
        links.push(link(page - 1, "prev"));
    }
    let mut headers = HeaderMap::new();
    if !links.is_empty() {
        headers.insert("link", links.join(", ").parse().unwrap());
    }
    (headers, axum::Json(Value::Array(items))).into_response()
}

async fn create_comment(
    State(app): State<App>,
    Path((owner, repo, issue)): Path<(String, String, u64)>,
    body: Bytes,
) -> Response {
    let v = match parse_json(&app, &body) {
        Ok(v) => v,
        Err(r) => return r,
    };
    if let Err(r) = app.check_request(
        "/repos/{owner}/{repo}/issues/{issue_number}/comments",
        "post",
        &v,
    ) {
        return r;
    }
    let text = v["body"].as_str().unwrap_or("").to_string();
    if text.chars().count() > 65_536 {
        return error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Validation Failed: body is too long (maximum is 65536 characters)",
        );
    }
    let c = {
        let mut s = app.state.lock().unwrap();
        s.next_id += 1;
        let c = StoredComment {
            id: s.next_id,
            issue,
            body: text,
            login: "github-actions[bot]".into(),
        };
        s.comments.insert(c.id, c.clone());
        c
    };
    (
        StatusCode::CREATED,
        axum::Json(app.comment_json(&owner, &repo, &c)),
    )
        .into_response()
}

/// `GET /user` with an installation token (the Actions `GITHUB_TOKEN`): GitHub refuses
/// it, as it does for every integration.
async fn authenticated_user() -> Response {
    error(
        StatusCode::FORBIDDEN,
        "Resource not accessible by integration",
    )
}

async fn get_comment(
    State(app): State<App>,
    Path((owner, repo, id)): Path<(String, String, u64)>,
) -> Response {
    let c = app.state.lock().unwrap().comments.get(&id).cloned();
    match c {
        Some(c) => axum::Json(app.comment_json(&owner, &repo, &c)).into_response(),
        None => error(StatusCode::NOT_FOUND, "Not Found"),
    }
}

async fn update_comment(
    State(app): State<App>,
    Path((owner, repo, id)): Path<(String, String, u64)>,
    body: Bytes,
) -> Response {
    let v = match parse_json(&app, &body) {
        Ok(v) => v,
        Err(r) => return r,
    };
    if let Err(r) = app.check_request(
        "/repos/{owner}/{repo}/issues/comments/{comment_id}",
        "patch",
        &v,
    ) {
        return r;
    }
    let text = v["body"].as_str().unwrap_or("").to_string();
    if text.chars().count() > 65_536 {
        return error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Validation Failed: body is too long (maximum is 65536 characters)",
        );
    }
    let c = {
        let mut s = app.state.lock().unwrap();
        match s.comments.get_mut(&id) {
            Some(c) => {
                c.body = text;
                Some(c.clone())
            }
            None => None,
        }
    };
    match c {
        Some(c) => axum::Json(app.comment_json(&owner, &repo, &c)).into_response(),
        None => error(StatusCode::NOT_FOUND, "Not Found"),
    }
}

async fn delete_comment(
    State(app): State<App>,
    Path((_owner, _repo, id)): Path<(String, String, u64)>,
) -> Response {
    match app.state.lock().unwrap().comments.remove(&id) {
        Some(_) => StatusCode::NO_CONTENT.into_response(),
        None => error(StatusCode::NOT_FOUND, "Not Found"),
    }
}

async fn upload_sarif(
    State(app): State<App>,
    Path((owner, repo)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    let v = match parse_json(&app, &body) {
        Ok(v) => v,
        Err(r) => return r,
    };
    if let Err(r) = app.check_request("/repos/{owner}/{repo}/code-scanning/sarifs", "post", &v) {
        return r;
    }
    if app.state.lock().unwrap().code_scanning_disabled {
        return error(
            StatusCode::FORBIDDEN,
            "Advanced Security must be enabled for this repository to use code scanning.",
        );
    }
    let decoded = BASE64_STANDARD
        .decode(v["sarif"].as_str().unwrap_or(""))
        .map_err(|e| e.to_string())
        .and_then(|gz| {
            let mut out = Vec::new();
            flate2::read::GzDecoder::new(&gz[..])
                .read_to_end(&mut out)
                .map_err(|e| format!("not gzip: {e}"))?;
            serde_json::from_slice::<Value>(&out).map_err(|e| format!("not JSON: {e}"))
        });
    let sarif = match decoded {
        Ok(s) => s,
        Err(e) => {
            app.state
                .lock()
                .unwrap()
                .violations
                .push(format!("sarif field: {e}"));
            return error(StatusCode::BAD_REQUEST, &format!("Invalid SARIF: {e}"));
        }
    };
    if let Err(e) = spec("schemas/sarif-schema-2.1.0.json").check("#", &sarif) {
        app.state.lock().unwrap().violations.push(e.clone());
        return error(StatusCode::BAD_REQUEST, &e);
    }
    let id = uuid::Uuid::new_v4().to_string();
    app.state.lock().unwrap().sarifs.push(SarifUpload {
        id: id.clone(),
        commit_sha: v["commit_sha"].as_str().unwrap_or("").into(),
        git_ref: v["ref"].as_str().unwrap_or("").into(),
        sarif,
        polls: 0,
    });
    let receipt = json!({
        "id": id,
        "url": format!("{}/repos/{owner}/{repo}/code-scanning/sarifs/{id}", app.url),
    });
    app.check_response(
        "#/components/schemas/code-scanning-sarifs-receipt",
        &receipt,
    );
    (StatusCode::ACCEPTED, axum::Json(receipt)).into_response()
}

async fn sarif_status(
    State(app): State<App>,
    Path((owner, repo, id)): Path<(String, String, String)>,
) -> Response {
    let status = {
        let mut s = app.state.lock().unwrap();
        let pending = s.sarif_pending_polls;
        let errors = s.sarif_errors.clone();
        let Some(u) = s.sarifs.iter_mut().find(|u| u.id == id) else {
            return error(StatusCode::NOT_FOUND, "Not Found");
        };
        u.polls += 1;
        if u.polls <= pending {
            json!({"processing_status": "pending", "analyses_url": null, "errors": null})
        } else if let Some(errors) = errors {
            json!({"processing_status": "failed", "analyses_url": null, "errors": errors})
        } else {
            json!({
                "processing_status": "complete",
                "analyses_url": format!("{}/repos/{owner}/{repo}/code-scanning/analyses?sarif_id={id}", app.url),
                "errors": []
            })
        }
    };
    app.check_response("#/components/schemas/code-scanning-sarifs-status", &status);
    axum::Json(status).into_response()
}

async fn create_deployment(
    State(app): State<App>,
    Path((owner, repo)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    let v = match parse_json(&app, &body) {
        Ok(v) => v,
        Err(r) => return r,
    };
    if let Err(r) = app.check_request("/repos/{owner}/{repo}/deployments", "post", &v) {
        return r;
    }
    let id = {
        let mut s = app.state.lock().unwrap();
        s.deployments.push(v.clone());
        s.deployments.len() as u64
    };
    // The whole object, as GitHub answers (octocrab's typed route reads it).
    let u = &app.url;
    let deployment = json!({
        "url": format!("{u}/repos/{owner}/{repo}/deployments/{id}"),
        "id": id,
        "node_id": format!("DE_{id}"),
        "sha": "0123456789abcdef0123456789abcdef01234567",
        "ref": v["ref"],
        "task": v.get("task").cloned().unwrap_or_else(|| "deploy".into()),
        "payload": v.get("payload").cloned().unwrap_or_else(|| json!({})),
        "original_environment": v["environment"],
        "environment": v["environment"],
        "description": v["description"],
        "creator": null,
        "created_at": "2026-01-01T00:00:00Z",
        "updated_at": "2026-01-01T00:00:00Z",
        "statuses_url": format!("{u}/repos/{owner}/{repo}/deployments/{id}/statuses"),
        "repository_url": format!("{u}/repos/{owner}/{repo}"),
        "transient_environment": v["transient_environment"],
        "production_environment": false,
    });
    app.check_response("#/components/schemas/deployment", &deployment);
    (StatusCode::CREATED, axum::Json(deployment)).into_response()
}

async fn create_deployment_status(
    State(app): State<App>,
    Path((owner, repo, id)): Path<(String, String, u64)>,
    body: Bytes,
) -> Response {
    let v = match parse_json(&app, &body) {
        Ok(v) => v,
        Err(r) => return r,
    };
    if let Err(r) = app.check_request(
        "/repos/{owner}/{repo}/deployments/{deployment_id}/statuses",
        "post",
        &v,
    ) {
        return r;
    }
    app.state
        .lock()
        .unwrap()
        .deployment_statuses
        .push((id, v.clone()));
    let u = &app.url;
    let status = json!({
        "url": format!("{u}/repos/{owner}/{repo}/deployments/{id}/statuses/1"),
        "id": 1,
        "node_id": "DES_1",
        "state": v["state"],
        "creator": null,
        "description": v.get("description").cloned().unwrap_or_else(|| "".into()),
        "environment": v.get("environment").cloned().unwrap_or_else(|| "".into()),
        "target_url": "",
        "created_at": "2026-01-01T00:00:00Z",
        "updated_at": "2026-01-01T00:00:00Z",
        "deployment_url": format!("{u}/repos/{owner}/{repo}/deployments/{id}"),
        "repository_url": format!("{u}/repos/{owner}/{repo}"),
        "environment_url": v.get("environment_url").cloned().unwrap_or_else(|| "".into()),
        "log_url": v.get("log_url").cloned().unwrap_or_else(|| "".into()),
    });
    app.check_response("#/components/schemas/deployment-status", &status);
    (StatusCode::CREATED, axum::Json(status)).into_response()
}
