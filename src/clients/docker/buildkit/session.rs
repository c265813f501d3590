//! The BuildKit session: the engine calls back into us over the hijacked `/session`
//! connection (HTTP/1.1 upgraded to h2c, we are the gRPC *server*) for the build context
//! and the Dockerfile ([`super::filesync`]), build secrets (`RUN --mount=type=secret`)
//! and registry credentials (base images and cache from a private registry, e.g. ACR
//! with the Entra-exchanged refresh token).
//!
//! Secret values never leave this module except as gRPC answers to the engine, which
//! mounts them as tmpfs files for one `RUN` and keeps them out of layers and history.

use std::collections::HashMap;
use std::fmt;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use bollard_buildkit_proto::health::health_server::{Health, HealthServer};
use bollard_buildkit_proto::health::{
    HealthCheckRequest, HealthCheckResponse, HealthListRequest, HealthListResponse,
    health_check_response::ServingStatus,
};
use bollard_buildkit_proto::moby::buildkit::secrets::v1::secrets_server::{Secrets, SecretsServer};
use bollard_buildkit_proto::moby::buildkit::secrets::v1::{GetSecretRequest, GetSecretResponse};
use bollard_buildkit_proto::moby::filesync::v1::auth_server::{Auth, AuthServer};
use bollard_buildkit_proto::moby::filesync::v1::{
    CredentialsRequest, CredentialsResponse, FetchTokenRequest, FetchTokenResponse,
    GetTokenAuthorityRequest, GetTokenAuthorityResponse, VerifyTokenAuthorityRequest,
    VerifyTokenAuthorityResponse,
};
use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::TokioIo;
use tonic::{Request, Response, Status};

use super::wire::{self, EngineAddr};
use crate::secret::Secret;

/// A secret's bytes (a file may hold anything); redacted when formatted.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretBytes(pub Vec<u8>);

impl fmt::Debug for SecretBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretBytes(***)")
    }
}

/// What the session serves.
#[derive(Debug, Default)]
pub struct Provide {
    /// The build context and the Dockerfile's directory (`context`, `dockerfile`).
    pub dirs: HashMap<String, super::filesync::SyncedDir>,
    /// Build secrets by id.
    pub secrets: HashMap<String, SecretBytes>,
    /// Registry host -> (username, password or token).
    pub credentials: HashMap<String, (String, Secret)>,
}

/// What the engine asked for (for messages and tests; never values).
#[derive(Clone, Debug, Default)]
pub struct Asked {
    pub secrets: Vec<String>,
    pub missing_secrets: Vec<String>,
    pub credential_hosts: Vec<String>,
}

pub struct Session {
    pub id: String,
    pub asked: Arc<Mutex<Asked>>,
    pub sent: Arc<Mutex<super::filesync::Sent>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Session {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The methods we serve, as the engine wants them listed in the upgrade request.
const METHODS: &[&str] = &[
    "/grpc.health.v1.Health/Check",
    "/grpc.health.v1.Health/List",
    "/grpc.health.v1.Health/Watch",
    "/moby.buildkit.secrets.v1.Secrets/GetSecret",
    "/moby.filesync.v1.Auth/Credentials",
    "/moby.filesync.v1.Auth/FetchToken",
    "/moby.filesync.v1.Auth/GetTokenAuthority",
    "/moby.filesync.v1.Auth/VerifyTokenAuthority",
    "/moby.filesync.v1.FileSync/DiffCopy",
    "/moby.filesync.v1.FileSync/TarStream",
];

/// Opens the session; it lives until the returned value is dropped. `shared_key` lets
/// the engine keep its copy of the context between builds of the same directory (only
/// changed files are sent again).
pub async fn start(
    addr: &EngineAddr,
    mut provide: Provide,
    name: &str,
    shared_key: &str,
) -> Result<Session, String> {
    let id = uuid::Uuid::new_v4().simple().to_string();
    let mut req = hyper::Request::post("/session")
        .header("Host", "docker")
        .header("Connection", "Upgrade")
        .header("Upgrade", "h2c")
        .header("X-Docker-Expose-Session-Uuid", &id)
        .header("X-Docker-Expose-Session-Name", name)
        .header("X-Docker-Expose-Session-Sharedkey", shared_key);
    for m in METHODS {
        req = req.header("X-Docker-Expose-Session-Grpc-Method", *m);
    }
    let body: wire::Body = Empty::<Bytes>::new()
        .map_err(|never| match never {})
        .boxed();
    let req = req.body(body).map_err(|e| e.to_string())?;
    let resp = wire::send(addr, req).await?;
    if resp.status() != hyper::StatusCode::SWITCHING_PROTOCOLS {
        let status = resp.status();
        let text = wire::engine_message(&wire::body_text(resp).await);
        return Err(format!(
            "the engine refused a BuildKit session ({status}): {text}"
        ));
    }
    let upgraded = hyper::upgrade::on(resp).await.map_err(|e| e.to_string())?;
    let asked = Arc::new(Mutex::new(Asked::default()));
    let sent = Arc::new(Mutex::new(super::filesync::Sent::default()));
    let files = super::filesync::FileSyncSvc {
        dirs: std::mem::take(&mut provide.dirs),
        sent: sent.clone(),
    };
    let provide = Arc::new(provide);
    let router = tonic::transport::Server::builder()
        .add_service(HealthServer::new(HealthSvc))
        .add_service(SecretsServer::new(SecretsSvc {
            provide: provide.clone(),
            asked: asked.clone(),
        }))
        .add_service(AuthServer::new(AuthSvc {
            provide,
            asked: asked.clone(),
        }))
        .add_service(
            bollard_buildkit_proto::moby::filesync::v1::file_sync_server::FileSyncServer::new(
                files,
            ),
        );
    let io = wire::Io(TokioIo::new(upgraded));
    let task = tokio::spawn(async move {
        let incoming = futures::stream::iter(vec![Ok::<_, std::io::Error>(io)]);
        if let Err(e) = router.serve_with_incoming(incoming).await {
            tracing::debug!("BuildKit session ended: {e}");
        }
    });
    Ok(Session {
        id,
        asked,
        sent,
        task,
    })
}

struct HealthSvc;

#[tonic::async_trait]
impl Health for HealthSvc {
    async fn check(
        &self,
        _: Request<HealthCheckRequest>,
    ) -> Result<Response<HealthCheckResponse>, Status> {
        Ok(Response::new(HealthCheckResponse {
            status: ServingStatus::Serving as i32,
        }))
    }
    async fn list(
        &self,
        _: Request<HealthListRequest>,
    ) -> Result<Response<HealthListResponse>, Status> {
        Ok(Response::new(HealthListResponse::default()))
    }
    type WatchStream =
        Pin<Box<dyn futures::Stream<Item = Result<HealthCheckResponse, Status>> + Send + 'static>>;
    async fn watch(
        &self,
        _: Request<HealthCheckRequest>,
    ) -> Result<Response<Self::WatchStream>, Status> {
        Ok(Response::new(Box::pin(futures::stream::once(async {
            Ok(HealthCheckResponse {
                status: ServingStatus::Serving as i32,
            })
        }))))
    }
}

struct SecretsSvc {
    provide: Arc<Provide>,
    asked: Arc<Mutex<Asked>>,
}

#[tonic::async_trait]
impl Secrets for SecretsSvc {
    async fn get_secret(
        &self,
        req: Request<GetSecretRequest>,
    ) -> Result<Response<GetSecretResponse>, Status> {
        let id = req.into_inner().id;
        let mut asked = self.asked.lock().unwrap_or_else(|e| e.into_inner());
        match self.provide.secrets.get(&id) {
            Some(v) => {
                asked.secrets.push(id);
                Ok(Response::new(GetSecretResponse { data: v.0.clone() }))
            }
            None => {
                asked.missing_secrets.push(id.clone());
                // BuildKit's own wording for an absent secret; `required=false` mounts skip it.
                Err(Status::not_found(format!("secret {id} not found")))
            }
        }
    }
}

struct AuthSvc {
    provide: Arc<Provide>,
    asked: Arc<Mutex<Asked>>,
}

/// Docker Hub is asked for as `registry-1.docker.io`; its credentials are filed under
/// `https://index.docker.io/v1/`.
fn lookup<'a>(provide: &'a Provide, host: &str) -> Option<&'a (String, Secret)> {
    provide.credentials.get(host).or_else(|| {
        (host == "registry-1.docker.io")
            .then(|| provide.credentials.get("https://index.docker.io/v1/"))
            .flatten()
    })
}

#[tonic::async_trait]
impl Auth for AuthSvc {
    async fn credentials(
        &self,
        req: Request<CredentialsRequest>,
    ) -> Result<Response<CredentialsResponse>, Status> {
        let host = req.into_inner().host;
        self.asked
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .credential_hosts
            .push(host.clone());
        // No credentials: an empty answer, and the engine goes on anonymously.
        let resp = match lookup(&self.provide, &host) {
            Some((user, secret)) => CredentialsResponse {
                username: user.clone(),
                secret: secret.expose().to_string(),
            },
            None => CredentialsResponse::default(),
        };
        Ok(Response::new(resp))
    }
    // The engine fetches tokens itself with the credentials above when these are
    // unimplemented (BuildKit's authorizer falls back on codes.Unimplemented).
    async fn fetch_token(
        &self,
        _: Request<FetchTokenRequest>,
    ) -> Result<Response<FetchTokenResponse>, Status> {
        Err(Status::unimplemented(
            "token fetching is left to the engine",
        ))
    }
    async fn get_token_authority(
        &self,
        _: Request<GetTokenAuthorityRequest>,
    ) -> Result<Response<GetTokenAuthorityResponse>, Status> {
        Err(Status::unimplemented("no token authority"))
    }
    async fn verify_token_authority(
        &self,
        _: Request<VerifyTokenAuthorityRequest>,
    ) -> Result<Response<VerifyTokenAuthorityResponse>, Status> {
        Err(Status::unimplemented("no token authority"))
    }
}
