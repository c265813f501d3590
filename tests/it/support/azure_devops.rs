//! A loopback Azure DevOps Git API (7.1) with state: pull-request threads with ids,
//! properties and comments (soft-deleted like the real service), PR statuses, a 403
//! for identities without "Contribute to pull requests", and 429 + `Retry-After`.
//!
//! Request bodies are validated against `shared/specs/azure-devops/git.json` (the body
//! parameter's schema of each operation); the threads the mock returns are validated
//! against `GitPullRequestCommentThread`.

// Handlers answer errors as ready responses; their size does not matter in a mock.
#![allow(clippy::result_large_err)]

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, patch, post};
use serde_json::{Value, json};

use super::spec::{Spec, spec};

const SPEC: &str = "azure-devops/git.json";
const THREAD: &str = "#/definitions/GitPullRequestCommentThread";
const COMMENT: &str = "#/definitions/Comment";
const STATUS: &str = "#/definitions/GitPullRequestStatus";

/// The identity behind `SYSTEM_ACCESSTOKEN`: the project collection build service.
pub const BUILD_SERVICE_ID: &str = "8c5a2f7e-2d6b-4f3c-9a41-3e7d0f1b6c21";
/// Someone else on the project.
pub const COLLEAGUE_ID: &str = "0f5d7a3c-1111-4e2a-8b7c-9d0e1f2a3b4c";

#[derive(Default)]
pub struct Inner {
    /// Threads by id (the stored JSON as the service would return it).
    pub threads: BTreeMap<u64, Value>,
    pub statuses: Vec<Value>,
    next_id: u64,
    pub forbidden: bool,
    pub too_many_requests: u32,
    pub log: Vec<String>,
    pub violations: Vec<String>,
}

#[derive(Clone)]
pub struct AzureDevOpsMock {
    /// The collection URL (`SYSTEM_COLLECTIONURI`).
    pub url: String,
    pub token: String,
    pub state: Arc<Mutex<Inner>>,
}

#[derive(Clone)]
struct App {
    token: String,
    state: Arc<Mutex<Inner>>,
    spec: Arc<Spec>,
}

impl AzureDevOpsMock {
    pub async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr: SocketAddr = listener.local_addr().unwrap();
        let app = App {
            token: "ado-mock-token".into(),
            state: Arc::new(Mutex::new(Inner::default())),
            spec: spec(SPEC),
        };
        let base = "/{org}/{project}/_apis/git/repositories/{repo}/pullRequests/{pr}";
        let router = Router::new()
            .route("/{org}/_apis/connectionData", get(connection_data))
            .route(
                &format!("{base}/threads"),
                get(list_threads).post(create_thread),
            )
            .route(&format!("{base}/threads/{{thread}}"), patch(update_thread))
            .route(
                &format!("{base}/threads/{{thread}}/comments/{{comment}}"),
                patch(update_comment).delete(delete_comment),
            )
            .route(&format!("{base}/statuses"), post(create_status))
            .layer(axum::middleware::from_fn_with_state(app.clone(), gate))
            .with_state(app.clone());
        tokio::spawn(async move {
            axum::serve(listener, router).await.unwrap();
        });
        AzureDevOpsMock {
            url: format!("http://{addr}/org"),
            token: app.token,
            state: app.state,
        }
    }

    pub fn with<R>(&self, f: impl FnOnce(&mut Inner) -> R) -> R {
        f(&mut self.state.lock().unwrap())
    }

    /// Threads that are not deleted.
    pub fn live_threads(&self) -> Vec<Value> {
        self.with(|s| {
            s.threads
                .values()
                .filter(|t| t["isDeleted"] != json!(true))
                .cloned()
                .collect()
        })
    }

    /// A thread someone else started, with whatever content and properties they chose.
    pub fn seed_thread(&self, pr: u64, content: &str, properties: Value, author_id: &str) -> u64 {
        self.with(|s| {
            s.next_id += 1;
            let id = s.next_id;
            let t = json!({
                "id": id, "pullRequestId": pr,
                "publishedDate": "2026-01-02T03:04:05Z",
                "lastUpdatedDate": "2026-01-02T03:04:05Z",
                "status": "active", "isDeleted": false,
                "properties": properties,
                "comments": [{
                    "id": 1, "parentCommentId": 0, "content": content,
                    "commentType": "text", "isDeleted": false,
                    "author": author(author_id)
                }]
            });
            s.threads.insert(id, t);
            id
        })
    }

    pub fn assert_valid(&self) {
        let v = self.with(|s| s.violations.clone());
        assert!(
            v.is_empty(),
            "requests violated the Azure DevOps spec: {v:#?}"
        );
    }
}

fn error(status: StatusCode, message: &str) -> Response {
    (
        status,
        axum::Json(json!({
            "$id": "1", "innerException": null, "message": message,
            "typeName": "Microsoft.TeamFoundation.Git.Server.GitPullRequestNotFoundException",
            "typeKey": "GitPullRequestNotFoundException", "errorCode": 0, "eventId": 3000
        })),
    )
        .into_response()
}

/// An `IdentityRef` as the service returns it for a comment's author.
fn author(id: &str) -> Value {
    let name = if id == BUILD_SERVICE_ID {
        "Project Collection Build Service (org)"
    } else {
        "Mallory Example"
    };
    json!({
        "displayName": name,
        "id": id,
        "uniqueName": if id == BUILD_SERVICE_ID { format!("Build\\{id}") } else { "mallory@example.com".to_string() },
        "url": format!("https://spsprodweu5.vssps.visualstudio.com/A1/_apis/Identities/{id}"),
        "imageUrl": format!("https://dev.azure.com/org/_api/_common/identityImage?id={id}"),
        "descriptor": if id == BUILD_SERVICE_ID { format!("svc.{id}") } else { "aad.MDAwMDAwMDAtMDAwMC0wMDAwLTAwMDAtMDAwMDAwMDAwMDAw".to_string() }
    })
}

/// `GET {collection}/_apis/connectionData`: who the token is.
async fn connection_data() -> Response {
    axum::Json(json!({
        "authenticatedUser": {
            "id": BUILD_SERVICE_ID,
            "descriptor": format!("Microsoft.TeamFoundation.ServiceIdentity;{BUILD_SERVICE_ID}:Build:{BUILD_SERVICE_ID}"),
            "subjectDescriptor": format!("svc.{BUILD_SERVICE_ID}"),
            "providerDisplayName": "Project Collection Build Service (org)",
            "isActive": true,
            "properties": {"Account": {"$type": "System.String", "$value": "Build"}},
            "resourceVersion": 2,
            "metaTypeId": 255
        },
        "authorizedUser": {
            "id": BUILD_SERVICE_ID,
            "providerDisplayName": "Project Collection Build Service (org)",
            "isActive": true
        },
        "instanceId": "3f2e5a9c-0000-4000-8000-0000000000aa",
        "deploymentId": "3f2e5a9c-0000-4000-8000-0000000000bb",
        "deploymentType": "hosted",
        "locationServiceData": {"serviceOwner": "00025394-6065-48ca-87d9-7f5672854ef7", "defaultAccessMappingMoniker": "PublicAccessMapping", "lastChangeId": 1, "lastChangeId64": 1}
    }))
    .into_response()
}

async fn gate(
    State(app): State<App>,
    Query(q): Query<BTreeMap<String, String>>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let auth = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let (forbidden, too_many) = {
        let mut s = app.state.lock().unwrap();
        s.log.push(format!("{} {}", req.method(), req.uri().path()));
        // connectionData is a location-service resource: no api-version needed.
        let location = req.uri().path().ends_with("/_apis/connectionData");
        if !location && q.get("api-version").map(String::as_str) != Some("7.1") {
            s.violations
                .push(format!("{} without api-version=7.1", req.uri()));
        }
        let too_many = s.too_many_requests > 0;
        if too_many {
            s.too_many_requests -= 1;
        }
        (s.forbidden, too_many)
    };
    if auth != format!("Bearer {}", app.token) {
        return error(
            StatusCode::UNAUTHORIZED,
            "TF400813: The user is not authorized to access this resource.",
        );
    }
    if too_many {
        let mut r = error(
            StatusCode::TOO_MANY_REQUESTS,
            "Request was blocked due to exceeding usage of resource.",
        );
        r.headers_mut().insert("retry-after", "1".parse().unwrap());
        return r;
    }
    if forbidden && req.method() != axum::http::Method::GET {
        return error(
            StatusCode::FORBIDDEN,
            "TF401027: You need the Git 'PullRequestContribute' permission to perform this action.",
        );
    }
    next.run(req).await
}

impl App {
    fn check(&self, pointer: &str, v: &Value, what: &str) -> Result<(), Response> {
        self.spec.check(pointer, v).map_err(|e| {
            self.state
                .lock()
                .unwrap()
                .violations
                .push(format!("{what}: {e}"));
            error(StatusCode::BAD_REQUEST, &e)
        })
    }
    fn check_response(&self, pointer: &str, v: &Value) {
        let _ = self.check(pointer, v, "mock response");
    }
}

fn body_json(app: &App, body: &Bytes) -> Result<Value, Response> {
    serde_json::from_slice(body).map_err(|e| {
        app.state
            .lock()
            .unwrap()
            .violations
            .push(format!("body is not JSON: {e}"));
        error(StatusCode::BAD_REQUEST, "invalid JSON")
    })
}

/// Properties as the service returns them: `{name: {"$type", "$value"}}`.
fn store_properties(into: &mut Value, given: &Value) {
    if let Some(o) = given.as_object() {
        for (k, v) in o {
            let value = v.get("$value").cloned().unwrap_or_else(|| v.clone());
            into["properties"][k] = json!({"$type": "System.String", "$value": value});
        }
    }
}

async fn list_threads(
    State(app): State<App>,
    Path((_org, _project, _repo, pr)): Path<(String, String, String, u64)>,
) -> Response {
    let threads: Vec<Value> = app
        .state
        .lock()
        .unwrap()
        .threads
        .values()
        .filter(|t| t["pullRequestId"] == json!(pr))
        .map(|t| {
            let mut t = t.clone();
            t.as_object_mut().unwrap().remove("pullRequestId");
            t
        })
        .collect();
    for t in &threads {
        app.check_response(THREAD, t);
    }
    axum::Json(json!({"value": threads, "count": threads.len()})).into_response()
}

async fn create_thread(
    State(app): State<App>,
    Path((_org, _project, _repo, pr)): Path<(String, String, String, u64)>,
    body: Bytes,
) -> Response {
    let v = match body_json(&app, &body) {
        Ok(v) => v,
        Err(r) => return r,
    };
    if let Err(r) = app.check(THREAD, &v, "create thread") {
        return r;
    }
    let content = v["comments"][0]["content"].as_str().unwrap_or("");
    if content.chars().count() > 150_000 {
        return error(
            StatusCode::BAD_REQUEST,
            "A discussion comment cannot be longer than 150000 characters.",
        );
    }
    let mut s = app.state.lock().unwrap();
    s.next_id += 1;
    let id = s.next_id;
    let mut t = json!({
        "id": id,
        "pullRequestId": pr,
        "publishedDate": "2026-01-02T03:04:05Z",
        "lastUpdatedDate": "2026-01-02T03:04:05Z",
        "status": v["status"],
        "isDeleted": false,
        "properties": {},
        "comments": [{
            "id": 1, "parentCommentId": 0, "content": content,
            "commentType": "text", "isDeleted": false,
            "author": author(BUILD_SERVICE_ID)
        }]
    });
    store_properties(&mut t, &v["properties"]);
    s.threads.insert(id, t.clone());
    drop(s);
    t.as_object_mut().unwrap().remove("pullRequestId");
    app.check_response(THREAD, &t);
    axum::Json(t).into_response()
}

async fn update_thread(
    State(app): State<App>,
    Path((_org, _project, _repo, _pr, thread)): Path<(String, String, String, u64, u64)>,
    body: Bytes,
) -> Response {
    let v = match body_json(&app, &body) {
        Ok(v) => v,
        Err(r) => return r,
    };
    if let Err(r) = app.check(THREAD, &v, "update thread") {
        return r;
    }
    let mut s = app.state.lock().unwrap();
    let Some(t) = s.threads.get_mut(&thread) else {
        return error(StatusCode::NOT_FOUND, "thread not found");
    };
    if let Some(st) = v.get("status") {
        t["status"] = st.clone();
    }
    store_properties(t, &v["properties"]);
    let mut out = t.clone();
    out.as_object_mut().unwrap().remove("pullRequestId");
    axum::Json(out).into_response()
}

async fn update_comment(
    State(app): State<App>,
    Path((_org, _project, _repo, _pr, thread, comment)): Path<(
        String,
        String,
        String,
        u64,
        u64,
        u64,
    )>,
    body: Bytes,
) -> Response {
    let v = match body_json(&app, &body) {
        Ok(v) => v,
        Err(r) => return r,
    };
    if let Err(r) = app.check(COMMENT, &v, "update comment") {
        return r;
    }
    let content = v["content"].as_str().unwrap_or("");
    if content.chars().count() > 150_000 {
        return error(
            StatusCode::BAD_REQUEST,
            "A discussion comment cannot be longer than 150000 characters.",
        );
    }
    let mut s = app.state.lock().unwrap();
    let Some(c) = s
        .threads
        .get_mut(&thread)
        .and_then(|t| t["comments"].as_array_mut())
        .and_then(|cs| cs.iter_mut().find(|c| c["id"] == json!(comment)))
    else {
        return error(StatusCode::NOT_FOUND, "comment not found");
    };
    c["content"] = json!(content);
    let out = c.clone();
    drop(s);
    app.check_response(COMMENT, &out);
    axum::Json(out).into_response()
}

async fn delete_comment(
    State(app): State<App>,
    Path((_org, _project, _repo, _pr, thread, comment)): Path<(
        String,
        String,
        String,
        u64,
        u64,
        u64,
    )>,
) -> Response {
    let mut s = app.state.lock().unwrap();
    let Some(t) = s.threads.get_mut(&thread) else {
        return error(StatusCode::NOT_FOUND, "thread not found");
    };
    let Some(c) = t["comments"]
        .as_array_mut()
        .and_then(|cs| cs.iter_mut().find(|c| c["id"] == json!(comment)))
    else {
        return error(StatusCode::NOT_FOUND, "comment not found");
    };
    c["isDeleted"] = json!(true);
    // A thread whose every comment is deleted is deleted.
    if t["comments"]
        .as_array()
        .is_some_and(|cs| cs.iter().all(|c| c["isDeleted"] == json!(true)))
    {
        t["isDeleted"] = json!(true);
    }
    StatusCode::OK.into_response()
}

async fn create_status(
    State(app): State<App>,
    Path((_org, _project, _repo, _pr)): Path<(String, String, String, u64)>,
    body: Bytes,
) -> Response {
    let v = match body_json(&app, &body) {
        Ok(v) => v,
        Err(r) => return r,
    };
    if let Err(r) = app.check(STATUS, &v, "create status") {
        return r;
    }
    app.state.lock().unwrap().statuses.push(v.clone());
    axum::Json(v).into_response()
}
