//! The one error type the library returns, and the exit codes it maps to.
//!
//! Each room (inputs, host, Trivy, ...) has its own error enum with the facts in it.
//! They meet here, and `cli::main` renders the result exactly once: the message, then
//! `hint:` lines, then the documented exit code.

use crate::clients::acr::AcrError;
use crate::clients::azure::AzureError;
use crate::clients::azure_devops::AzureDevOpsError;
use crate::clients::docker::DockerError;
use crate::clients::github::GitHubError;
use crate::clients::kube::KubeError;
use crate::clients::kube::ready::AddonError;
use crate::clients::trivy::TrivyError;
use crate::clients::trivy::results::ResultsError;
use crate::host::HostError;
use crate::inputs::InputError;
use crate::plan::manifests::ManifestError;
use crate::state::StateError;

pub use crate::model::diagnostic::{Diagnostic, Exit};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Input(#[from] InputError),
    #[error(transparent)]
    Host(#[from] HostError),
    #[error(transparent)]
    Trivy(#[from] TrivyError),
    #[error(transparent)]
    Results(#[from] ResultsError),
    #[error(transparent)]
    GitHub(#[from] GitHubError),
    #[error(transparent)]
    AzureDevOps(#[from] AzureDevOpsError),
    #[error(transparent)]
    Kube(#[from] KubeError),
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    #[error(transparent)]
    Azure(#[from] AzureError),
    #[error(transparent)]
    Docker(#[from] DockerError),
    #[error(transparent)]
    Acr(#[from] AcrError),
    #[error(transparent)]
    Addon(#[from] AddonError),
    #[error(transparent)]
    State(#[from] StateError),
}

impl Error {
    fn inner(&self) -> &dyn Diagnostic {
        match self {
            Error::Input(e) => e,
            Error::Host(e) => e,
            Error::Trivy(e) => e,
            Error::Results(e) => e,
            Error::GitHub(e) => e,
            Error::AzureDevOps(e) => e,
            Error::Kube(e) => e,
            Error::Manifest(e) => e,
            Error::Azure(e) => e,
            Error::Docker(e) => e,
            Error::Acr(e) => e,
            Error::Addon(e) => e,
            Error::State(e) => e,
        }
    }

    pub fn exit(&self) -> Exit {
        self.inner().exit()
    }

    pub fn hint(&self) -> Option<String> {
        self.inner().hint()
    }

    pub fn location(&self) -> Option<crate::model::diagnostic::Location> {
        self.inner().location()
    }

    /// The message and hint lines, as printed once by `main`.
    pub fn render(&self) -> String {
        let mut out = format!("error: {self}");
        if let Some(h) = self.hint() {
            for line in h.lines() {
                out.push_str("\n  hint: ");
                out.push_str(line);
            }
        }
        out
    }
}
