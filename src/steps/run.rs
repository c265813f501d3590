//! Sequencing steps: one (`aks-backend scan`) or all four (`aks-backend run`).
//!
//! Both go through [`one`]: resolve the step's settings (earlier steps' outputs from the
//! state file feed later ones), run it, keep its outputs in the state file, put its row
//! in the report and update the PR comment. `run` stops at the first step that fails and
//! prints one timing breakdown: each step's wall time, and within them the time spent
//! waiting on other programs (engine, registry, Trivy, cluster) versus our own work.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use crate::clients::acr::{self, Acr};
use crate::clients::azure::credential::{ACR_SCOPE, Credential};
use crate::clients::http::Limits;
use crate::error::{Error, Exit};
use crate::inputs::catalog::Step;
use crate::inputs::settings::{
    AddonSettings, AzureSettings, BuildSettings, DeploySettings, InfraSettings, NetSettings, Phase,
    ReferSettings, ReportSettings, ScanInput, ScanSettings,
};
use crate::inputs::{ConfigFile, Flags, InputError, Resolved};
use crate::model::pipeline::{Fact, Report, StepReport, StepStatus};
use crate::secret::Secret;
use crate::state::State;

use super::{Ctx, build, deploy, github_deployment, infra, infra_cluster, refer, report, scan};

/// What the CLI hands over: the command line's values and the config file.
pub struct Inputs<'a> {
    pub flags: &'a Flags,
    pub config: Option<&'a ConfigFile>,
}

impl Inputs<'_> {
    fn resolve(&self, ctx: &Ctx, step: Step, state: Option<&State>) -> Resolved {
        Resolved::resolve(step, self.flags, &ctx.env, self.config, state)
    }
}

/// Where the state file is: `--state`, or the default for this job.
fn state_path(ctx: &Ctx, r: &Resolved) -> std::path::PathBuf {
    r.path(&ctx.env, "state")
        .unwrap_or_else(|| State::default_path(&ctx.env, &ctx.ci))
}

/// The report to add this step's row to: the state's, when it is for the same app.
fn report_for(ctx: &Ctx, rs: &ReportSettings, state: &State, app: &str) -> Report {
    let fresh = report::new_report(ctx, rs, app);
    match &state.report {
        Some(r) if r.key == fresh.key && r.run == fresh.run => r.clone(),
        _ => fresh,
    }
}

/// The app name for the report key: `--app`, else from the image, else the directory.
fn app_name(r: &Resolved, ctx: &Ctx) -> String {
    if let Some(a) = r.string("app") {
        return a;
    }
    if let Some(i) = r.string("image") {
        return report::app_from_image(&i);
    }
    ctx.env
        .cwd()
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "app".into())
}

/// Sets the HTTP room's limits from the (global) network settings, before any call.
fn configure_http(ctx: &Ctx, r: &Resolved) -> Result<(), Error> {
    let n = NetSettings::resolve(r)?;
    ctx.http.configure(Limits {
        connect: n.connect_timeout,
        read: n.read_timeout,
        total: n.timeout,
    });
    Ok(())
}

/// `aks-backend <step>`.
pub async fn single(ctx: &Ctx, step: Step, inputs: &Inputs<'_>) -> Result<Exit, Error> {
    let bare = inputs.resolve(ctx, step, None);
    configure_http(ctx, &bare)?;
    let path = state_path(ctx, &bare);
    let mut state = State::load(&path)?;
    let resolved = inputs.resolve(ctx, step, Some(&state));
    let rs = ReportSettings::resolve(&resolved, &ctx.env)?;
    let mut report = report_for(ctx, &rs, &state, &app_name(&resolved, ctx));
    let (exit, _) = one(
        ctx,
        step,
        &resolved,
        &rs,
        &mut state,
        &mut report,
        &path,
        None,
    )
    .await?;
    Ok(exit)
}

/// One step's wall time, for the breakdown.
#[derive(Debug)]
struct Timing {
    step: Step,
    wall: Duration,
    status: &'static str,
}

/// `aks-backend run`: [infra ->] refer -> build -> scan -> deploy in one process.
pub async fn all(ctx: &Ctx, inputs: &Inputs<'_>) -> Result<Exit, Error> {
    let started = Instant::now();
    let bare = inputs.resolve(ctx, Step::Scan, None);
    configure_http(ctx, &bare)?;
    let path = state_path(ctx, &bare);
    // A run starts a fresh state: earlier runs' outputs must not leak in.
    let mut state = State::default();
    let wanted = wanted_steps(&bare)?;
    let rs = ReportSettings::resolve(&bare, &ctx.env)?;
    let mut report = report::new_report(ctx, &rs, &app_name(&bare, ctx));
    for step in Step::ALL {
        // infra is not part of the app pipeline: its row only when it was asked for.
        if step == Step::Infra && !wanted.contains(&step) {
            continue;
        }
        let mut row = StepReport::new(step.name(), StepStatus::Pending);
        if !wanted.contains(&step) {
            row.status = StepStatus::Skipped;
        }
        report.set_step(row);
    }

    let mut timings = Vec::new();
    let mut acr_password: Option<Secret> = None;
    let mut exit = Exit::Ok;
    for step in Step::ALL {
        if !wanted.contains(&step) {
            continue;
        }
        let resolved = inputs.resolve(ctx, step, Some(&state));
        if let Some(why) = skip_reason(step, &resolved) {
            ctx.host.info(&format!("{}: skipped ({why})", step.name()));
            let mut row = StepReport::new(step.name(), StepStatus::Skipped);
            row.facts.push(Fact::text("", why));
            report.set_step(row);
            timings.push(Timing {
                step,
                wall: Duration::ZERO,
                status: "skipped",
            });
            continue;
        }
        let t0 = Instant::now();
        let r = one(
            ctx,
            step,
            &resolved,
            &rs,
            &mut state,
            &mut report,
            &path,
            acr_password.as_ref(),
        )
        .await;
        let wall = t0.elapsed();
        match r {
            Ok((e, password)) => {
                if password.is_some() {
                    acr_password = password;
                }
                timings.push(Timing {
                    step,
                    wall,
                    status: if e == Exit::Ok { "ok" } else { "refused" },
                });
                if e != Exit::Ok {
                    exit = e;
                    break;
                }
            }
            Err(e) => {
                timings.push(Timing {
                    step,
                    wall,
                    status: "failed",
                });
                print_timings(ctx, &timings, started.elapsed());
                return Err(e);
            }
        }
    }
    print_timings(ctx, &timings, started.elapsed());
    Ok(exit)
}

fn wanted_steps(r: &Resolved) -> Result<Vec<Step>, Error> {
    let mut out = Vec::new();
    for name in r.list("steps") {
        let step = Step::ALL.iter().find(|s| s.name() == name).ok_or_else(|| {
            let (_, input) = r.one("steps").expect("steps has a default");
            InputError::invalid(
                input,
                format!("`{name}` is not a step"),
                "a comma-separated list of infra, refer, build, scan, deploy",
            )
        })?;
        out.push(*step);
    }
    Ok(out)
}

/// Why `run` leaves a wanted step out, when it cannot do anything useful.
fn skip_reason(step: Step, r: &Resolved) -> Option<String> {
    match step {
        Step::Refer if r.string("subscription-id").is_none() => {
            Some("no subscription-id: the shared infrastructure is given directly".into())
        }
        Step::Build if r.string("image").is_some_and(|i| i.contains("@sha256:")) => {
            Some("the image is given by digest".into())
        }
        _ => None,
    }
}

fn print_timings(ctx: &Ctx, timings: &[Timing], total: Duration) {
    let mut lines = vec![
        "| step | status | wall time |".to_string(),
        "| --- | --- | ---: |".to_string(),
    ];
    for t in timings {
        lines.push(format!(
            "| {} | {} | {:.2} s |",
            t.step.name(),
            t.status,
            t.wall.as_secs_f64()
        ));
    }
    let steps: Duration = timings.iter().map(|t| t.wall).sum();
    lines.push(format!(
        "| (between steps: state, report) | | {:.2} s |",
        total.saturating_sub(steps).as_secs_f64()
    ));
    lines.push(format!(
        "| **total** | | **{:.2} s** |",
        total.as_secs_f64()
    ));
    if let Some((own, children)) = cpu_seconds() {
        // Everything else is waiting: on the engine, the registry, Trivy, the cluster.
        lines.push(String::new());
        lines.push(format!(
            "Our own work (CPU of this process): {own:.2} s, {:.1} % of the wall time; Trivy (child processes): {children:.2} s CPU.",
            100.0 * own / total.as_secs_f64().max(1e-9)
        ));
    }
    let md = format!("### aks-backend run: timing\n\n{}\n", lines.join("\n"));
    let _ = ctx.host.summary("run-timing", &md);
}

/// This process's own CPU seconds and its children's (Trivy), from `/proc/self/stat`.
fn cpu_seconds() -> Option<(f64, f64)> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the `(comm)`, which may hold spaces: utime is the 14th field overall.
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<f64> = rest
        .split(' ')
        .skip(11)
        .take(4)
        .filter_map(|v| v.parse().ok())
        .collect();
    let tick = 100.0; // USER_HZ on Linux
    (f.len() == 4).then(|| ((f[0] + f[1]) / tick, (f[2] + f[3]) / tick))
}

/// Runs one step and reports it. Returns the exit and, after `build`, the ACR password
/// that `scan` reuses to pull the image it pushed.
#[allow(clippy::too_many_arguments)]
async fn one(
    ctx: &Ctx,
    step: Step,
    resolved: &Resolved,
    rs: &ReportSettings,
    state: &mut State,
    report: &mut Report,
    path: &std::path::Path,
    acr_password: Option<&Secret>,
) -> Result<(Exit, Option<Secret>), Error> {
    let started = Instant::now();
    let before = ctx.host.outputs();
    let mut late = None;
    let r = execute(ctx, step, resolved, rs, acr_password, &mut late).await;
    let row = match &r {
        Ok(Some((_, row, _, app))) => {
            if let Some(app) = app
                && resolved.string("app").is_none()
                && resolved.string("image").is_none()
            {
                report.key.app = app.clone();
            }
            row.clone()
        }
        Ok(None) => return Ok((Exit::Ok, None)),
        Err(e) => report::failed_step(step.name(), e, started.elapsed()),
    };
    let after = ctx.host.outputs();
    let published: BTreeMap<String, String> = after
        .into_iter()
        .filter(|(k, v)| before.get(k) != Some(v))
        .collect();
    if r.is_ok() {
        state.record(step, &published);
    }
    report.set_step(row);
    state.report = Some(report.clone());
    state.save(path)?;
    report::publish(ctx, rs, report).await;
    if let Some(e) = late {
        return Err(e);
    }
    r.map(|o| {
        let (exit, _, password, _) = o.expect("dry runs returned above");
        (exit, password)
    })
}

/// A finished step: its exit, its report row, the ACR password build obtained, and the
/// app name the step's artifact suggests (for a report key nobody named).
type Done = Option<(Exit, StepReport, Option<Secret>, Option<String>)>;

async fn execute(
    ctx: &Ctx,
    step: Step,
    r: &Resolved,
    rs: &ReportSettings,
    acr_password: Option<&Secret>,
    late: &mut Option<Error>,
) -> Result<Done, Error> {
    let started = Instant::now();
    match step {
        Step::Infra => {
            let phases = crate::inputs::settings::infra_phases(r)?;
            if !phases.contains(&Phase::Arm) {
                // The cluster phase alone, on a cluster the kubeconfig names.
                let s = AddonSettings::resolve(r, &ctx.env)?;
                return Ok(infra_cluster::run(ctx, &s).await?.map(|o| {
                    (
                        o.exit,
                        infra_cluster::step_row(&o, started.elapsed()),
                        None,
                        None,
                    )
                }));
            }
            let s = InfraSettings::resolve(r, &ctx.env)?;
            let addons = if phases.contains(&Phase::Cluster) {
                Some(AddonSettings::resolve_after_arm(r, &ctx.env)?)
            } else {
                None
            };
            Ok(infra::run(ctx, &s, addons).await?.map(|o| {
                (
                    o.cluster.as_ref().map_or(Exit::Ok, |c| c.exit),
                    infra::report_row(&o, started.elapsed()),
                    None,
                    None,
                )
            }))
        }
        Step::Refer => {
            let s = ReferSettings::resolve(r, &ctx.env)?;
            Ok(refer::run(ctx, &s).await?.map(|o| {
                (
                    Exit::Ok,
                    report::refer_step(&o, started.elapsed()),
                    None,
                    None,
                )
            }))
        }
        Step::Build => {
            let s = BuildSettings::resolve(r, &ctx.env)?;
            let azure = AzureSettings::resolve(r, &ctx.env)?;
            let token = if s.dry_run {
                None
            } else {
                acr_token(ctx, &s, &azure).await?
            };
            // Build exchanges the Entra token once; its ACR refresh token is what scan
            // pulls with (the Entra token is never sent a second time).
            Ok(build::run(ctx, &s, token).await?.map(|o| {
                let password = o.acr_refresh_token.clone();
                (
                    Exit::Ok,
                    report::build_step(&o, started.elapsed()),
                    password,
                    None,
                )
            }))
        }
        Step::Scan => {
            let mut s = ScanSettings::resolve(r, &ctx.env)?;
            if let (ScanInput::Image(image), None, false) = (&s.input, &s.trivy.password, s.dry_run)
            {
                s.trivy.password = match acr_password {
                    Some(p) => Some(p.clone()),
                    None => acr_password_for_scan(ctx, r, image).await?,
                };
                if s.trivy.password.is_some() && s.trivy.username.is_none() {
                    s.trivy.username = Some(acr::NULL_GUID.to_string());
                }
            }
            let Some(o) = scan::run(ctx, &s).await? else {
                return Ok(None);
            };
            let uploaded = report::upload_sarif(ctx, rs, &o.sarif_path).await?;
            let mut row = report::scan_step(&o, started.elapsed());
            row.facts.push(report::sarif_fact(&uploaded));
            Ok(Some((
                o.exit,
                row,
                None,
                Some(report::app_from_image(&o.artifact)),
            )))
        }
        Step::Deploy => {
            let s = DeploySettings::resolve(r, &ctx.env)?;
            let recorded = if s.dry_run {
                None
            } else {
                github_deployment::start(ctx, rs, &s.namespace).await
            };
            let result = deploy::run(ctx, &s).await;
            if let Some(d) = recorded {
                github_deployment::finish(ctx, d, result.as_ref().map(Option::as_ref)).await;
            }
            // An error after the apply comes with the whole report: the row shows the
            // rollout and the error, and `one` returns the error once all is published.
            Ok(result?.map(|mut o| {
                *late = o.error.take();
                let mut row = report::deploy_step(&o, started.elapsed());
                if let Some(e) = late.as_ref() {
                    let f = report::failed_step("deploy", e, started.elapsed()).failure;
                    row.status = crate::model::pipeline::StepStatus::Failed;
                    row.failure = match (row.failure.take(), f) {
                        (Some(mut mine), Some(f)) => {
                            mine.reason = format!("{}\n{}", mine.reason, f.reason);
                            Some(mine)
                        }
                        (mine, f) => f.or(mine),
                    };
                }
                (o.exit, row, None, None)
            }))
        }
    }
}

/// The Entra token the ACR exchange needs, only when pushing to an Azure Container
/// Registry login server (`*.azurecr.io`, the sovereign clouds' suffixes, or one named in
/// `acr-hosts`): `AZURE_ACCESS_TOKEN` when the caller already has one, else the credential
/// chain. `None` for every other registry, whatever sign-in settings were given
/// (credentials then come from the Docker config).
pub async fn acr_token(
    ctx: &Ctx,
    s: &BuildSettings,
    azure: &AzureSettings,
) -> Result<Option<Secret>, Error> {
    if !s.push || !acr::is_acr_host(&s.image.registry, &s.acr_hosts) {
        return Ok(None);
    }
    if let Some(t) = ctx.env.get("AZURE_ACCESS_TOKEN") {
        let t = Secret::new(t);
        ctx.host.mask(&t);
        return Ok(Some(t));
    }
    let cred = Credential::from_settings(azure, &ctx.env, &ctx.http, &ctx.host)?;
    Ok(Some(cred.token(ACR_SCOPE).await?))
}

/// An ACR refresh token for `registry` (the password Trivy pulls with).
async fn registry_password(
    ctx: &Ctx,
    registry: &str,
    entra: &Secret,
    insecure: bool,
) -> Result<Secret, Error> {
    let client =
        Acr::new(ctx.http.clone(), registry, &acr::base_url_for(registry)).insecure(insecure);
    let challenge = client.challenge().await?;
    let password = client.exchange(&challenge, entra, None).await?;
    ctx.host.mask(&password);
    Ok(password)
}

/// Scanning an ACR image with no password given: sign in and exchange, as build does,
/// only for an Azure Container Registry login server.
async fn acr_password_for_scan(
    ctx: &Ctx,
    r: &Resolved,
    image: &str,
) -> Result<Option<Secret>, Error> {
    let registry = image.split('/').next().unwrap_or_default();
    if !acr::is_acr_host(registry, &r.list("acr-hosts")) {
        return Ok(None);
    }
    let token = if let Some(t) = ctx.env.get("AZURE_ACCESS_TOKEN") {
        Secret::new(t)
    } else {
        let azure = AzureSettings::resolve(r, &ctx.env)?;
        let cred = Credential::from_settings(&azure, &ctx.env, &ctx.http, &ctx.host)?;
        cred.token(ACR_SCOPE).await?
    };
    ctx.host.mask(&token);
    let insecure = r.bool("registry-insecure")?;
    Ok(Some(
        registry_password(ctx, registry, &token, insecure).await?,
    ))
}
