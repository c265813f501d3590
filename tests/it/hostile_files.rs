//! Files from the workspace are outside input (issue 13, items 3 and 4): a symlink
//! committed in the repository must not redirect a write or a read, and a device, FIFO
//! or huge file must not exhaust memory or hang. Each is exit 2 naming the file.

use std::path::Path;
use std::sync::mpsc;
use std::time::Duration;

use aks_backend::error::Exit;

use crate::support::cli::{self, Outcome};
use crate::support::tools;

fn fixture_report() -> String {
    tools::trivy_fixture()
        .join("expected/image.json")
        .display()
        .to_string()
}

/// Runs the CLI on a thread; a hang fails the test instead of the whole suite.
fn run_bounded(args: &[&str], cwd: &Path) -> Outcome {
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    let cwd = cwd.to_path_buf();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let a: Vec<&str> = args.iter().map(String::as_str).collect();
        let _ = tx.send(cli::run(&a, &[], &cwd));
    });
    rx.recv_timeout(Duration::from_secs(120))
        .expect("the command hung on a hostile file")
}

fn scan_report(dir: &Path, extra: &[&str]) -> Outcome {
    let report = fixture_report();
    let mut args = vec!["scan", "--trivy-report", &report];
    args.extend_from_slice(extra);
    run_bounded(&args, dir)
}

fn mkfifo(p: &Path) {
    let c = std::ffi::CString::new(p.to_str().unwrap()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
}

#[test]
fn a_symlink_at_the_sarif_temp_name_does_not_redirect_the_write() {
    let dir = tempfile::tempdir().unwrap();
    let outside = dir.path().join("outside.txt");
    std::fs::write(&outside, "keep me").unwrap();
    // The name the temp file used to have, committed as a link to a file elsewhere.
    std::os::unix::fs::symlink(&outside, dir.path().join("out.sarif.partial")).unwrap();
    let out = scan_report(dir.path(), &["--sarif", "out.sarif"]);
    assert_eq!(out.exit, Exit::Refused, "{}", out.log);
    assert_eq!(std::fs::read_to_string(&outside).unwrap(), "keep me");
    assert!(
        std::fs::read_to_string(dir.path().join("out.sarif"))
            .unwrap()
            .contains("\"runs\"")
    );
}

#[test]
fn a_sarif_target_that_is_a_symlink_is_exit_2_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let outside = dir.path().join("outside.txt");
    std::fs::write(&outside, "keep me").unwrap();
    std::os::unix::fs::symlink(&outside, dir.path().join("out.sarif")).unwrap();
    let out = scan_report(dir.path(), &["--sarif", "out.sarif"]);
    assert_eq!(out.exit, Exit::BadInput, "{}", out.log);
    assert!(
        out.log
            .contains("out.sarif is a symbolic link, not a regular file"),
        "{}",
        out.log
    );
    assert_eq!(std::fs::read_to_string(&outside).unwrap(), "keep me");
}

#[test]
fn a_symlink_at_the_outputs_temp_name_does_not_redirect_the_write() {
    let dir = tempfile::tempdir().unwrap();
    let outside = dir.path().join("outside.txt");
    std::fs::write(&outside, "keep me").unwrap();
    std::os::unix::fs::symlink(&outside, dir.path().join("outputs.tmp-aks-backend")).unwrap();
    let out = scan_report(
        dir.path(),
        &["--sarif", "out.sarif", "--outputs-file", "outputs.json"],
    );
    assert_eq!(out.exit, Exit::Refused, "{}", out.log);
    assert_eq!(std::fs::read_to_string(&outside).unwrap(), "keep me");
    assert!(
        std::fs::read_to_string(dir.path().join("outputs.json"))
            .unwrap()
            .contains("\"gate\"")
    );
}

#[test]
fn an_outputs_file_that_is_a_device_is_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let out = scan_report(
        dir.path(),
        &["--sarif", "out.sarif", "--outputs-file", "/dev/null"],
    );
    assert_eq!(out.exit, Exit::BadInput, "{}", out.log);
    assert!(
        out.log.contains("/dev/null is a character device"),
        "{}",
        out.log
    );
}

#[test]
fn a_trivyignore_symlink_is_not_followed() {
    let dir = tempfile::tempdir().unwrap();
    let outside = dir.path().join("elsewhere");
    std::fs::write(&outside, "CVE-2099-0001\n").unwrap();
    std::os::unix::fs::symlink(&outside, dir.path().join(".trivyignore")).unwrap();
    let out = scan_report(dir.path(), &["--sarif", "out.sarif"]);
    assert_eq!(out.exit, Exit::BadInput, "{}", out.log);
    assert!(
        out.log.contains(".trivyignore is a symbolic link"),
        "{}",
        out.log
    );
}

#[test]
fn a_trivyignore_fifo_is_exit_2_not_a_hang() {
    let dir = tempfile::tempdir().unwrap();
    mkfifo(&dir.path().join(".trivyignore"));
    let out = scan_report(dir.path(), &["--sarif", "out.sarif"]);
    assert_eq!(out.exit, Exit::BadInput, "{}", out.log);
    assert!(out.log.contains(".trivyignore is a FIFO"), "{}", out.log);
}

#[test]
fn an_oversized_trivyignore_is_exit_2_stating_the_cap() {
    let dir = tempfile::tempdir().unwrap();
    let f = std::fs::File::create(dir.path().join(".trivyignore")).unwrap();
    f.set_len(2 << 20).unwrap();
    let out = scan_report(dir.path(), &["--sarif", "out.sarif"]);
    assert_eq!(out.exit, Exit::BadInput, "{}", out.log);
    assert!(out.log.contains("is larger than 1 MiB"), "{}", out.log);
}

#[test]
fn a_config_file_that_is_a_device_is_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let out = scan_report(
        dir.path(),
        &["--config", "/dev/zero", "--sarif", "out.sarif"],
    );
    assert_eq!(out.exit, Exit::BadInput, "{}", out.log);
    assert!(
        out.log.contains("/dev/zero is a character device"),
        "{}",
        out.log
    );
}

#[test]
fn a_trivy_report_fifo_is_exit_2_not_a_hang() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("report.json");
    mkfifo(&fifo);
    let out = run_bounded(
        &[
            "scan",
            "--trivy-report",
            fifo.to_str().unwrap(),
            "--sarif",
            "out.sarif",
        ],
        dir.path(),
    );
    assert_eq!(out.exit, Exit::BadInput, "{}", out.log);
    assert!(out.log.contains("report.json"), "{}", out.log);
}

#[test]
fn a_trivy_report_symlink_is_not_followed() {
    let dir = tempfile::tempdir().unwrap();
    let link = dir.path().join("report.json");
    std::os::unix::fs::symlink(fixture_report(), &link).unwrap();
    let out = run_bounded(
        &[
            "scan",
            "--trivy-report",
            link.to_str().unwrap(),
            "--sarif",
            "out.sarif",
        ],
        dir.path(),
    );
    assert_eq!(out.exit, Exit::BadInput, "{}", out.log);
    assert!(
        out.log.contains("report.json is a symbolic link"),
        "{}",
        out.log
    );
}

#[test]
fn a_manifest_fifo_is_exit_2_not_a_hang() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("app.yaml");
    mkfifo(&fifo);
    let out = run_bounded(
        &[
            "deploy",
            "--dry-run",
            "--namespace",
            "web",
            "--manifests",
            fifo.to_str().unwrap(),
        ],
        dir.path(),
    );
    assert_eq!(out.exit, Exit::BadInput, "{}", out.log);
    assert!(
        out.log.contains("manifest") && out.log.contains("is a FIFO"),
        "{}",
        out.log
    );
}

#[test]
fn a_kubeconfig_fifo_is_exit_2_not_a_hang() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("kubeconfig");
    mkfifo(&fifo);
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let r = rt.block_on(aks_backend::clients::kube::connect(&fifo));
        let _ = tx.send(r.err().map(|e| e.to_string()));
    });
    let e = rx
        .recv_timeout(Duration::from_secs(60))
        .expect("reading the kubeconfig hung")
        .expect("a FIFO is not a kubeconfig");
    assert!(e.contains("is a FIFO"), "{e}");
}
