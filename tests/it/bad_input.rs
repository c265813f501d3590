//! The bad-input table (issue 13): each row runs the real binary with one bad input
//! (a flag, an `INPUT_*` variable or a config file value) and expects exit 2 (or 3 for
//! an external failure) with a message naming the input, never a panic, and within a
//! deadline. Nothing here needs Azure or a cluster: `--dry-run`, `/bin/false` as Trivy
//! and files in a scratch directory.

use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::tools::bin;

const D: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
/// Every row finishes well inside this, or the test fails.
const DEADLINE: Duration = Duration::from_secs(20);

struct Row {
    args: Vec<String>,
    env: Vec<(String, String)>,
    /// `aks-backend.toml` in the working directory.
    config: Option<String>,
    /// The output must name this (the input, or the offending value).
    names: String,
}

fn row(args: &[&str], names: &str) -> Row {
    Row {
        args: args.iter().map(|s| s.to_string()).collect(),
        env: Vec::new(),
        config: None,
        names: names.into(),
    }
}

fn env_row(args: &[&str], var: &str, value: &str, names: &str) -> Row {
    Row {
        env: vec![(var.into(), value.into())],
        ..row(args, names)
    }
}

fn config_row(args: &[&str], toml: &str, names: &str) -> Row {
    Row {
        config: Some(toml.into()),
        ..row(args, names)
    }
}

fn img() -> String {
    format!("myreg.azurecr.io/team/api@{D}")
}

fn table() -> Vec<Row> {
    let img = img();
    let img = img.as_str();
    let deploy = |extra: &[&str]| -> Vec<String> {
        let mut a = vec!["deploy", "--dry-run", "--image", img];
        a.extend_from_slice(extra);
        a.into_iter().map(String::from).collect()
    };
    let scan = |extra: &[&str]| -> Vec<String> {
        let mut a = vec!["scan", "--dry-run", "--trivy-path", "/bin/false"];
        a.extend_from_slice(extra);
        a.into_iter().map(String::from).collect()
    };
    let build = |extra: &[&str]| -> Vec<String> {
        let mut a = vec!["build", "--dry-run"];
        a.extend_from_slice(extra);
        a.into_iter().map(String::from).collect()
    };
    let r = |args: Vec<String>, names: &str| Row {
        args,
        env: Vec::new(),
        config: None,
        names: names.into(),
    };
    let mut rows = vec![
        // --- deploy: numbers (issue 13 items 5, 6) ---
        r(deploy(&["--replicas", "4294967296"]), "--replicas"),
        r(deploy(&["--replicas", "99999999999"]), "--replicas"),
        r(deploy(&["--replicas", "0"]), "--replicas"),
        r(deploy(&["--replicas=-1"]), "--replicas"),
        r(deploy(&["--replicas", "two"]), "--replicas"),
        r(
            deploy(&["--replicas", "18446744073709551616"]),
            "--replicas",
        ),
        r(deploy(&["--timeout", "18446744073709551615"]), "--timeout"),
        r(deploy(&["--timeout", "18446744073709551615h"]), "--timeout"),
        r(deploy(&["--timeout", "0"]), "--timeout"),
        r(deploy(&["--timeout", "25h"]), "--timeout"),
        r(deploy(&["--timeout", "5 minutes"]), "--timeout"),
        r(deploy(&["--port", "0"]), "--port"),
        r(deploy(&["--port", "65536"]), "--port"),
        r(deploy(&["--port", "4294967377"]), "--port"),
        r(deploy(&["--cpu-target", "0"]), "--cpu-target"),
        r(deploy(&["--cpu-target", "4294967366"]), "--cpu-target"),
        r(deploy(&["--max-replicas", "4294967296"]), "--max-replicas"),
        r(
            deploy(&["--max-replicas", "3", "--min-replicas", "0"]),
            "--min-replicas",
        ),
        r(
            deploy(&["--max-replicas", "2", "--min-replicas", "5"]),
            "--max-replicas",
        ),
        r(deploy(&["--max-restarts", "4294967296"]), "--max-restarts"),
        r(deploy(&["--max-restarts", "1001"]), "--max-restarts"),
        r(deploy(&["--secret-env", "A=../x"]), "--secret-env"),
        r(deploy(&["--secret-env", "A=a/b"]), "--secret-env"),
        r(deploy(&["--secret-env", "1A=x"]), "--secret-env"),
        r(deploy(&["--secret-env", "noequals"]), "--secret-env"),
        r(deploy(&["--env", "A-B=1"]), "--env"),
        r(deploy(&["--cpu", "lots"]), "--cpu"),
        r(deploy(&["--memory", "1GB"]), "--memory"),
        r(deploy(&["--namespace", "Web"]), "--namespace"),
        r(deploy(&["--app=-api"]), "--app"),
        r(deploy(&["--host", "localhost"]), "--host"),
        r(deploy(&["--health-path", "healthz"]), "--health-path"),
        r(deploy(&["--allow-cidr", "10.0.0.1/8"]), "--allow-cidr"),
        r(deploy(&["--allow-cidr", "everyone"]), "--allow-cidr"),
        r(
            deploy(&[
                "--component",
                &format!("name=w,image={img},replicas=4294967296"),
            ]),
            "--component",
        ),
        r(
            deploy(&["--component", &format!("name=w,image={img},port=70000")]),
            "--component",
        ),
        r(
            deploy(&[
                "--component",
                &format!("name=w,image={img},max-replicas=99999999999"),
            ]),
            "--component",
        ),
        r(deploy(&["--component", "name=w"]), "--component"),
        r(
            deploy(&["--component", &format!("name=W,image={img}")]),
            "--component",
        ),
        r(
            deploy(&["--component", &format!("name=w,image={img},bogus=1")]),
            "--component",
        ),
        r(deploy(&["--no-rollback", "maybe"]), "--no-rollback"),
        // --- deploy: image references (item 7) ---
        row(
            &["deploy", "--dry-run", "--image", &format!("UPPER/Case@{D}")],
            "--image",
        ),
        row(
            &["deploy", "--dry-run", "--image", "a@sha256:short"],
            "--image",
        ),
        row(
            &["deploy", "--dry-run", "--image", "myreg.azurecr.io/api:v1"],
            "--image",
        ),
        row(
            &["deploy", "--dry-run", "--image", &format!("a\nb@{D}")],
            "--image",
        ),
        row(
            &["deploy", "--dry-run", "--image", &format!("a/../b@{D}")],
            "--image",
        ),
        row(
            &["deploy", "--dry-run", "--image", &format!("a//b@{D}")],
            "--image",
        ),
        row(
            &["deploy", "--dry-run", &format!("--image=-a@{D}")],
            "--image",
        ),
        row(
            &["deploy", "--dry-run", "--manifests", "/nonexistent/m.yaml"],
            "--manifests",
        ),
        row(&["deploy", "--dry-run"], "--image"),
        // --- scan (items 5, 7) ---
        r(
            scan(&[
                "--image",
                "r.io/a",
                "--trivy-timeout",
                "18446744073709551615",
            ]),
            "--trivy-timeout",
        ),
        r(
            scan(&["--image", "r.io/a", "--trivy-timeout", "0"]),
            "--trivy-timeout",
        ),
        r(
            scan(&["--image", "r.io/a", "--trivy-timeout", "1x"]),
            "--trivy-timeout",
        ),
        r(scan(&["--image", "UPPER/Case"]), "--image"),
        r(scan(&["--image", "a@sha256:short"]), "--image"),
        r(scan(&["--image", "a\nb"]), "--image"),
        r(scan(&["--image=--help"]), "--image"),
        r(scan(&["--image=-q"]), "--image"),
        r(scan(&["--image", "a b"]), "--image"),
        r(scan(&["--image", "a:-tag"]), "--image"),
        r(scan(&["--rootfs", "/nonexistent"]), "--rootfs"),
        r(scan(&["--input", "/nonexistent.tar"]), "--input"),
        r(
            scan(&["--trivy-report", "/nonexistent.json"]),
            "--trivy-report",
        ),
        r(
            scan(&["--image", "r.io/a", "--summary-top", "99999999999999999999"]),
            "--summary-top",
        ),
        r(
            scan(&["--image", "r.io/a", "--summary-top", "1001"]),
            "--summary-top",
        ),
        r(
            scan(&["--image", "r.io/a", "--severity", "SEVERE"]),
            "--severity",
        ),
        r(
            scan(&["--image", "r.io/a", "--scanners", "rootkit"]),
            "--scanners",
        ),
        r(
            scan(&["--image", "r.io/a", "--trivy-source", "ftp"]),
            "--trivy-source",
        ),
        r(
            scan(&["--image", "r.io/a", "--sarif-wait", "2h"]),
            "--sarif-wait",
        ),
        r(
            scan(&["--image", "r.io/a", "--sarif-wait", "99999999999999999999s"]),
            "--sarif-wait",
        ),
        r(
            scan(&["--image", "r.io/a", "--input", "/etc/hostname"]),
            "more than one scan target",
        ),
        r(scan(&[]), "nothing to scan"),
        // --- build ---
        r(build(&["--image", "UPPER/Case"]), "--image"),
        r(build(&["--image", "r.io/a..b"]), "--image"),
        r(build(&["--image", "r.io/a@sha256:00"]), "--image"),
        r(build(&["--image", "r.io/api", "--tag=-bad"]), "--tag"),
        // One platform per build: the engine's image store holds one (issue 14 item 4).
        r(
            build(&[
                "--image",
                "r.io/api",
                "--platform",
                "linux/amd64",
                "--platform",
                "linux/arm64",
            ]),
            "one platform is supported",
        ),
        r(
            build(&["--image", "r.io/api", "--builder", "kaniko"]),
            "--builder",
        ),
        r(
            build(&["--image", "r.io/api", "--cache-to", "s3"]),
            "--cache-to",
        ),
        r(
            build(&["--image", "r.io/api", "--build-arg", "=x"]),
            "--build-arg",
        ),
        r(
            build(&["--image", "r.io/api", "--secret", "id=x,what=y"]),
            "--secret",
        ),
        // --- refer ---
        row(
            &[
                "refer",
                "--dry-run",
                "--resource-group",
                "rg",
                "--subscription-id",
                "not-a-guid",
            ],
            "--subscription-id",
        ),
        row(
            &[
                "refer",
                "--dry-run",
                "--resource-group",
                "rg/..",
                "--subscription-id",
                "00000000-0000-0000-0000-000000000000",
            ],
            "--resource-group",
        ),
        row(
            &[
                "refer",
                "--dry-run",
                "--resource-group",
                "rg",
                "--subscription-id",
                "00000000-0000-0000-0000-000000000000",
                "--arm-endpoint",
                "http://management.example.com",
            ],
            "--arm-endpoint",
        ),
        row(
            &[
                "refer",
                "--dry-run",
                "--resource-group",
                "rg",
                "--subscription-id",
                "00000000-0000-0000-0000-000000000000",
                "--auth-type",
                "magic",
            ],
            "--auth-type",
        ),
        row(
            &[
                "refer",
                "--dry-run",
                "--resource-group",
                "rg",
                "--subscription-id",
                "00000000-0000-0000-0000-000000000000",
                "--require",
                "mainframe",
            ],
            "--require",
        ),
        row(
            &[
                "refer",
                "--dry-run",
                "--resource-group",
                "rg",
                "--subscription-id",
                "00000000-0000-0000-0000-000000000000",
                "--discovery-tags",
                "novalue",
            ],
            "--discovery-tags",
        ),
        // --- run ---
        row(&["run", "--dry-run", "--steps", "refer,bogus"], "bogus"),
        row(
            &[
                "run",
                "--dry-run",
                "--replicas",
                "4294967296",
                "--steps",
                "deploy",
                "--image",
                img,
            ],
            "--replicas",
        ),
        row(
            &[
                "run",
                "--dry-run",
                "--trivy-timeout",
                "18446744073709551615",
                "--steps",
                "scan",
                "--image",
                "r.io/a",
            ],
            "--trivy-timeout",
        ),
        row(&["deploy", "--not-a-flag"], "--not-a-flag"),
        // --- CI inputs (INPUT_*) ---
        env_row(
            &["build", "--dry-run", "--image", "r.io/api"],
            "INPUT_PLATFORMS",
            "linux/amd64,linux/arm64",
            "one platform is supported",
        ),
        env_row(
            &["deploy", "--dry-run", "--image", img],
            "INPUT_REPLICAS",
            "4294967296",
            "INPUT_REPLICAS",
        ),
        env_row(
            &["deploy", "--dry-run", "--image", img],
            "INPUT_TIMEOUT",
            "18446744073709551615",
            "INPUT_TIMEOUT",
        ),
        env_row(
            &["deploy", "--dry-run", "--image", img],
            "INPUT_CPU-TARGET",
            "0",
            "cpu-target",
        ),
        env_row(
            &["deploy", "--dry-run"],
            "INPUT_IMAGE",
            &format!("UPPER/Case@{D}"),
            "INPUT_IMAGE",
        ),
        env_row(
            &["scan", "--dry-run", "--trivy-path", "/bin/false"],
            "INPUT_IMAGE",
            "--help",
            "INPUT_IMAGE",
        ),
        env_row(
            &[
                "scan",
                "--dry-run",
                "--trivy-path",
                "/bin/false",
                "--image",
                "r.io/a",
            ],
            "INPUT_TRIVY-TIMEOUT",
            "18446744073709551615",
            "trivy-timeout",
        ),
        // --- config file values ---
        config_row(
            &["deploy", "--dry-run", "--image", img],
            "[deploy]\nreplicas = \"4294967296\"\n",
            "replicas",
        ),
        config_row(
            &["deploy", "--dry-run", "--image", img],
            "[deploy]\ntimeout = \"18446744073709551615\"\n",
            "timeout",
        ),
        config_row(
            &["deploy", "--dry-run", "--image", img],
            "[deploy]\nsecret-env = [\"A=../x\"]\n",
            "secret-env",
        ),
        config_row(
            &["scan", "--dry-run", "--trivy-path", "/bin/false"],
            "[scan]\nimage = \"UPPER/Case\"\n",
            "image",
        ),
        config_row(
            &[
                "scan",
                "--dry-run",
                "--trivy-path",
                "/bin/false",
                "--image",
                "r.io/a",
            ],
            "[scan]\ntrivy-timeout = \"99999999999999999999m\"\n",
            "trivy-timeout",
        ),
        config_row(
            &["deploy", "--dry-run", "--image", img],
            "[deploy]\nreplicaz = \"2\"\n",
            "replicaz",
        ),
        config_row(
            &["deploy", "--dry-run", "--image", img],
            "[deploy\n",
            "aks-backend.toml",
        ),
    ];
    // A user manifest whose annotations are a string (item 5): exit 2 naming the file.
    rows.push(row(
        &["deploy", "--dry-run", "--manifests", "bad-annotations.yaml"],
        "bad-annotations.yaml",
    ));
    rows
}

/// Runs one row in a fresh directory; returns (exit code, stdout + stderr).
fn run(r: &Row, dir: &Path) -> (Option<i32>, String) {
    if let Some(c) = &r.config {
        std::fs::write(dir.join("aks-backend.toml"), c).unwrap();
    }
    std::fs::write(dir.join("Dockerfile"), "FROM scratch\n").unwrap();
    std::fs::write(
        dir.join("bad-annotations.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cfg\n  annotations: oops\n",
    )
    .unwrap();
    let mut child = Command::new(bin())
        .args(&r.args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", dir)
        .envs(r.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let readers = [
        std::thread::spawn(move || {
            let mut s = String::new();
            let _ = out.read_to_string(&mut s);
            s
        }),
        std::thread::spawn(move || {
            let mut s = String::new();
            let _ = err.read_to_string(&mut s);
            s
        }),
    ];
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if start.elapsed() > DEADLINE {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{:?} did not finish within {DEADLINE:?}", r.args);
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let text: String = readers.into_iter().map(|h| h.join().unwrap()).collect();
    (status.code(), text)
}

#[test]
fn every_bad_input_is_exit_2_naming_the_input_and_never_a_panic() {
    let rows = table();
    assert!(rows.len() >= 80, "the table has {} rows", rows.len());
    let mut problems = Vec::new();
    for r in &rows {
        let dir = tempfile::tempdir().unwrap();
        let (code, text) = run(r, dir.path());
        let what = format!("{:?} {:?} {:?}", r.args, r.env, r.config);
        if text.contains("panicked at") || code == Some(101) {
            problems.push(format!("{what}: PANIC\n{text}"));
            continue;
        }
        if !matches!(code, Some(2) | Some(3)) {
            problems.push(format!("{what}: exit {code:?}, want 2\n{text}"));
            continue;
        }
        if !text.contains(&r.names) {
            problems.push(format!(
                "{what}: the message does not name `{}`\n{text}",
                r.names
            ));
            continue;
        }
        let says_what_is_right = ["hint:", "expected", "tip:", "Usage:", "give "]
            .iter()
            .any(|w| text.contains(w));
        if !says_what_is_right {
            problems.push(format!("{what}: no hint of what would be right\n{text}"));
        }
    }
    assert!(
        problems.is_empty(),
        "{} of {} rows failed:\n\n{}",
        problems.len(),
        rows.len(),
        problems.join("\n\n")
    );
}
