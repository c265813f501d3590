//! A loopback stand-in for GitHub's release downloads: `GET /download/{tag}/{asset}`
//! answers 302 to `/assets/{tag}/{asset}` (as github.com redirects to its asset store),
//! which serves the bytes a test put there; 404 otherwise. Every request is recorded.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

#[derive(Clone, Default)]
struct Shared {
    assets: Arc<Mutex<HashMap<String, Vec<u8>>>>,
    hits: Arc<Mutex<Vec<String>>>,
}

pub struct ReleaseServer {
    /// Base URL: `{base}/{tag}/{asset}`.
    pub base: String,
    shared: Shared,
}

impl ReleaseServer {
    pub fn start() -> Self {
        let shared = Shared::default();
        let state = shared.clone();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let app = Router::new()
                    .route("/download/{tag}/{asset}", get(redirect))
                    .route("/assets/{tag}/{asset}", get(asset))
                    .with_state(state);
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                tx.send(listener.local_addr().unwrap()).unwrap();
                axum::serve(listener, app).await.unwrap();
            });
        });
        let addr = rx.recv().unwrap();
        ReleaseServer {
            base: format!("http://{addr}/download"),
            shared,
        }
    }

    pub fn put(&self, tag: &str, asset: &str, bytes: Vec<u8>) {
        self.shared
            .assets
            .lock()
            .unwrap()
            .insert(format!("{tag}/{asset}"), bytes);
    }

    pub fn hits(&self) -> Vec<String> {
        self.shared.hits.lock().unwrap().clone()
    }
}

async fn redirect(State(s): State<Shared>, Path((tag, asset)): Path<(String, String)>) -> Response {
    s.hits
        .lock()
        .unwrap()
        .push(format!("/download/{tag}/{asset}"));
    (
        StatusCode::FOUND,
        [(header::LOCATION, format!("/assets/{tag}/{asset}"))],
    )
        .into_response()
}

async fn asset(State(s): State<Shared>, Path((tag, asset)): Path<(String, String)>) -> Response {
    s.hits
        .lock()
        .unwrap()
        .push(format!("/assets/{tag}/{asset}"));
    match s.assets.lock().unwrap().get(&format!("{tag}/{asset}")) {
        Some(b) => (StatusCode::OK, b.clone()).into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}
