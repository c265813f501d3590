//! A loopback HTTP server for fixed files (release archives, wheels), counting requests.
//! It runs on its own thread and runtime so the CLI under test can run its own.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::get;

pub struct FileServer {
    pub base: String,
    pub hits: Arc<AtomicUsize>,
    _shutdown: tokio::sync::oneshot::Sender<()>,
}

impl FileServer {
    /// Serves `files` (URL path without the leading `/` -> body); anything else is 404.
    pub fn start(files: Vec<(String, Vec<u8>)>) -> Self {
        let files: Arc<HashMap<String, Bytes>> = Arc::new(
            files
                .into_iter()
                .map(|(k, v)| (k, Bytes::from(v)))
                .collect(),
        );
        let hits = Arc::new(AtomicUsize::new(0));
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let state = (files, hits.clone());
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let app = Router::new()
                    .route("/{*path}", get(serve))
                    .with_state(state);
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                addr_tx.send(listener.local_addr().unwrap()).unwrap();
                axum::serve(listener, app)
                    .with_graceful_shutdown(async {
                        let _ = rx.await;
                    })
                    .await
                    .unwrap();
            });
        });
        let addr = addr_rx.recv().unwrap();
        FileServer {
            base: format!("http://{addr}"),
            hits,
            _shutdown: tx,
        }
    }

    pub fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

type St = (Arc<HashMap<String, Bytes>>, Arc<AtomicUsize>);

async fn serve(
    State((files, hits)): State<St>,
    Path(path): Path<String>,
) -> Result<Bytes, StatusCode> {
    hits.fetch_add(1, Ordering::SeqCst);
    files.get(&path).cloned().ok_or(StatusCode::NOT_FOUND)
}
