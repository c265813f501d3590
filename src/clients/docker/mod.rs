//! The Docker Engine API (Docker or Podman's compatible socket), through bollard:
//! the build context ([`context`], [`ignore`]), the build ([`build`]), tag and push
//! ([`push`]), and registry credentials from the Docker config file ([`config`]).
//!
//! The engine is `DOCKER_HOST` (`unix://`, `tcp://`, `http://`) or the default socket; the
//! API version is negotiated down to what the engine speaks (Docker 20.10 is 1.41).

pub mod build;
pub mod buildkit;
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
            DockerError::Config { .. } => Exit::BadInput,
            DockerError::NoBuildKit { .. } => Exit::BadInput,
            _ => Exit::External,
        }
    }

    fn hint(&self) -> Option<String> {
        Some(match self {
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

    fn location(&self) -> Option<crate::host::Location> {
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

/// Connects to `docker_host` (a `DOCKER_HOST` value) or the default socket.
pub async fn connect(docker_host: Option<&str>) -> Result<Engine, DockerError> {
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
        addr: buildkit::wire::EngineAddr::parse(&endpoint),
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
