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
    let (stderr, status) =
        tokio::time::timeout(timeout.saturating_add(Duration::from_secs(30)), async {
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

#[cfg(test)]
mod tests {
    use super::*;

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
