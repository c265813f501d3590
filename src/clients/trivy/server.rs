//! Trivy's client/server mode, for a scan of several images: one `trivy server` on a
//! loopback port opens the vulnerability DB once, and each image's `trivy image --server`
//! asks it. Pulls, layer analysis and secret scanning stay in the client (with the
//! registry credentials); the server only matches packages against the DB. Works offline
//! with the same cache dir and `--skip-db-update`.

use std::path::Path;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::{TrivyError, tail};
use crate::secret::Secret;

const PURPOSE: &str = "start the Trivy server";

/// A running `trivy server`, ended when dropped.
#[derive(Debug)]
pub struct Server {
    child: tokio::process::Child,
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    /// The token clients present (`TRIVY_TOKEN`, never argv): nobody else on the machine
    /// may use the server.
    pub token: Secret,
}

/// Starts `trivy server` with `args` (see `plan::scan::server_args`) on a free loopback
/// port and waits until it listens (after opening or downloading the DB), at most `timeout`.
pub async fn start(
    binary: &Path,
    args: &[String],
    timeout: Duration,
) -> Result<Server, TrivyError> {
    let spawn_err = |source| TrivyError::Spawn {
        path: binary.to_path_buf(),
        purpose: PURPOSE,
        source,
    };
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map_err(spawn_err)?
        .port();
    let listen = format!("127.0.0.1:{port}");
    let token = Secret::new(uuid::Uuid::new_v4().simple().to_string());
    let mut child = tokio::process::Command::new(binary)
        .args(args)
        .arg(format!("--listen={listen}"))
        .env("TRIVY_TOKEN", token.expose())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(spawn_err)?;
    // Its log is read to the end (so it never blocks on a full pipe), the last 16 KiB kept.
    let kept = Arc::new(Mutex::new(Vec::new()));
    if let Some(mut stderr) = child.stderr.take() {
        let kept = Arc::clone(&kept);
        tokio::spawn(async move {
            use tokio::io::AsyncReadExt;
            let mut buf = vec![0u8; 8 << 10];
            while let Ok(n @ 1..) = stderr.read(&mut buf).await {
                if let Ok(mut k) = kept.lock() {
                    k.extend_from_slice(buf.get(..n).unwrap_or_default());
                    let excess = k.len().saturating_sub(16 << 10);
                    k.drain(..excess);
                }
            }
        });
    }
    let said = || kept.lock().map(|k| tail(&k, 15)).unwrap_or_default();
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait().map_err(spawn_err)? {
            // Give the reader a moment to collect the last words.
            tokio::time::sleep(Duration::from_millis(100)).await;
            return Err(TrivyError::Failed {
                purpose: PURPOSE,
                code: status.code().unwrap_or(-1),
                tail: said(),
            });
        }
        if tokio::net::TcpStream::connect(&listen).await.is_ok() {
            return Ok(Server {
                child,
                url: format!("http://{listen}"),
                token,
            });
        }
        if Instant::now() >= deadline {
            let _ = child.kill().await;
            return Err(TrivyError::Timeout {
                purpose: PURPOSE,
                secs: timeout.as_secs(),
            });
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

impl Server {
    /// Ends the server now (dropping it does too).
    pub async fn stop(mut self) {
        let _ = self.child.kill().await;
    }
}
