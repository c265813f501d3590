//! The Docker Engine API (Docker or Podman's compatible socket), through bollard:
//! the build context ([`context`], [`ignore`]), the build ([`build`]), tag and push
//! ([`push`]), and registry credentials from the Docker config file ([`config`]).
//!
//! The engine is `DOCKER_HOST` (`unix://`, `tcp://`, `http://`) or the default socket,
//! over TLS when `DOCKER_TLS_VERIFY` is set ([`tls`], as the docker CLI); the API version
//! is negotiated down to what the engine speaks (Docker 20.10 is 1.41).

pub mod build;
pub mod buildkit;
pub mod config;
pub mod context;
pub mod ignore;
pub mod push;
pub mod tls;

use bollard::Docker;

use crate::model::diagnostic::{Diagnostic, Exit};

#[derive(Debug, thiserror::Error)]
pub enum DockerError {
    #[error("cannot reach the container engine at {endpoint}: {message}")]
    Connect { endpoint: String, message: String },
    #[error("DOCKER_TLS_VERIFY is set but the engine's TLS files are unusable: {0}")]
    TlsFiles(#[from] tls::TlsFileError),
    #[error("{0}")]
    EngineSetting(String),
    #[error(transparent)]
    Context(#[from] context::ContextError),
    #[error("{}", build::describe_failure(.0))]
    Build(Box<build::BuildFailure>),
    #[error("the engine's BuildKit could not be used: {message}")]
    BuildKit { message: String },
    #[error("{what} needs BuildKit, and {engine} does not offer it")]
    NoBuildKit { what: String, engine: String },
    #[error("the engine did not report an image ID for the build")]
    NoImageId,
    #[error("tagging {image} as {tag} failed: {message}")]
    Tag {
        image: String,
        tag: String,
        message: String,
    },
    #[error("pushing {reference} to {registry} was refused: {message}")]
    PushDenied {
        registry: String,
        reference: String,
        message: String,
    },
    #[error("pushing {reference} failed after {attempts} attempt(s): {message}")]
    Push {
        reference: String,
        attempts: u32,
        message: String,
    },
    #[error("the engine pushed {reference} but reported no digest")]
    NoDigest { reference: String },
    #[error("inspecting image {image} failed: {message}")]
    Inspect { image: String, message: String },
    #[error("the Docker config file {path} is unusable: {message}")]
    Config {
        path: std::path::PathBuf,
        message: String,
    },
}

impl Diagnostic for DockerError {
    fn exit(&self) -> Exit {
        match self {
            DockerError::Build(f) if f.syntax => Exit::BadInput,
            DockerError::Context(context::ContextError::Pattern { .. }) => Exit::BadInput,
            DockerError::Context(context::ContextError::Fs(e)) => e.exit(),
            DockerError::Config { .. } => Exit::BadInput,
            DockerError::TlsFiles(_) | DockerError::EngineSetting(_) => Exit::BadInput,
            DockerError::NoBuildKit { .. } => Exit::BadInput,
            _ => Exit::External,
        }
    }

    fn hint(&self) -> Option<String> {
        Some(match self {
            DockerError::TlsFiles(_) => "put the engine's CA as ca.pem and the client certificate and key as cert.pem and key.pem in DOCKER_CERT_PATH (default ~/.docker), as for `docker --tlsverify`".into(),
            DockerError::EngineSetting(_) => "set DOCKER_HOST=tcp://HOST:2376 with DOCKER_TLS_VERIFY=1 and DOCKER_CERT_PATH, or DOCKER_HOST=unix:///var/run/docker.sock".into(),
            DockerError::Connect { endpoint, .. } if endpoint.starts_with("tcp://") => "check that the engine listens there; a TLS port (2376) needs DOCKER_TLS_VERIFY=1 and DOCKER_CERT_PATH, a plain one (2375) must not have them".into(),
            DockerError::Connect { .. } => "start Docker (or `podman system service --time=0 unix:///path.sock`) and set DOCKER_HOST to its socket, e.g. unix:///var/run/docker.sock".into(),
            DockerError::Build(f) if f.syntax => "fix the Dockerfile at the line named above".into(),
            DockerError::Build(_) => "the instruction's own output is above; it fails the same way with `docker build`".into(),
            DockerError::BuildKit { .. } => "use --builder classic (no build secrets), or an engine with BuildKit (Docker 18.09 or later)".into(),
            DockerError::NoBuildKit { .. } => "use a Docker engine (BuildKit is built in since 18.09); Podman's socket builds with the classic builder, which has no secret mounts".into(),
            DockerError::PushDenied { registry, .. } => format!(
                "the identity needs the AcrPush role (or Owner/Contributor) on the registry {registry}; for other registries, credentials with push rights in the Docker config file"
            ),
            DockerError::Push { .. } => "the registry kept failing; check that it is reachable from the engine".into(),
            DockerError::Context(context::ContextError::Pattern { .. }) => "fix the pattern in .dockerignore (Go filepath.Match syntax)".into(),
            _ => return None,
        })
    }

    fn location(&self) -> Option<crate::model::diagnostic::Location> {
        match self {
            DockerError::Build(f) => f.location(),
            _ => None,
        }
    }
}

/// A connected engine and what it offers.
pub struct Engine {
    pub docker: Docker,
    /// `Docker Engine 20.10.24`, `Podman Engine 4.3.1`.
    pub name: String,
    /// For the calls bollard cannot make (BuildKit's session).
    pub addr: Option<buildkit::wire::EngineAddr>,
    /// Docker on Linux with API >= 1.39 runs BuildKit behind `/build?version=2`;
    /// Podman's compatible API has no BuildKit (it builds with Buildah, classic-style).
    pub buildkit: bool,
}

/// `1.41` >= `1.39`.
fn api_at_least(v: &str, major: u64, minor: u64) -> bool {
    let mut it = v.split('.').map(|x| x.parse::<u64>().unwrap_or(0));
    let (a, b) = (it.next().unwrap_or(0), it.next().unwrap_or(0));
    (a, b) >= (major, minor)
}

/// How to reach the engine, from the environment as the docker CLI reads it.
#[derive(Clone, Debug, Default)]
pub struct EngineEnv {
    /// `DOCKER_HOST`.
    pub host: Option<String>,
    /// `DOCKER_CERT_PATH` (or `~/.docker`) when `DOCKER_TLS_VERIFY` is set.
    pub tls_dir: Option<std::path::PathBuf>,
    /// `DOCKER_TLS` set without `DOCKER_TLS_VERIFY` (TLS without verifying the engine).
    pub tls_unverified: bool,
}

impl EngineEnv {
    pub fn from_env(get: impl Fn(&str) -> Option<String>) -> EngineEnv {
        let tls_dir = tls::from_env(&get);
        EngineEnv {
            host: get("DOCKER_HOST").filter(|h| !h.is_empty()),
            tls_unverified: tls_dir.is_none() && get("DOCKER_TLS").is_some_and(|v| !v.is_empty()),
            tls_dir,
        }
    }
}

/// Connects to the engine of `env` (`DOCKER_HOST`, TLS) or the default socket.
pub async fn connect(env: &EngineEnv) -> Result<Engine, DockerError> {
    const TIMEOUT: u64 = 3600;
    // As the docker CLI: with TLS and no DOCKER_HOST, the engine is localhost:2376.
    let endpoint = env.host.clone().unwrap_or_else(|| {
        if env.tls_dir.is_some() {
            "tcp://localhost:2376".to_string()
        } else {
            "unix:///var/run/docker.sock".to_string()
        }
    });
    let err = |message: String| DockerError::Connect {
        endpoint: endpoint.clone(),
        message,
    };
    if env.tls_unverified {
        return Err(DockerError::EngineSetting(
            "DOCKER_TLS is set without DOCKER_TLS_VERIFY: TLS without verifying the engine is not supported (anyone on the path could read the build's secrets and registry tokens)".into(),
        ));
    }
    let tls = match &env.tls_dir {
        Some(dir) => {
            if !(endpoint.starts_with("tcp://") || endpoint.starts_with("https://")) {
                return Err(DockerError::EngineSetting(format!(
                    "DOCKER_TLS_VERIFY is set but DOCKER_HOST is {endpoint:?}: TLS needs a tcp://HOST:PORT engine"
                )));
            }
            Some(tls::Tls::load(dir)?)
        }
        None => None,
    };
    let docker = if let Some(t) = &tls {
        Docker::connect_with_ssl(
            &endpoint,
            &t.dir.join("key.pem"),
            &t.dir.join("cert.pem"),
            &t.dir.join("ca.pem"),
            TIMEOUT,
            bollard::API_DEFAULT_VERSION,
        )
    } else if let Some(path) = endpoint.strip_prefix("unix://") {
        Docker::connect_with_socket(path, TIMEOUT, bollard::API_DEFAULT_VERSION)
    } else if endpoint.starts_with("tcp://") || endpoint.starts_with("http://") {
        Docker::connect_with_http(&endpoint, TIMEOUT, bollard::API_DEFAULT_VERSION)
    } else if endpoint.starts_with('/') {
        Docker::connect_with_socket(&endpoint, TIMEOUT, bollard::API_DEFAULT_VERSION)
    } else {
        return Err(err(
            "unsupported DOCKER_HOST scheme (unix:// or tcp:// are supported)".into(),
        ));
    }
    .map_err(|e| err(e.to_string()))?;
    let docker = docker
        .negotiate_version()
        .await
        .map_err(|e| err(e.to_string()))?;
    let version = docker.version().await.map_err(|e| err(e.to_string()))?;
    let component = version
        .components
        .as_ref()
        .and_then(|c| c.first())
        .map(|c| c.name.clone())
        .unwrap_or_else(|| "engine".into());
    let podman = component.to_ascii_lowercase().contains("podman")
        || version
            .platform
            .as_ref()
            .is_some_and(|p| p.name.to_ascii_lowercase().contains("podman"));
    let buildkit = !podman
        && version.os.as_deref() == Some("linux")
        && version
            .api_version
            .as_deref()
            .is_some_and(|v| api_at_least(v, 1, 39));
    let name = format!("{component} {}", version.version.unwrap_or_default());
    Ok(Engine {
        docker,
        name,
        addr: buildkit::wire::EngineAddr::parse(&endpoint).map(|a| match (a, tls) {
            (buildkit::wire::EngineAddr::Tcp(h), Some(t)) => buildkit::wire::EngineAddr::Tls(h, t),
            (a, _) => a,
        }),
        buildkit,
    })
}

/// The text of a bollard error without its Rust-side wrapping.
pub(crate) fn message(e: &bollard::errors::Error) -> String {
    use bollard::errors::Error as E;
    match e {
        E::DockerResponseServerError { message, .. } => message.clone(),
        E::DockerStreamError { error } => error.clone(),
        other => other.to_string(),
    }
}
