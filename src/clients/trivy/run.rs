//! Running Trivy once, to a JSON report.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use super::{TrivyError, tail};
use crate::secret::Secret;

/// Registry credentials, handed to Trivy through its environment, never argv.
#[derive(Clone, Debug, Default)]
pub struct RegistryAuth {
    pub username: Option<String>,
    pub password: Option<Secret>,
    /// The token of the `trivy server` a client run asks (see [`super::server`]).
    pub server_token: Option<Secret>,
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
    // Trivy's own budget is `--timeout`; ours adds a margin for start-up and DB load.
    let limit = timeout.saturating_add(Duration::from_secs(30));
    run_within(binary, args, auth, timeout, limit, progress).await
}

async fn run_within(
    binary: &Path,
    args: &[String],
    auth: &RegistryAuth,
    timeout: Duration,
    limit: Duration,
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
    if let Some(t) = &auth.server_token {
        cmd.env("TRIVY_TOKEN", t.expose());
    }
    // Its own process group, so a timeout ends Trivy and everything it started.
    #[cfg(unix)]
    cmd.process_group(0);
    let mut child = cmd.spawn().map_err(|source| TrivyError::Spawn {
        path: binary.to_path_buf(),
        purpose: PURPOSE,
        source,
    })?;
    let pid = child.id();
    let reading = stderr_tail(child.stderr.take(), progress);
    tokio::pin!(reading);
    let mut kept: Option<Vec<u8>> = None;
    let waited = tokio::time::timeout(limit, async {
        loop {
            tokio::select! {
                k = &mut reading, if kept.is_none() => kept = Some(k),
                s = child.wait() => break s,
            }
        }
    })
    .await;
    let status = match waited {
        Ok(status) => status,
        Err(_) => {
            kill_group(pid);
            let _ = child.kill().await;
            return Err(TrivyError::Timeout {
                purpose: PURPOSE,
                secs: timeout.as_secs(),
            });
        }
    };
    // A child Trivy left behind may still hold stderr open: a short grace, then the group
    // is ended so its tail can be read to the end.
    let stderr = match kept {
        Some(k) => k,
        None => match tokio::time::timeout(Duration::from_secs(5), &mut reading).await {
            Ok(k) => k,
            Err(_) => {
                kill_group(pid);
                tokio::time::timeout(Duration::from_secs(1), &mut reading)
                    .await
                    .unwrap_or_default()
            }
        },
    };
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

/// The most of Trivy's stderr we keep: its last 64 KiB (the error is at the end).
pub const STDERR_KEEP: usize = 64 << 10;

/// Reads a child's stderr to its end: each line goes to `progress` as it comes (a line
/// longer than [`STDERR_KEEP`] in pieces), and only the last [`STDERR_KEEP`] bytes are kept.
async fn stderr_tail(
    stderr: Option<tokio::process::ChildStderr>,
    progress: &(dyn Fn(&str) + Send + Sync),
) -> Vec<u8> {
    use tokio::io::AsyncReadExt;
    let Some(mut stderr) = stderr else {
        return Vec::new();
    };
    let emit = |line: &[u8]| {
        let text = String::from_utf8_lossy(line);
        let text = text.trim_end();
        if !text.is_empty() {
            progress(text);
        }
    };
    let mut keep = Vec::new();
    let mut line = Vec::new();
    let mut overlong = false;
    let mut buf = vec![0u8; 16 << 10];
    loop {
        match stderr.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                let chunk = buf.get(..n).unwrap_or_default();
                keep.extend_from_slice(chunk);
                if keep.len() > 2 * STDERR_KEEP {
                    keep.drain(..keep.len() - STDERR_KEEP);
                }
                for piece in chunk.split_inclusive(|b| *b == b'\n') {
                    let ends = piece.ends_with(b"\n");
                    if !overlong {
                        line.extend_from_slice(piece);
                        if line.len() >= STDERR_KEEP {
                            // One log line for an endless line: its start, then nothing
                            // more of it (the kept tail still has its end).
                            line.truncate(STDERR_KEEP);
                            emit(&line);
                            line.clear();
                            overlong = true;
                        } else if ends {
                            emit(&line);
                            line.clear();
                        }
                    }
                    if ends {
                        overlong = false;
                    }
                }
            }
        }
    }
    emit(&line);
    if keep.len() > STDERR_KEEP {
        keep.drain(..keep.len() - STDERR_KEEP);
    }
    keep
}

/// SIGKILL to the process group `pid` leads (Trivy and its children).
#[cfg(unix)]
fn kill_group(pid: Option<u32>) {
    if let Some(pid) = pid.and_then(|p| i32::try_from(p).ok()).filter(|p| *p > 0) {
        // SAFETY: kill(2) with a negative pid signals that process group; no memory is involved.
        unsafe {
            libc::kill(-pid, libc::SIGKILL);
        }
    }
}

#[cfg(not(unix))]
fn kill_group(_: Option<u32>) {}

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

#[cfg(all(test, unix))]
// A test module: clippy's allow-*-in-tests does not see `cfg(all(test, unix))` as one.
#[allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
mod process_tests {
    use super::*;

    fn script(dir: &Path, body: &str) -> std::path::PathBuf {
        use std::os::unix::fs::PermissionsExt;
        let p = dir.join("trivy");
        std::fs::write(&p, format!("#!/bin/sh\n{body}\n")).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        p
    }

    /// Gone, or a zombie waiting for init (it no longer runs).
    fn is_dead(pid: i32) -> bool {
        match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
            Err(_) => true,
            Ok(s) => s
                .rsplit(')')
                .next()
                .is_some_and(|r| r.trim_start().starts_with('Z')),
        }
    }

    #[tokio::test]
    async fn a_timeout_kills_trivys_whole_process_group() {
        let d = tempfile::tempdir().unwrap();
        let pidfile = d.path().join("grandchild.pid");
        let t = script(
            d.path(),
            &format!("sleep 300 &\necho $! > {}\nwait", pidfile.display()),
        );
        let e = run_within(
            &t,
            &[],
            &RegistryAuth::default(),
            Duration::from_secs(1),
            Duration::from_secs(2),
            &|_| {},
        )
        .await
        .unwrap_err();
        assert!(matches!(e, TrivyError::Timeout { .. }), "{e}");
        let pid: i32 = std::fs::read_to_string(&pidfile)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        let mut dead = false;
        for _ in 0..100 {
            if is_dead(pid) {
                dead = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        if !dead {
            // SAFETY: cleaning up the process this test started.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
        assert!(dead, "the grandchild {pid} survived the timeout");
    }

    #[tokio::test]
    async fn a_child_left_holding_stderr_does_not_turn_a_failure_into_a_timeout() {
        let d = tempfile::tempdir().unwrap();
        let t = script(d.path(), "sleep 300 &\necho 'FATAL db corrupt' >&2\nexit 1");
        let e = run_within(
            &t,
            &[],
            &RegistryAuth::default(),
            Duration::from_secs(60),
            Duration::from_secs(60),
            &|_| {},
        )
        .await
        .unwrap_err();
        assert!(matches!(e, TrivyError::Failed { code: 1, .. }), "{e}");
        assert!(e.to_string().contains("FATAL db corrupt"), "{e}");
    }

    #[tokio::test]
    async fn stderr_is_capped_to_its_tail() {
        let d = tempfile::tempdir().unwrap();
        let t = script(
            d.path(),
            "head -c 3000000 /dev/zero | tr '\\0' x >&2; echo; echo 'FATAL the real reason' >&2; exit 1",
        );
        let mut cmd = tokio::process::Command::new(&t);
        cmd.stderr(Stdio::piped()).stdout(Stdio::null());
        let mut child = cmd.spawn().unwrap();
        let lines = std::sync::Mutex::new(0usize);
        let kept = stderr_tail(child.stderr.take(), &|_| *lines.lock().unwrap() += 1).await;
        // One endless line (the x's run into the FATAL line): logged once, its start only.
        assert_eq!(*lines.lock().unwrap(), 1, "an endless line is logged once");
        child.wait().await.unwrap();
        assert!(kept.len() <= STDERR_KEEP, "{}", kept.len());
        assert!(String::from_utf8_lossy(&kept).ends_with("FATAL the real reason\n"));
        let e = run(
            &t,
            &[],
            &RegistryAuth::default(),
            Duration::from_secs(60),
            &|_| {},
        )
        .await
        .unwrap_err();
        assert!(e.to_string().contains("FATAL the real reason"), "{e}");
    }
}
