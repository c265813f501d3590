//! `--compose`: a Compose application read as Compose reads it ([`load`]) and turned
//! into the deploy's components ([`map`]): one Deployment + Service per service, each
//! scaled on its own, with everything that cannot carry over named per service.
//! The objects themselves are finished in `plan::compose` (ports, probes, mounts).

pub mod interpolate;
pub mod load;
pub mod map;
pub mod merge;
pub mod settings;

use std::path::PathBuf;

use crate::inputs::settings::Component;

/// The application, as the deploy will carry it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct ComposeApp {
    pub files: Vec<PathBuf>,
    /// Deployed services, the public one first (the Ingress goes to the first).
    pub services: Vec<Service>,
    /// Services not deployed: what replaced them.
    pub replaced: Vec<Replaced>,
    /// Services of inactive profiles.
    pub inactive: Vec<String>,
    pub public: Option<String>,
    /// `--render-dir`: where `--dry-run` writes one YAML per object and `plan.md`.
    pub render_dir: Option<PathBuf>,
    /// App-wide warnings (variables used without a value).
    pub warnings: Vec<String>,
}

impl ComposeApp {
    pub fn components(&self) -> Vec<Component> {
        self.services.iter().map(|s| s.component.clone()).collect()
    }

    /// Every warning, per service: `service: what happens instead`.
    pub fn all_warnings(&self) -> Vec<String> {
        let mut out = self.warnings.clone();
        for s in &self.services {
            out.extend(s.notes.iter().map(|n| format!("{}: {n}", s.component.name)));
        }
        out
    }
}

/// A service that is a component.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Service {
    pub component: Component,
    /// `build:` (built and pushed as `--image-prefix/NAME`).
    pub build: Option<Build>,
    /// Container ports in order; the first is named `http` (probes, Ingress).
    pub ports: Vec<Port>,
    /// Kubernetes `command` (Compose `entrypoint`).
    pub command: Option<Vec<String>>,
    /// Kubernetes `args` (Compose `command`).
    pub args: Option<Vec<String>>,
    pub working_dir: Option<String>,
    pub probe: Option<Probe>,
    pub secret_files: Vec<SecretFile>,
    pub config_files: Vec<ConfigFile>,
    /// `tmpfs` and anonymous volumes: an emptyDir at each path.
    pub scratch: Vec<String>,
    pub read_only: bool,
    /// `user: UID[:GID]`.
    pub user: Option<(i64, Option<i64>)>,
    /// Named volumes of a service deployed in the cluster as a StatefulSet.
    pub stateful: Vec<StatefulVolume>,
    /// What did not carry over, and what happens instead.
    pub notes: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Build {
    pub context: PathBuf,
    pub dockerfile: Option<String>,
    pub target: Option<String>,
    pub args: Vec<(String, String)>,
    /// `build.secrets`: what `RUN --mount=type=secret,id=ID` reads.
    pub secrets: Vec<BuildSecret>,
}

/// One build secret: its id in the Dockerfile and where its value comes from.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct BuildSecret {
    pub id: String,
    pub from: BuildSecretFrom,
}

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum BuildSecretFrom {
    File(PathBuf),
    Env(String),
}

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Port {
    pub port: u16,
    /// `TCP` or `UDP`.
    pub protocol: String,
    /// Published on the host in Compose (a candidate for the public service).
    pub published: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ProbeAction {
    Http { path: String, port: u16 },
    Exec { command: Vec<String> },
}

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Probe {
    pub action: ProbeAction,
    pub period_seconds: u64,
    pub timeout_seconds: u64,
    pub failure_threshold: u64,
    pub initial_delay_seconds: u64,
}

/// A Compose secret: Key Vault secret `key_vault` mounted as a file at `target`.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct SecretFile {
    pub name: String,
    pub key_vault: String,
    pub target: String,
}

/// A bind-mounted file from the repository: a ConfigMap key mounted at `target`.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct ConfigFile {
    pub source: PathBuf,
    pub key: String,
    pub content: String,
    pub target: String,
}

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct StatefulVolume {
    pub name: String,
    pub target: String,
    pub size: String,
}

/// A service the deploy does not run, and what stands in for it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Replaced {
    pub name: String,
    /// An ExternalName Service under the Compose name, so `DB_HOST: db` keeps working.
    pub external_host: String,
    pub why: String,
}
