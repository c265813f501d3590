//! The scan plan: which Trivy, which command line, what counts, where results go.
//!
//! Pure: where Trivy is on this machine is not decided here. The plan says what the
//! settings say (the given binary, or where it will be searched for); `steps::scan`
//! locates it when it prepares the step.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::inputs::settings::{ScanInput, ScanSettings};
use crate::model::Severity;
use crate::model::trivy_source::TrivySource;

/// Which Trivy binary runs, as the settings say.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "from", rename_all = "kebab-case")]
pub enum TrivyBinary {
    /// `--trivy-path`: this file, nothing else.
    Given { path: PathBuf },
    /// Searched for, in this order: `trivy` on `PATH`; the copy of this version in our
    /// tool cache (`<tool_cache>/<version>/<source>/trivy`, checked against its pin before
    /// it runs); the pinned, checksum-verified download when `download` allows it.
    Search {
        tool_cache: PathBuf,
        version: String,
        source: TrivySource,
        download: bool,
        /// Where the archive is downloaded from instead of the source's own site.
        #[serde(skip_serializing_if = "Option::is_none")]
        download_url: Option<String>,
    },
}

/// What Trivy scans.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ScanTarget {
    /// Pulled by Trivy from the registry.
    Image(String),
    /// A docker-save tarball.
    Input(PathBuf),
    Rootfs(PathBuf),
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct RunOptions {
    pub cache_dir: PathBuf,
    pub scanners: Vec<String>,
    pub skip_db_update: bool,
    pub offline_scan: bool,
    pub db_repositories: Vec<String>,
    pub java_db_repositories: Vec<String>,
    pub insecure: bool,
    pub timeout: Duration,
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct TrivyRun {
    pub binary: TrivyBinary,
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
    /// `temp_dir` holds the default report; `tool_cache` is where installed Trivy
    /// binaries are kept.
    pub fn new(s: &ScanSettings, temp_dir: &Path, tool_cache: &Path) -> Self {
        let (artifact, target) = match &s.input {
            ScanInput::Image(r) => (r.clone(), Some(ScanTarget::Image(r.clone()))),
            ScanInput::Input(p) => (display_name(p), Some(ScanTarget::Input(p.clone()))),
            ScanInput::Rootfs(p) => (display_name(p), Some(ScanTarget::Rootfs(p.clone()))),
            ScanInput::TrivyReport(_) => (String::new(), None),
        };
        let report = match (&s.input, &s.report) {
            (ScanInput::TrivyReport(p), _) => p.clone(),
            (_, Some(p)) => p.clone(),
            (_, None) => temp_dir.join("report.json"),
        };
        let report_in_private_dir =
            !matches!(s.input, ScanInput::TrivyReport(_)) && s.report.is_none();
        let trivy = target.map(|target| {
            let binary = match &s.trivy.path {
                Some(path) => TrivyBinary::Given { path: path.clone() },
                None => TrivyBinary::Search {
                    tool_cache: tool_cache.to_path_buf(),
                    version: s.trivy.version.clone(),
                    source: s.trivy.source,
                    download: s.trivy.download,
                    download_url: s.trivy.download_url.clone(),
                },
            };
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
            let args = args(&target, &options, &report);
            TrivyRun {
                binary,
                target,
                args,
                options,
            }
        });
        ScanPlan {
            artifact,
            trivy,
            report,
            report_in_private_dir,
            sarif: s.sarif.clone(),
            severities: s.severities.clone(),
            ignore_unfixed: s.ignore_unfixed,
            fail_on_findings: s.fail_on_findings,
            trivyignores: s.trivyignores.clone(),
        }
    }
}

fn display_name(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| p.display().to_string())
}

/// The arguments of the one Trivy run (shown by `--dry-run`). Gate settings are *not*
/// passed: the report holds every finding and we decide what counts. Values that come
/// from outside are never read as flags: the positional target comes last, after `--`,
/// and path values are joined to their flag (`--input=PATH`).
pub fn args(target: &ScanTarget, opts: &RunOptions, output: &Path) -> Vec<String> {
    let mut a: Vec<String> = Vec::new();
    match target {
        ScanTarget::Image(_) => a.push("image".into()),
        ScanTarget::Input(p) => a.extend(["image".into(), format!("--input={}", p.display())]),
        ScanTarget::Rootfs(_) => a.push("rootfs".into()),
    }
    a.extend([
        "--format".into(),
        "json".into(),
        format!("--output={}", output.display()),
        "--scanners".into(),
        opts.scanners.join(","),
        // Every severity, exit 0 on findings, no ignore file: the gate is ours.
        "--severity".into(),
        "UNKNOWN,LOW,MEDIUM,HIGH,CRITICAL".into(),
        "--exit-code".into(),
        "0".into(),
        "--ignorefile".into(),
        "/dev/null".into(),
        format!("--cache-dir={}", opts.cache_dir.display()),
        "--timeout".into(),
        format!("{}s", opts.timeout.as_secs()),
        // Progress as log lines (DB download, analysis), not bars: they reach the log.
        "--no-progress".into(),
    ]);
    if opts.skip_db_update {
        a.extend(["--skip-db-update".into(), "--skip-java-db-update".into()]);
    }
    if opts.offline_scan {
        a.push("--offline-scan".into());
    }
    if !opts.db_repositories.is_empty() {
        a.extend(["--db-repository".into(), opts.db_repositories.join(",")]);
    }
    if !opts.java_db_repositories.is_empty() {
        a.extend([
            "--java-db-repository".into(),
            opts.java_db_repositories.join(","),
        ]);
    }
    if opts.insecure {
        a.push("--insecure".into());
    }
    match target {
        ScanTarget::Image(r) => a.extend(["--".into(), r.clone()]),
        ScanTarget::Rootfs(p) => a.extend(["--".into(), p.display().to_string()]),
        ScanTarget::Input(_) => {}
    }
    a
}

/// `trivy server` arguments for scans of `opts` (the same cache dir and DB options; the
/// listen address is added by whoever picks the port): with several images the DB is
/// opened once, by the server, and each scan is its client ([`client_args`]).
pub fn server_args(opts: &RunOptions) -> Vec<String> {
    let mut a = vec![
        "server".to_string(),
        format!("--cache-dir={}", opts.cache_dir.display()),
        "--no-progress".into(),
    ];
    if opts.skip_db_update {
        a.push("--skip-db-update".into());
    }
    if !opts.db_repositories.is_empty() {
        a.extend(["--db-repository".into(), opts.db_repositories.join(",")]);
    }
    a
}

/// A scan's [`args`] as a client of the `trivy server` at `url` (pulls, analysis and
/// secret scanning stay in the client; the server matches against its DB).
pub fn client_args(args: &[String], url: &str) -> Vec<String> {
    let mut a = args.to_vec();
    a.insert(a.len().min(1), format!("--server={url}"));
    a
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_server_opens_the_scans_db_and_clients_name_it_before_the_target() {
        let o = RunOptions {
            skip_db_update: true,
            db_repositories: vec!["r.example.com/db:2".into()],
            ..opts()
        };
        assert_eq!(
            server_args(&o),
            [
                "server",
                "--cache-dir=/c",
                "--no-progress",
                "--skip-db-update",
                "--db-repository",
                "r.example.com/db:2"
            ]
        );
        let scan = args(
            &ScanTarget::Image("--help".into()),
            &o,
            Path::new("/o.json"),
        );
        let c = client_args(&scan, "http://127.0.0.1:4954");
        assert_eq!(c.first().map(String::as_str), Some("image"));
        assert_eq!(
            c.get(1).map(String::as_str),
            Some("--server=http://127.0.0.1:4954")
        );
        assert!(
            c.ends_with(&["--".to_string(), "--help".to_string()]),
            "{c:?}"
        );
    }

    fn opts() -> RunOptions {
        RunOptions {
            cache_dir: PathBuf::from("/c"),
            scanners: vec!["vuln".into()],
            skip_db_update: false,
            offline_scan: false,
            db_repositories: vec![],
            java_db_repositories: vec![],
            insecure: false,
            timeout: Duration::from_secs(60),
        }
    }

    /// Issue 13 item 7: a target that looks like a flag stays a positional argument.
    #[test]
    fn targets_come_after_double_dash() {
        let a = args(
            &ScanTarget::Image("--help".into()),
            &opts(),
            Path::new("/o.json"),
        );
        assert_eq!(a[0], "image");
        assert_eq!(&a[a.len() - 2..], ["--", "--help"]);
        assert_eq!(a.iter().filter(|x| *x == "--help").count(), 1);
        let a = args(
            &ScanTarget::Rootfs("-x".into()),
            &opts(),
            Path::new("/o.json"),
        );
        assert_eq!(&a[a.len() - 2..], ["--", "-x"]);
        let a = args(
            &ScanTarget::Input("-t.tar".into()),
            &opts(),
            Path::new("-o.json"),
        );
        assert!(a.contains(&"--input=-t.tar".to_string()), "{a:?}");
        assert!(a.contains(&"--output=-o.json".to_string()), "{a:?}");
        assert!(!a.contains(&"--".to_string()));
    }
}
