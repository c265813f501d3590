//! A bare HTTP/1.1 connection to the engine for the two BuildKit calls bollard cannot make
//! for us: the `/session` upgrade (bollard keeps its upgrade helper crate-private) and
//! `/build?version=2` with our own session (bollard's BuildKit path opens its own session,
//! which serves no secrets). Everything else still goes through bollard.

use std::path::PathBuf;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Where the engine listens (from `DOCKER_HOST` or the default socket).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EngineAddr {
    Unix(PathBuf),
    /// `host:port`
    Tcp(String),
    /// `host:port` over TLS (`DOCKER_TLS_VERIFY`).
    Tls(String, crate::clients::docker::tls::Tls),
}

impl EngineAddr {
    /// `unix:///p`, `/p`, `tcp://h:p`, `http://h:p`; `None` for other schemes.
    pub fn parse(docker_host: &str) -> Option<EngineAddr> {
        if let Some(p) = docker_host.strip_prefix("unix://") {
            return Some(EngineAddr::Unix(PathBuf::from(p)));
        }
        if docker_host.starts_with('/') {
            return Some(EngineAddr::Unix(PathBuf::from(docker_host)));
        }
        let rest = docker_host
            .strip_prefix("tcp://")
            .or_else(|| docker_host.strip_prefix("http://"))
            .or_else(|| docker_host.strip_prefix("https://"))?;
        let hostport = rest.trim_end_matches('/');
        (!hostport.is_empty()).then(|| EngineAddr::Tcp(hostport.to_string()))
    }
}

/// Anything that reads and writes bytes (a Unix or TCP stream, an upgraded connection).
pub trait Duplex: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Duplex for T {}

/// A connection as hyper and tonic take it: delegates reads and writes to `T`, and is a
/// tonic incoming connection (the session serves gRPC on the upgraded `/session`).
pub struct Io<T>(pub T);

impl<T: AsyncRead + Unpin> AsyncRead for Io<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Io<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().0).poll_write(cx, buf)
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_flush(cx)
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_shutdown(cx)
    }
}

impl<T> tonic::transport::server::Connected for Io<T> {
    type ConnectInfo = ();
    fn connect_info(&self) {}
}

pub async fn dial(addr: &EngineAddr) -> std::io::Result<Io<Box<dyn Duplex>>> {
    Ok(Io(match addr {
        EngineAddr::Unix(p) => Box::new(tokio::net::UnixStream::connect(p).await?),
        EngineAddr::Tcp(h) => Box::new(tokio::net::TcpStream::connect(h).await?),
        EngineAddr::Tls(h, tls) => {
            let tcp = tokio::net::TcpStream::connect(h).await?;
            let host = h
                .rsplit_once(':')
                .map_or(h.as_str(), |(host, _)| host)
                .trim_start_matches('[')
                .trim_end_matches(']');
            let name = rustls::pki_types::ServerName::try_from(host.to_string())
                .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
            let connector = tokio_rustls::TlsConnector::from(tls.config.clone());
            Box::new(connector.connect(name, tcp).await?)
        }
    }))
}

pub type Body = http_body_util::combinators::BoxBody<Bytes, std::io::Error>;

/// Sends one request on a fresh connection (kept alive for upgrades).
pub async fn send(
    addr: &EngineAddr,
    req: hyper::Request<Body>,
) -> Result<hyper::Response<Incoming>, String> {
    let io = dial(addr).await.map_err(|e| e.to_string())?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(io))
        .await
        .map_err(|e| e.to_string())?;
    tokio::spawn(async move {
        let _ = conn.with_upgrades().await;
    });
    sender.send_request(req).await.map_err(|e| e.to_string())
}

/// The whole (small) body of an error answer, as text.
pub async fn body_text(resp: hyper::Response<Incoming>) -> String {
    match resp.into_body().collect().await {
        Ok(b) => String::from_utf8_lossy(&b.to_bytes()).trim().to_string(),
        Err(e) => e.to_string(),
    }
}

/// An engine error body `{"message": "..."}` as its message.
pub fn engine_message(body: &str) -> String {
    serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .and_then(|v| {
            v.get("message")
                .and_then(serde_json::Value::as_str)
                .map(str::to_string)
        })
        .unwrap_or_else(|| body.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_host_forms() {
        assert_eq!(
            EngineAddr::parse("unix:///var/run/docker.sock"),
            Some(EngineAddr::Unix("/var/run/docker.sock".into()))
        );
        assert_eq!(
            EngineAddr::parse("tcp://127.0.0.1:2375"),
            Some(EngineAddr::Tcp("127.0.0.1:2375".into()))
        );
        assert_eq!(EngineAddr::parse("ssh://host"), None);
    }
}
