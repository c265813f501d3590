//! The state file: what the earlier steps of this job published, and the summary so far.
//!
//! `run` does refer -> build -> scan -> deploy in one process; used as four separate
//! workflow steps, each step reads the earlier ones' outputs from this file (default under
//! the runner's temp dir, or `--state PATH`), so both ways compose the same: scan and
//! deploy take build's digest, deploy takes refer's kubeconfig, DNS zone, gateway IP and
//! NSG. The file never holds a secret value (refer's secret outputs are references).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::fsx::{self, FsError};
use crate::model::diagnostic::{Diagnostic, Exit};
use crate::model::pipeline::Summary;
use crate::model::step::{EarlierOutputs, Step};

/// The state file could not be read (bad input, exit 2) or written.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("state file {path}: it is not a state file written by aks-backend: {problem}")]
    NotAStateFile { path: PathBuf, problem: String },
    #[error(transparent)]
    Read(FsError),
    #[error(transparent)]
    Write(FsError),
}

impl Diagnostic for StateError {
    fn exit(&self) -> Exit {
        match self {
            StateError::NotAStateFile { .. } | StateError::Read(_) => Exit::BadInput,
            StateError::Write(e) => e.exit(),
        }
    }

    fn hint(&self) -> Option<String> {
        match self {
            StateError::NotAStateFile { .. } => Some(
                "expected a file written by an earlier step of this job, or none (delete it to \
                 start over)"
                    .into(),
            ),
            StateError::Read(e) | StateError::Write(e) => e.hint(),
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct State {
    /// Outputs by step name.
    #[serde(default)]
    pub outputs: BTreeMap<String, BTreeMap<String, String>>,
    /// The pipeline report the PR comment shows.
    #[serde(default)]
    // The file keeps its old key, so a state file written by an earlier release still reads.
    #[serde(rename = "report")]
    pub summary: Option<Summary>,
}

/// Which setting of a later step an earlier step's output feeds.
pub const FEEDS: &[(Step, &str, Step, &str)] = &[
    // infra -> refer: refer reads what infra deployed by the deployment's outputs.
    (
        Step::Refer,
        "subscription-id",
        Step::Infra,
        "subscription-id",
    ),
    (Step::Refer, "resource-group", Step::Infra, "resource-group"),
    (
        Step::Refer,
        "deployment-name",
        Step::Infra,
        "deployment-name",
    ),
    (Step::Refer, "dns-zone", Step::Infra, "dns-zone"),
    (
        Step::Refer,
        "dns-zone-resource-group",
        Step::Infra,
        "dns-zone-resource-group",
    ),
    (Step::Scan, "image", Step::Build, "image-ref"),
    (Step::Deploy, "image", Step::Build, "image-ref"),
    (Step::Scan, "images", Step::Build, "images"),
    // --compose: scan's list also pins the `image:` services at the digest it scanned.
    (Step::Deploy, "images", Step::Scan, "pinned-images"),
    (Step::Deploy, "images", Step::Build, "images"),
    // --compose: MySQL services point at the managed server infra made.
    (Step::Deploy, "mysql-host", Step::Infra, "mysql-fqdn"),
    (
        Step::Deploy,
        "mysql-password-secret",
        Step::Infra,
        "mysql-admin-secret",
    ),
    (Step::Deploy, "kubeconfig", Step::Refer, "kubeconfig"),
    (
        Step::Deploy,
        "subscription-id",
        Step::Refer,
        "subscription-id",
    ),
    (
        Step::Deploy,
        "resource-group",
        Step::Refer,
        "resource-group",
    ),
    (Step::Deploy, "dns-zone", Step::Refer, "dns-zone"),
    (
        Step::Deploy,
        "dns-zone-resource-group",
        Step::Refer,
        "dns-zone-resource-group",
    ),
    (
        Step::Deploy,
        "gateway-public-ip",
        Step::Refer,
        "gateway-public-ip",
    ),
    (
        Step::Deploy,
        "gateway-nsg-name",
        Step::Refer,
        "gateway-nsg-name",
    ),
    (
        Step::Deploy,
        "gateway-nsg-resource-group",
        Step::Refer,
        "gateway-nsg-resource-group",
    ),
    (
        Step::Build,
        "subscription-id",
        Step::Refer,
        "subscription-id",
    ),
];

impl State {
    /// `<runner temp>/aks-backend-state-<run id>.json` (one per job run), else (on a
    /// laptop) one per working directory `cwd` in the temp dir. (`--state` comes first:
    /// the caller's.)
    pub fn default_path(
        temp_dir: &Path,
        cwd: &Path,
        run_id: Option<&str>,
        run_attempt: Option<u32>,
    ) -> PathBuf {
        let id = match (run_id, run_attempt) {
            (Some(id), a) => format!("{id}-{}", a.unwrap_or(1)),
            (None, _) => {
                use std::hash::{Hash, Hasher};
                let mut h = std::collections::hash_map::DefaultHasher::new();
                cwd.hash(&mut h);
                format!("local-{:016x}", h.finish())
            }
        };
        temp_dir.join(format!("aks-backend-state-{id}.json"))
    }

    /// A missing file is an empty state; an unreadable one is bad input.
    pub fn load(path: &Path) -> Result<State, StateError> {
        match fsx::read_to_string(path, "state file", fsx::Follow::No, fsx::MEDIUM) {
            Ok(text) => serde_json::from_str(&text).map_err(|e| StateError::NotAStateFile {
                path: path.to_path_buf(),
                problem: e.to_string(),
            }),
            Err(e) if e.is_not_found() => Ok(State::default()),
            Err(e) => Err(StateError::Read(e)),
        }
    }

    /// Written atomically, mode 0600.
    pub fn save(&self, path: &Path) -> Result<(), StateError> {
        // Strings, numbers and lists: serializing it cannot fail.
        let json = serde_json::to_vec_pretty(self).unwrap_or_default();
        fsx::write(path, "the state file", &json, 0o600).map_err(StateError::Write)
    }

    /// Keeps `step`'s outputs (replacing an earlier run of the same step). Values of
    /// secrets (`secret-<name>-value`) are never kept.
    pub fn record(&mut self, step: Step, outputs: &BTreeMap<String, String>) {
        let kept = outputs
            .iter()
            .filter(|(k, _)| !(k.starts_with("secret-") && k.ends_with("-value")))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        self.outputs.insert(step.name().to_string(), kept);
    }

    /// The earlier output that feeds setting `name` of `step`, as (value, "step.output").
    pub fn feed(&self, step: Step, name: &str) -> Option<(String, String)> {
        FEEDS
            .iter()
            .filter(|(to, setting, from, _)| *to == step && *setting == name && *from < step)
            .find_map(|(_, _, from, output)| {
                let v = self.outputs.get(from.name())?.get(*output)?;
                (!v.is_empty()).then(|| (v.clone(), format!("{}.{output}", from.name())))
            })
    }
}

impl EarlierOutputs for State {
    fn feed(&self, step: Step, name: &str) -> Option<(String, String)> {
        State::feed(self, step, name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn later_steps_are_fed_by_earlier_ones_only() {
        let mut s = State::default();
        let mut build = BTreeMap::new();
        build.insert("digest".to_string(), "sha256:ab".to_string());
        build.insert("image-ref".to_string(), "r.io/api@sha256:ab".to_string());
        s.record(Step::Build, &build);
        assert_eq!(
            s.feed(Step::Deploy, "image"),
            Some(("r.io/api@sha256:ab".into(), "build.image-ref".into()))
        );
        assert_eq!(s.feed(Step::Refer, "image"), None);
        assert_eq!(s.feed(Step::Deploy, "namespace"), None);
    }

    #[test]
    fn refer_finds_what_infra_deployed_by_its_deployment() {
        let mut s = State::default();
        let infra: BTreeMap<String, String> = [
            ("deployment-name", "aks-backend-infra"),
            ("resource-group", "rg-shared"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        s.record(Step::Infra, &infra);
        assert_eq!(
            s.feed(Step::Refer, "deployment-name").map(|(v, _)| v),
            Some("aks-backend-infra".to_string())
        );
        assert_eq!(
            s.feed(Step::Refer, "resource-group"),
            Some(("rg-shared".to_string(), "infra.resource-group".to_string()))
        );
    }

    #[test]
    fn secret_values_are_never_kept() {
        let mut s = State::default();
        let mut refer = BTreeMap::new();
        refer.insert("secret-db-value".to_string(), "hunter2".to_string());
        refer.insert("secret-db".to_string(), "https://kv/secrets/db".to_string());
        s.record(Step::Refer, &refer);
        let json = serde_json::to_string(&s).unwrap();
        assert!(!json.contains("hunter2"));
        assert!(json.contains("kv/secrets/db"));
    }
}
