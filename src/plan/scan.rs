//! The scan plan: which Trivy, which command line, what counts, where results go.

use std::collections::BTreeSet;
use std::path::PathBuf;

use crate::clients::trivy::install::{self, LocateRequest, Located};
use crate::clients::trivy::run::{self, RunOptions, ScanTarget};
use crate::env::Env;
use crate::error::Error;
use crate::inputs::settings::{ScanInput, ScanSettings};
use crate::model::Severity;

#[derive(Clone, Debug, serde::Serialize)]
pub struct TrivyRun {
    pub binary: Located,
    pub target: ScanTarget,
    pub args: Vec<String>,
    pub options: RunOptions,
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct ScanPlan {
    /// What is scanned, as people name it (image ref, tarball or directory).
    pub artifact: String,
    /// `None` when an existing report is used.
    pub trivy: Option<TrivyRun>,
    pub report: PathBuf,
    /// The report goes into a fresh private directory made beside `report` at run time
    /// (`<temp>/aks-backend-trivy-<random>/report.json`, mode 0700): a predictable name in a
    /// shared temp dir could be planted (a symlink) or read by another user.
    pub report_in_private_dir: bool,
    pub sarif: PathBuf,
    pub severities: BTreeSet<Severity>,
    pub ignore_unfixed: bool,
    pub fail_on_findings: bool,
    pub trivyignores: Vec<PathBuf>,
}

impl ScanPlan {
    pub fn new(s: &ScanSettings, env: &Env) -> Result<Self, Error> {
        let (artifact, target) = match &s.input {
            ScanInput::Image(r) => (r.clone(), Some(ScanTarget::Image(r.clone()))),
            ScanInput::Input(p) => (display_name(p), Some(ScanTarget::Input(p.clone()))),
            ScanInput::Rootfs(p) => (display_name(p), Some(ScanTarget::Rootfs(p.clone()))),
            ScanInput::TrivyReport(_) => (String::new(), None),
        };
        let report = match (&s.input, &s.report) {
            (ScanInput::TrivyReport(p), _) => p.clone(),
            (_, Some(p)) => p.clone(),
            (_, None) => env.temp_dir().join("report.json"),
        };
        let report_in_private_dir =
            !matches!(s.input, ScanInput::TrivyReport(_)) && s.report.is_none();
        let trivy = match target {
            None => None,
            Some(target) => {
                let install_root = env.cache_home().join("aks-backend").join("trivy");
                let binary = install::locate(&LocateRequest {
                    explicit: s.trivy.path.as_deref(),
                    search_path: env.get("PATH"),
                    install_root: &install_root,
                    version: &s.trivy.version,
                    source: s.trivy.source,
                    base_url: s.trivy.download_url.as_deref(),
                    allow_download: s.trivy.download,
                    os: std::env::consts::OS,
                    arch: std::env::consts::ARCH,
                })?;
                let options = RunOptions {
                    cache_dir: s.trivy.cache_dir.clone(),
                    scanners: s.trivy.scanners.clone(),
                    skip_db_update: s.trivy.skip_db_update,
                    offline_scan: s.trivy.offline_scan,
                    db_repositories: s.trivy.db_repositories.clone(),
                    java_db_repositories: s.trivy.java_db_repositories.clone(),
                    insecure: s.trivy.insecure,
                    timeout: s.trivy.timeout,
                };
                let args = run::args(&target, &options, &report);
                Some(TrivyRun {
                    binary,
                    target,
                    args,
                    options,
                })
            }
        };
        Ok(ScanPlan {
            artifact,
            trivy,
            report,
            report_in_private_dir,
            sarif: s.sarif.clone(),
            severities: s.severities.clone(),
            ignore_unfixed: s.ignore_unfixed,
            fail_on_findings: s.fail_on_findings,
            trivyignores: s.trivyignores.clone(),
        })
    }
}

fn display_name(p: &std::path::Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| p.display().to_string())
}
