//! The scan step: one Trivy run (or an existing report) -> SARIF with every finding,
//! the gate, and a Markdown summary, all from the same report.

use std::path::{Path, PathBuf};

use crate::clients::trivy::TrivyError;
use crate::clients::trivy::install::{self, LocateRequest, Located};
use crate::clients::trivy::results;
use crate::clients::trivy::run::{self, RegistryAuth};
use crate::clients::trivy::server;
use crate::env::Env;
use crate::error::{Error, Exit};
use crate::host::{Level, Location};
use crate::inputs::InputError;
use crate::inputs::settings::ScanSettings;
use crate::model::ScanFindings;
use crate::model::gate::{GatePolicy, GateResult, Verdict};
use crate::model::ignore::IgnoreList;
use crate::model::image_ref::ImageRef;
use crate::plan::scan::{self as scan_plan, ScanPlan, TrivyBinary, TrivyRun};
use crate::render::sarif::{self, SarifContext};
use crate::render::scan_summary::{self, SummaryContext};

use super::{Ctx, Group};

/// What the scan produced, for `run` and the PR comment.
#[derive(Debug)]
pub struct ScanOutcome {
    pub report: ScanFindings,
    pub gate: GateResult,
    pub summary: String,
    pub sarif_path: std::path::PathBuf,
    pub category: String,
    pub exit: Exit,
    /// What was scanned (image reference, tarball, directory).
    pub artifact: String,
    /// The gate's policy (which findings count), for the PR comment.
    pub policy: GatePolicy,
}

/// The scan's plan (what `--dry-run` prints), the Trivy binary it found on this machine
/// and the ignore list it will apply.
#[derive(Debug)]
pub struct Prepared {
    pub plan: ScanPlan,
    /// `None` when the plan runs no Trivy (an existing report).
    binary: Option<Located>,
    ignores: IgnoreList,
}

/// Everything that can be wrong with the input is checked here, before Trivy runs: a
/// Trivy that cannot be found or installed fails now, in a dry run too.
pub fn plan(ctx: &Ctx, s: &ScanSettings) -> Result<Prepared, Error> {
    let tool_cache = ctx.env.cache_home().join("aks-backend").join("trivy");
    let plan = ScanPlan::new(s, &ctx.env.temp_dir(), &tool_cache);
    let binary = match &plan.trivy {
        Some(t) => Some(locate(&ctx.env, s, &t.binary)?),
        None => None,
    };
    let ignores = IgnoreList::load_all(&s.trivyignores, s.trivyignore_required)?;
    Ok(Prepared {
        plan,
        binary,
        ignores,
    })
}

/// Where the planned Trivy is on this machine. Looks at the disk and `PATH`; changes
/// nothing (a download happens when the step runs).
fn locate(env: &Env, s: &ScanSettings, binary: &TrivyBinary) -> Result<Located, TrivyError> {
    let (explicit, tool_cache) = match binary {
        TrivyBinary::Given { path } => (Some(path.as_path()), Path::new("")),
        TrivyBinary::Search { tool_cache, .. } => (None, tool_cache.as_path()),
    };
    install::locate(&LocateRequest {
        explicit,
        search_path: env.get("PATH"),
        install_root: tool_cache,
        version: &s.trivy.version,
        source: s.trivy.source,
        base_url: s.trivy.download_url.as_deref(),
        allow_download: s.trivy.download,
        os: std::env::consts::OS,
        arch: std::env::consts::ARCH,
    })
}

/// One scan: Trivy (or the given report), the gate, the SARIF, the summary, the outputs.
pub async fn execute(
    ctx: &Ctx,
    s: &ScanSettings,
    prepared: Prepared,
) -> Result<ScanOutcome, Error> {
    let (o, report_path, plan) = scan_one(ctx, s, prepared, None).await?;
    ctx.host.summary("scan", &o.summary)?;
    say_verdict(ctx, &o.gate, &o.policy, &o.artifact);
    publish(ctx, s, &plan.sarif, &o.gate, &o.category, &report_path)?;
    Ok(o)
}

/// `scan --compose`: every image scanned once (one Trivy run each, one after the other:
/// Trivy is CPU-bound; with more than one image, as clients of one `trivy server` that
/// opens the DB once), one SARIF file holding one run per image (each with its own
/// `automationDetails` category), ONE gate over all of them, per-image counts in the
/// summary. `sarif` is where the combined SARIF goes.
pub async fn execute_each(
    ctx: &Ctx,
    each: Vec<(ScanSettings, Prepared)>,
) -> Result<(ScanOutcome, Vec<(String, ScanOutcome)>), Error> {
    let Some(first) = each.first().map(|(s, _)| s.clone()) else {
        return Err(InputError::Missing(
            "no image to scan".into(),
            "a Compose service with `image:` or `build:`".into(),
        )
        .into());
    };
    let server = start_server(ctx, &each).await?;
    let mut done = Vec::new();
    let mut sarifs = Vec::new();
    for (s, mut prepared) in each {
        let service = s.service.clone().unwrap_or_default();
        prepared.plan.sarif = per_image(&first.sarif, &service);
        let (o, _, plan) = scan_one(ctx, &s, prepared, server.as_ref()).await?;
        say_verdict(ctx, &o.gate, &o.policy, &o.artifact);
        sarifs.push(plan.sarif.clone());
        done.push((service, o));
    }
    if let Some(server) = server {
        server.stop().await;
    }
    merge_sarif(&first.sarif, &sarifs)?;
    let gate = combined_gate(done.iter().map(|(_, o)| &o.gate));
    let per_image: Vec<scan_summary::ImageRow<'_>> = done
        .iter()
        .map(|(svc, o)| scan_summary::ImageRow {
            service: svc,
            artifact: &o.artifact,
            gate: &o.gate,
        })
        .collect();
    let mut summary = scan_summary::images_table(&per_image, &gate);
    for (_, o) in &done {
        summary.push('\n');
        summary.push_str(&o.summary);
    }
    ctx.host.summary("scan", &summary)?;
    let categories: Vec<&str> = done.iter().map(|(_, o)| o.category.as_str()).collect();
    publish(
        ctx,
        &first,
        &first.sarif,
        &gate,
        &categories.join(","),
        Path::new(""),
    )?;
    let pinned: Vec<String> = done.iter().filter_map(|(_, o)| pinned(o)).collect();
    ctx.publish(
        &[("pinned-images", pinned.join("\n"))],
        first.outputs_file.as_deref(),
    )?;
    let exit = if gate.verdict == Verdict::Fail {
        Exit::Refused
    } else {
        Exit::Ok
    };
    let (_, head) = done.first().ok_or_else(|| {
        InputError::Missing("no image to scan".into(), "a Compose service".into())
    })?;
    let overall = ScanOutcome {
        report: head.report.clone(),
        gate,
        summary,
        sarif_path: first.sarif.clone(),
        category: categories.join(","),
        exit,
        artifact: format!("{} images", done.len()),
        policy: head.policy.clone(),
    };
    Ok((overall, done))
}

/// The image a scan looked at, pinned by digest: as given when it has one, else by the
/// digest Trivy scanned it at (its `RepoDigests` in the image's own repository), so
/// `run --compose` deploys an `image: proxy:1.27` service exactly as it was scanned,
/// even when the tag moves on afterwards. `None`: not an image, or no digest known.
fn pinned(o: &ScanOutcome) -> Option<String> {
    let mut image = ImageRef::parse(&o.artifact).ok()?;
    if image.digest.is_none() {
        image.digest = o.report.digest_in(&image.canonical_repository())?.digest;
    }
    Some(image.to_string())
}

/// One `trivy server` for several Trivy runs of the same Trivy and DB (none for one run,
/// or when reports are given): the DB is opened once. A server that does not start is a
/// warning, and each image is scanned on its own as without it.
async fn start_server(
    ctx: &Ctx,
    each: &[(ScanSettings, Prepared)],
) -> Result<Option<server::Server>, Error> {
    let runs: Vec<(&ScanSettings, &TrivyRun, &Located)> = each
        .iter()
        .filter_map(|(s, p)| Some((s, p.plan.trivy.as_ref()?, p.binary.as_ref()?)))
        .collect();
    let [(s, first, binary), rest @ ..] = runs.as_slice() else {
        return Ok(None);
    };
    let same = |(_, t, b): &(&ScanSettings, &TrivyRun, &Located)| {
        b.path() == binary.path()
            && t.options.cache_dir == first.options.cache_dir
            && t.options.db_repositories == first.options.db_repositories
    };
    if rest.is_empty() || !rest.iter().all(same) {
        return Ok(None);
    }
    let binary = install_trivy(ctx, s, binary).await?;
    let _group = Group::open(&ctx.host, "Start the Trivy server");
    let args = scan_plan::server_args(&first.options);
    ctx.host
        .info(&format!("{} {}", binary.display(), args.join(" ")));
    match server::start(&binary, &args, first.options.timeout).await {
        Ok(sv) => {
            ctx.host.info(&format!(
                "Trivy server at {}: the DB is opened once for {} scans",
                sv.url,
                runs.len()
            ));
            Ok(Some(sv))
        }
        Err(e) => {
            ctx.host.annotate(
                Level::Warning,
                &format!("{e}; each image is scanned on its own"),
                &Location::default(),
            );
            Ok(None)
        }
    }
}

/// `dir/trivy.sarif` -> `dir/trivy.SERVICE.sarif`.
fn per_image(sarif: &Path, service: &str) -> PathBuf {
    let stem = sarif
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "trivy".into());
    sarif.with_file_name(format!("{stem}.{service}.sarif"))
}

/// One SARIF log with every image's run (each keeps its own category).
fn merge_sarif(out: &Path, parts: &[PathBuf]) -> Result<(), Error> {
    let mut runs = Vec::new();
    let mut head: Option<serde_json::Value> = None;
    for p in parts {
        let text = crate::fsx::read_to_string(p, "SARIF", crate::fsx::Follow::No, 64 << 20)
            .map_err(InputError::from)?;
        let mut v: serde_json::Value = serde_json::from_str(&text).map_err(|e| {
            InputError::invalid(p.display().to_string(), e.to_string(), "the SARIF we wrote")
        })?;
        if let Some(r) = v.get_mut("runs").and_then(|r| r.as_array_mut()) {
            runs.append(r);
        }
        head.get_or_insert(v);
    }
    let mut log = head.unwrap_or_else(|| serde_json::json!({"version": "2.1.0"}));
    if let Some(o) = log.as_object_mut() {
        o.insert("runs".into(), serde_json::Value::Array(runs));
    }
    let bytes = serde_json::to_vec(&log)
        .map_err(|e| InputError::invalid(out.display().to_string(), e.to_string(), "SARIF"))?;
    crate::fsx::write(out, "the SARIF file", &bytes, 0o644).map_err(InputError::Fs)?;
    Ok(())
}

/// One verdict over every image: the worst of theirs, the counts summed.
fn combined_gate<'a>(gates: impl Iterator<Item = &'a GateResult>) -> GateResult {
    let mut all = GateResult {
        verdict: Verdict::Pass,
        total: Default::default(),
        counted: Default::default(),
        ignored: 0,
        unfixed_skipped: 0,
        expired_ignores: Vec::new(),
    };
    let rank = |v: Verdict| match v {
        Verdict::Pass => 0,
        Verdict::ReportOnly => 1,
        Verdict::Fail => 2,
    };
    for g in gates {
        if rank(g.verdict) > rank(all.verdict) {
            all.verdict = g.verdict;
        }
        for (a, b) in [(&mut all.total, &g.total), (&mut all.counted, &g.counted)] {
            a.critical += b.critical;
            a.high += b.high;
            a.medium += b.medium;
            a.low += b.low;
            a.unknown += b.unknown;
        }
        all.ignored += g.ignored;
        all.unfixed_skipped += g.unfixed_skipped;
        all.expired_ignores
            .extend(g.expired_ignores.iter().cloned());
    }
    all
}

/// Trivy, the gate, the SARIF and the summary of one artifact (published by the caller).
async fn scan_one(
    ctx: &Ctx,
    s: &ScanSettings,
    prepared: Prepared,
    server: Option<&server::Server>,
) -> Result<(ScanOutcome, PathBuf, ScanPlan), Error> {
    let Prepared {
        plan,
        binary,
        ignores,
    } = prepared;
    if let Some(p) = &s.trivy.password {
        ctx.host.mask(p);
    }
    let policy = GatePolicy {
        severities: s.severities.clone(),
        ignore_unfixed: s.ignore_unfixed,
        fail_on_findings: s.fail_on_findings,
        ignores,
        today: ctx.today,
    };

    let report_path = report_path(&plan)?;
    let trivy_version = match (&plan.trivy, &binary) {
        (Some(t), Some(binary)) => {
            run_trivy(ctx, s, &plan, t, binary, &report_path, server).await?;
            binary.version()
        }
        _ => None,
    };

    let report = results::read(&report_path)?;
    let artifact = if plan.artifact.is_empty() {
        report.artifact_name.clone()
    } else {
        plan.artifact.clone()
    };
    let gate = policy.evaluate(&report);

    let ignore_display = (s.trivyignores.iter())
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ");
    let sarif_ctx = SarifContext {
        artifact: &artifact,
        category: s.category.as_deref(),
        tool_version: env!("CARGO_PKG_VERSION"),
        trivy_version,
        ignore_file: &ignore_display,
    };
    let rendered = write_sarif(&plan.sarif, &report, &policy, &sarif_ctx)?;

    let summary = scan_summary::render(
        &report,
        &policy,
        &gate,
        &SummaryContext {
            artifact: &artifact,
            sarif_path: &plan.sarif.display().to_string(),
            top: s.summary_top,
            sarif_omitted: rendered.omitted,
        },
    );
    let exit = if gate.verdict == Verdict::Fail {
        Exit::Refused
    } else {
        Exit::Ok
    };
    let o = ScanOutcome {
        report,
        gate,
        summary,
        sarif_path: plan.sarif.clone(),
        category: rendered.category,
        exit,
        artifact,
        policy,
    };
    Ok((o, report_path, plan))
}

/// Writes the SARIF next to its final path and renames it into place; when it is over
/// GitHub's size limit, writes it again with the least severe quarter left out.
fn write_sarif(
    path: &std::path::Path,
    report: &ScanFindings,
    policy: &GatePolicy,
    ctx: &SarifContext<'_>,
) -> Result<sarif::Rendered, Error> {
    let err = |source| {
        Error::from(crate::host::HostError::Write {
            what: "the SARIF file",
            path: path.to_path_buf(),
            source,
        })
    };
    let mut max = sarif::GITHUB_MAX_RESULTS;
    loop {
        // A fresh, exclusively created temp file each time (never a committed symlink).
        let mut tmp = crate::fsx::TempFile::new(path, "the SARIF file", 0o644)
            .map_err(crate::host::HostError::from)?;
        let file = tmp.file();
        let rendered = sarif::render(report, policy, ctx, max, &mut *file).map_err(err)?;
        let fits = sarif::fits_github(rendered.bytes, || {
            use std::io::Seek;
            file.rewind()?;
            sarif::gzip_len(&mut *file)
        })
        .map_err(err)?;
        if fits || rendered.results == 0 {
            tmp.persist().map_err(crate::host::HostError::from)?;
            return Ok(rendered);
        }
        max = rendered.results - (rendered.results / 4).max(1);
    }
}

/// Where Trivy writes its report: the default location is a fresh private directory (see
/// the plan's field).
fn report_path(plan: &ScanPlan) -> Result<PathBuf, Error> {
    if plan.report_in_private_dir && plan.trivy.is_some() {
        let parent = plan.report.parent().unwrap_or(Path::new("."));
        Ok(crate::fsx::private_dir(parent, "aks-backend-trivy")
            .map_err(crate::clients::trivy::TrivyError::from)?
            .join("report.json"))
    } else {
        Ok(plan.report.clone())
    }
}

/// The pinned Trivy: found, cached and verified, or downloaded and verified.
async fn install_trivy(ctx: &Ctx, s: &ScanSettings, binary: &Located) -> Result<PathBuf, Error> {
    Ok(match binary {
        Located::Download { url, pin, dest, .. } => {
            let _group = Group::open(&ctx.host, "Install Trivy");
            ctx.host.info(&format!(
                "downloading Trivy {} from {url} (sha256 pinned: {})",
                pin.version, pin.sha256
            ));
            install::install(&ctx.http, url, pin, dest).await?
        }
        Located::Cached { path, pin, url } => match install::verify_cached(path, pin) {
            Ok(()) => path.clone(),
            // Not trusted on first use: a copy that fails its pin is replaced (when
            // downloads are allowed) or refused.
            Err(e) if s.trivy.download => {
                ctx.host.annotate(
                    Level::Warning,
                    &format!("{e}; installing the pinned Trivy again"),
                    &Location::default(),
                );
                let _group = Group::open(&ctx.host, "Install Trivy");
                install::install(&ctx.http, url, pin, path).await?
            }
            Err(e) => return Err(e.into()),
        },
        other => other.path().to_path_buf(),
    })
}

/// One Trivy run, writing the JSON report the rest of the step reads.
async fn run_trivy(
    ctx: &Ctx,
    s: &ScanSettings,
    plan: &ScanPlan,
    t: &TrivyRun,
    binary: &Located,
    report_path: &Path,
    server: Option<&server::Server>,
) -> Result<(), Error> {
    let args = if report_path == plan.report {
        t.args.clone()
    } else {
        scan_plan::args(&t.target, &t.options, report_path)
    };
    let args = match server {
        Some(sv) => scan_plan::client_args(&args, &sv.url),
        None => args,
    };
    let binary = install_trivy(ctx, s, binary).await?;
    let _group = Group::open(&ctx.host, &format!("Trivy scan of {}", plan.artifact));
    ctx.host
        .info(&format!("{} {}", binary.display(), args.join(" ")));
    if let Some(parent) = report_path.parent() {
        std::fs::create_dir_all(parent).map_err(|source| InputError::File {
            what: "report directory",
            path: parent.to_path_buf(),
            source,
        })?;
    }
    let auth = RegistryAuth {
        username: s.trivy.username.clone(),
        password: s.trivy.password.clone(),
        server_token: server.map(|sv| sv.token.clone()),
    };
    let host = &ctx.host;
    let progress = |line: &str| {
        let line: String = line.chars().filter(|c| !c.is_control()).collect();
        host.info(&format!("trivy: {line}"));
    };
    run::run(&binary, &args, &auth, t.options.timeout, &progress).await?;
    Ok(())
}

/// The gate's verdict as an annotation on the scan.
fn say_verdict(ctx: &Ctx, gate: &GateResult, policy: &GatePolicy, artifact: &str) {
    let verdict = scan_summary::verdict_line(gate, policy);
    let level = match gate.verdict {
        Verdict::Pass => Level::Notice,
        Verdict::ReportOnly => Level::Warning,
        Verdict::Fail => Level::Error,
    };
    ctx.host.annotate(
        level,
        &verdict,
        &Location {
            title: Some(format!("Scan of {artifact}")),
            ..Default::default()
        },
    );
}

/// The scan's outputs, on the host and in `--outputs-file`.
fn publish(
    ctx: &Ctx,
    s: &ScanSettings,
    sarif: &Path,
    gate: &GateResult,
    category: &str,
    report_path: &Path,
) -> Result<(), Error> {
    let outputs = [
        ("gate", gate.verdict.as_str().to_string()),
        ("findings", gate.total.total().to_string()),
        ("counted", gate.counted.total().to_string()),
        ("critical", gate.total.critical.to_string()),
        ("high", gate.total.high.to_string()),
        ("medium", gate.total.medium.to_string()),
        ("low", gate.total.low.to_string()),
        ("unknown", gate.total.unknown.to_string()),
        ("sarif", sarif.display().to_string()),
        ("sarif-category", category.to_string()),
        ("report", report_path.display().to_string()),
    ];
    ctx.publish(&outputs, s.outputs_file.as_deref())
}
