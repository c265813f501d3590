//! The Docker Engine API (Docker or Podman's compatible socket), through bollard:
//! the build context ([`context`], [`ignore`]), the build ([`build`]), tag and push
//! ([`push`]), and registry credentials from the Docker config file ([`config`]).
//!
//! The engine is `DOCKER_HOST` (`unix://`, `tcp://`, `http://`) or the default socket; the
//! API version is negotiated down to what the engine speaks (Docker 20.10 is 1.41).

pub mod build;
pub mod config;
pub mod context;
pub mod ignore;
pub mod push;

use bollard::Docker;

use crate::error::{Diagnostic, Exit};

#[derive(Debug, thiserror::Error)]
pub enum DockerError {
    #[error("cannot reach the container engine at {endpoint}: {message}")]
    Connect { endpoint: String, message: String },
    #[error(transparent)]
    Context(#[from] context::ContextError),
    #[error("{}", build::describe_failure(.0))]
    Build(Box<build::BuildFailure>),
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
            DockerError::Config { .. } => Exit::BadInput,
            _ => Exit::External,
        }
    }

    fn hint(&self) -> Option<String> {
        Some(match self {
            DockerError::Connect { .. } => "start Docker (or `podman system service --time=0 unix:///path.sock`) and set DOCKER_HOST to its socket, e.g. unix:///var/run/docker.sock".into(),
            DockerError::Build(f) if f.syntax => "fix the Dockerfile at the line named above".into(),
            DockerError::Build(_) => "the instruction's own output is above; it fails the same way with `docker build`".into(),
            DockerError::PushDenied { registry, .. } => format!(
                "the identity needs the AcrPush role (or Owner/Contributor) on the registry {registry}; for other registries, credentials with push rights in the Docker config file"
            ),
            DockerError::Push { .. } => "the registry kept failing; check that it is reachable from the engine".into(),
            DockerError::Context(context::ContextError::Pattern { .. }) => "fix the pattern in .dockerignore (Go filepath.Match syntax)".into(),
            _ => return None,
        })
    }

    fn location(&self) -> Option<crate::host::Location> {
        match self {
            DockerError::Build(f) => f.location(),
            _ => None,
        }
    }
}

/// Connects to `docker_host` (a `DOCKER_HOST` value) or the default socket.
pub async fn connect(docker_host: Option<&str>) -> Result<(Docker, String), DockerError> {
    const TIMEOUT: u64 = 3600;
    let endpoint = docker_host
        .unwrap_or("unix:///var/run/docker.sock")
        .to_string();
    let err = |message: String| DockerError::Connect {
        endpoint: endpoint.clone(),
        message,
    };
    let docker = if let Some(path) = endpoint.strip_prefix("unix://") {
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
    let name = format!(
        "{} {}",
        version
            .components
            .as_ref()
            .and_then(|c| c.first())
            .map(|c| c.name.clone())
            .unwrap_or_else(|| "engine".into()),
        version.version.unwrap_or_default()
    );
    Ok((docker, name))
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
