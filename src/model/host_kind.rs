//! Which CI host the tool runs on. Detected by `inputs::ci`, used by `host` to choose its
//! logging commands and by `plan` for host-specific work: so it lives below all three.

/// The CI host: GitHub Actions, Azure Pipelines, or a laptop/anything else.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum HostKind {
    GitHubActions,
    AzurePipelines,
    Local,
}
