//! Running Trivy once, to a JSON report.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use super::{TrivyError, tail};
use crate::secret::Secret;

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

/// Registry credentials, handed to Trivy through its environment, never argv.
#[derive(Clone, Debug, Default)]
pub struct RegistryAuth {
    pub username: Option<String>,
    pub password: Option<Secret>,
}

/// The arguments of the one Trivy run (shown by `--dry-run`). Gate settings are *not*
/// passed: the report holds every finding and we decide what counts.
pub fn args(target: &ScanTarget, opts: &RunOptions, output: &Path) -> Vec<String> {
    let mut a: Vec<String> = Vec::new();
    match target {
        ScanTarget::Image(r) => a.extend(["image".into(), r.clone()]),
        ScanTarget::Input(p) => {
            a.extend(["image".into(), "--input".into(), p.display().to_string()])
        }
        ScanTarget::Rootfs(p) => a.extend(["rootfs".into(), p.display().to_string()]),
    }
    a.extend([
        "--format".into(),
        "json".into(),
        "--output".into(),
        output.display().to_string(),
        "--scanners".into(),
        opts.scanners.join(","),
        // Every severity, exit 0 on findings, no ignore file: the gate is ours.
        "--severity".into(),
        "UNKNOWN,LOW,MEDIUM,HIGH,CRITICAL".into(),
        "--exit-code".into(),
        "0".into(),
        "--ignorefile".into(),
        "/dev/null".into(),
        "--cache-dir".into(),
        opts.cache_dir.display().to_string(),
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
    a
}

/// Environment variables that would change what Trivy reports behind our back.
const SCRUBBED: &[&str] = &[
    "TRIVY_SEVERITY",
    "TRIVY_IGNORE_UNFIXED",
    "TRIVY_IGNOREFILE",
    "TRIVY_IGNORE_POLICY",
    "TRIVY_FORMAT",
    "TRIVY_OUTPUT",
    "TRIVY_TEMPLATE",
    "TRIVY_EXIT_CODE",
    "TRIVY_SKIP_FILES",
    "TRIVY_SKIP_DIRS",
    "TRIVY_VEX",
];

/// Runs Trivy with `args`; its stdout is discarded (the report is in the output file),
/// each stderr line goes to `progress` as it comes (Trivy's log: DB download, analysis)
/// and the stderr is kept for the error.
pub async fn run(
    binary: &Path,
    args: &[String],
    auth: &RegistryAuth,
    timeout: Duration,
    progress: &(dyn Fn(&str) + Send + Sync),
) -> Result<(), TrivyError> {
    const PURPOSE: &str = "scan the target";
    let mut cmd = tokio::process::Command::new(binary);
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    for v in SCRUBBED {
        cmd.env_remove(v);
    }
    if let Some(u) = &auth.username {
        cmd.env("TRIVY_USERNAME", u);
    }
    if let Some(p) = &auth.password {
        cmd.env("TRIVY_PASSWORD", p.expose());
    }
    let mut child = cmd.spawn().map_err(|source| TrivyError::Spawn {
        path: binary.to_path_buf(),
        purpose: PURPOSE,
        source,
    })?;
    let stderr = child.stderr.take().expect("stderr is piped");
    let lines = async {
        use tokio::io::AsyncBufReadExt;
        let mut kept = Vec::new();
        let mut reader = tokio::io::BufReader::new(stderr);
        let mut line = Vec::new();
        loop {
            line.clear();
            match reader.read_until(b'\n', &mut line).await {
                Ok(0) | Err(_) => break,
                Ok(_) => {
                    let text = String::from_utf8_lossy(&line);
                    let text = text.trim_end();
                    if !text.is_empty() {
                        progress(text);
                    }
                    kept.extend_from_slice(&line);
                }
            }
        }
        kept
    };
    // Trivy's own budget is `--timeout`; ours adds a margin for start-up and DB load.
    let (stderr, status) = tokio::time::timeout(timeout + Duration::from_secs(30), async {
        tokio::join!(lines, child.wait())
    })
    .await
    .map_err(|_| TrivyError::Timeout {
        purpose: PURPOSE,
        secs: timeout.as_secs(),
    })?;
    let status = status.map_err(|source| TrivyError::Spawn {
        path: binary.to_path_buf(),
        purpose: PURPOSE,
        source,
    })?;
    let out = std::process::Output {
        status,
        stdout: Vec::new(),
        stderr,
    };
    if out.status.success() {
        return Ok(());
    }
    let tail = tail(&out.stderr, 15);
    match out.status.code() {
        Some(code) => Err(TrivyError::Failed {
            purpose: PURPOSE,
            code,
            tail,
        }),
        None => Err(TrivyError::Crashed {
            purpose: PURPOSE,
            how: signal_name(&out.status),
            tail,
        }),
    }
}

#[cfg(unix)]
fn signal_name(s: &std::process::ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match s.signal() {
        Some(9) => "killed by SIGKILL".into(),
        Some(11) => "segmentation fault".into(),
        Some(6) => "aborted".into(),
        Some(n) => format!("killed by signal {n}"),
        None => "no exit code".into(),
    }
}

#[cfg(not(unix))]
fn signal_name(_: &std::process::ExitStatus) -> String {
    "no exit code".into()
}
