//! Sequencing steps: one (`aks-backend scan`) or all four (`aks-backend run`).
//!
//! Both go through [`Pipeline::one`]: resolve the step's settings (earlier steps' outputs
//! from the state file feed later ones), make its plan, then either print the plan (the
//! one `--dry-run` branch of every step lives here) or execute it; keep its outputs in
//! the state file, put its row in the report and update the PR comment. `run` stops at the first step that fails and
//! prints one timing breakdown: each step's wall time, and within them the time spent
//! waiting on other programs (engine, registry, Trivy, cluster) versus our own work.

use std::time::{Duration, Instant};

use crate::clients::acr::{self, Acr};
use crate::clients::azure::credential::{ACR_SCOPE, Credential};
use crate::clients::http::Limits;
use crate::error::{Error, Exit};
use crate::inputs::catalog::Step;
use crate::inputs::settings::{
    AddonSettings, AzureSettings, BuildSettings, DeploySettings, InfraSettings, NetSettings, Phase,
    PublishSettings, ReferSettings, ScanInput, ScanSettings,
};
use crate::inputs::{ConfigFile, Flags, InputError, Resolved, key};
use crate::model::pipeline::{Fact, ServiceRow, StepStatus, StepSummary, Summary};
use crate::model::step::EarlierOutputs;
use crate::plan::build::{BuildPlan, RegistryAuthPlan};
use crate::plan::deploy::DeployPlan;
use crate::plan::refer::ReferPlan;
use crate::secret::Secret;
use crate::state::State;

use super::publish::github_deployment;
use super::{Ctx, build, deploy, infra, infra_cluster, publish, refer, scan};

/// What the CLI hands over: the command line's values and the config file.
pub struct Inputs<'a> {
    pub flags: &'a Flags,
    pub config: Option<&'a ConfigFile>,
}

impl Inputs<'_> {
    fn resolve(&self, ctx: &Ctx, step: Step, state: Option<&State>) -> Resolved {
        let earlier = state.map(|s| s as &dyn EarlierOutputs);
        Resolved::resolve(step, self.flags, &ctx.env, self.config, earlier)
    }
}

/// Where the state file is: `--state`, or the default for this job.
pub fn state_path(ctx: &Ctx, r: &Resolved) -> std::path::PathBuf {
    r.path(&ctx.env, key::STATE).unwrap_or_else(|| {
        State::default_path(
            &ctx.env.temp_dir(),
            ctx.env.cwd(),
            ctx.ci.run_id.as_deref(),
            ctx.ci.run_attempt,
        )
    })
}

/// The report to add this step's row to: the state's, when it is for the same app.
fn report_for(ctx: &Ctx, rs: &PublishSettings, state: &State, app: &str) -> Summary {
    let fresh = publish::new_summary(ctx, rs, app);
    match &state.summary {
        Some(r) if r.key == fresh.key && r.run == fresh.run => r.clone(),
        _ => fresh,
    }
}

/// The app name for the report key: `--app`, else from the image, else the directory.
fn app_name(r: &Resolved, ctx: &Ctx) -> String {
    if let Some(a) = r.string(key::APP) {
        return a;
    }
    if let Some(i) = r.string(key::IMAGE) {
        return publish::app_from_image(&i);
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
    let state = State::load(&path)?;
    let resolved = inputs.resolve(ctx, step, Some(&state));
    let rs = PublishSettings::resolve(&resolved, &ctx.env)?;
    let summary = report_for(ctx, &rs, &state, &app_name(&resolved, ctx));
    let mut pipeline = Pipeline {
        ctx,
        rs: &rs,
        state,
        summary,
        path,
        acr_password: None,
    };
    pipeline.one(step, &resolved).await
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
    let wanted = wanted_steps(&bare)?;
    let rs = PublishSettings::resolve(&bare, &ctx.env)?;
    let mut summary = publish::new_summary(ctx, &rs, &app_name(&bare, ctx));
    for step in Step::ALL {
        // infra is not part of the app pipeline: its row only when it was asked for.
        if step == Step::Infra && !wanted.contains(&step) {
            continue;
        }
        let mut row = StepSummary::new(step.name(), StepStatus::Pending);
        if !wanted.contains(&step) {
            row.status = StepStatus::Skipped;
        }
        summary.set_step(row);
    }
    let mut pipeline = Pipeline {
        ctx,
        rs: &rs,
        // A run starts a fresh state: earlier runs' outputs must not leak in.
        state: State::default(),
        summary,
        path: state_path(ctx, &bare),
        acr_password: None,
    };
    let mut timings = Vec::new();
    let r = pipeline.each(inputs, &wanted, &mut timings).await;
    print_timings(ctx, &timings, started.elapsed());
    r
}

impl Pipeline<'_> {
    /// The wanted steps in order, each timed, up to the first that does not succeed.
    async fn each(
        &mut self,
        inputs: &Inputs<'_>,
        wanted: &[Step],
        timings: &mut Vec<Timing>,
    ) -> Result<Exit, Error> {
        let ctx = self.ctx;
        for step in Step::ALL {
            if !wanted.contains(&step) {
                continue;
            }
            let resolved = inputs.resolve(ctx, step, Some(&self.state));
            if let Some(why) = skip_reason(step, &resolved) {
                ctx.host.info(&format!("{}: skipped ({why})", step.name()));
                let mut row = StepSummary::new(step.name(), StepStatus::Skipped);
                row.facts.push(Fact::text("", why));
                self.summary.set_step(row);
                timings.push(Timing {
                    step,
                    wall: Duration::ZERO,
                    status: "skipped",
                });
                continue;
            }
            let t0 = Instant::now();
            let r = self.one(step, &resolved).await;
            let status = match &r {
                Ok(Exit::Ok) => "ok",
                Ok(_) => "refused",
                Err(_) => "failed",
            };
            timings.push(Timing {
                step,
                wall: t0.elapsed(),
                status,
            });
            match r {
                Ok(Exit::Ok) => {}
                other => return other,
            }
        }
        Ok(Exit::Ok)
    }
}

fn wanted_steps(r: &Resolved) -> Result<Vec<Step>, Error> {
    let mut out = Vec::new();
    for name in r.list(key::STEPS) {
        let step = Step::ALL.iter().find(|s| s.name() == name).ok_or_else(|| {
            let (_, input) = r.value(key::STEPS);
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
        Step::Refer if r.string(key::SUBSCRIPTION_ID).is_none() => {
            Some("no subscription-id: the shared infrastructure is given directly".into())
        }
        Step::Build if r.string(key::IMAGE).is_some_and(|i| i.contains("@sha256:")) => {
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
    match f.as_slice() {
        [utime, stime, cutime, cstime] => Some(((utime + stime) / tick, (cutime + cstime) / tick)),
        _ => None,
    }
}

/// Where one run of steps keeps what they share: the state file (earlier steps' outputs
/// feed later ones), the report with a row per step, and the ACR password `build`
/// obtained (which `scan` reuses to pull the image it pushed).
struct Pipeline<'a> {
    ctx: &'a Ctx,
    rs: &'a PublishSettings,
    state: State,
    summary: Summary,
    path: std::path::PathBuf,
    acr_password: Option<Secret>,
}

/// A step that ran: its exit, its report row, the ACR password build obtained, the app
/// name the step's artifact suggests (for a report key nobody named), and an error that
/// came after the work was done (returned once the report is published).
struct Finished {
    exit: Exit,
    row: StepSummary,
    acr_password: Option<Secret>,
    app: Option<String>,
    late: Option<Error>,
    /// `--compose`: this step's part of each service's row in the PR comment.
    services: Vec<ServiceRow>,
}

impl Finished {
    fn new(exit: Exit, row: StepSummary) -> Self {
        Finished {
            exit,
            row,
            acr_password: None,
            app: None,
            late: None,
            services: Vec::new(),
        }
    }
}

/// `infra`'s phases with their settings, all resolved before anything runs.
// why: one of these exists per step and is moved once: boxing would buy nothing.
#[allow(clippy::large_enum_variant)]
enum InfraRun {
    /// The cluster phase alone, on the cluster the kubeconfig names.
    ClusterOnly(AddonSettings),
    /// The ARM deployment, then (when asked) the cluster phase on the cluster it made.
    Arm(InfraSettings, Option<AddonSettings>),
}

/// One step's settings and plan: what `--dry-run` prints, and what execution follows.
// why: one of these exists per step and is moved once: boxing would buy nothing.
#[allow(clippy::large_enum_variant)]
enum Planned {
    Infra(InfraRun),
    Refer(ReferSettings, ReferPlan),
    /// One image, or one per Compose service with `build:`.
    Build(Vec<(BuildSettings, BuildPlan)>, AzureSettings),
    Scan(ScanSettings, scan::Prepared),
    /// `--compose`: one scan per image, one gate.
    ScanEach(Vec<(ScanSettings, scan::Prepared)>),
    Deploy(DeploySettings, DeployPlan),
}

impl Planned {
    /// `infra` answers its own `--dry-run`: its plan is the template and the cluster's
    /// objects, printed without Azure, but what a reviewer needs is ARM's what-if, which
    /// is an Azure call; so infra executes and stops after what-if.
    fn dry_run(&self) -> bool {
        match self {
            Planned::Infra(_) => false,
            Planned::Refer(s, _) => s.dry_run,
            Planned::Build(b, _) => b.first().is_some_and(|(s, _)| s.dry_run),
            Planned::Scan(s, _) => s.dry_run,
            Planned::ScanEach(each) => each.first().is_some_and(|(s, _)| s.dry_run),
            Planned::Deploy(s, _) => s.dry_run,
        }
    }

    fn to_json(&self) -> Result<String, serde_json::Error> {
        match self {
            Planned::Infra(run) => match run {
                InfraRun::ClusterOnly(a) | InfraRun::Arm(_, Some(a)) => {
                    Ok(crate::plan::addons::plan(a).render())
                }
                InfraRun::Arm(s, None) => serde_json::to_string_pretty(s),
            },
            Planned::Refer(_, p) => serde_json::to_string_pretty(p),
            Planned::Build(b, _) => match b.as_slice() {
                [(s, p)] if s.service.is_none() => serde_json::to_string_pretty(p),
                b => serde_json::to_string_pretty(&b.iter().map(|(_, p)| p).collect::<Vec<_>>()),
            },
            Planned::Scan(_, p) => serde_json::to_string_pretty(&p.plan),
            Planned::ScanEach(each) => {
                serde_json::to_string_pretty(&each.iter().map(|(_, p)| &p.plan).collect::<Vec<_>>())
            }
            Planned::Deploy(_, p) => serde_json::to_string_pretty(p),
        }
    }
}

impl Pipeline<'_> {
    /// Runs one step and reports it: its row in the report, its outputs in the state file,
    /// the PR comment updated.
    async fn one(&mut self, step: Step, resolved: &Resolved) -> Result<Exit, Error> {
        let ctx = self.ctx;
        let started = Instant::now();
        let mark = ctx.host.output_mark();
        let mut r = self.plan_and_execute(step, resolved).await;
        let row = match &mut r {
            Ok(Some(f)) => {
                if let Some(app) = &f.app
                    && resolved.string(key::APP).is_none()
                    && resolved.string(key::IMAGE).is_none()
                {
                    self.summary.key.app = app.clone();
                }
                f.row.clone()
            }
            Ok(None) => return Ok(Exit::Ok),
            Err(e) => publish::failed_row(step.name(), e, started.elapsed()),
        };
        let late = match &mut r {
            Ok(Some(f)) => f.late.take(),
            _ => None,
        };
        let published = ctx.host.outputs_since(mark);
        if r.is_ok() {
            self.state.record(step, &published);
        }
        if let Ok(Some(f)) = &r {
            for part in &f.services {
                self.summary.merge_service(part);
            }
        }
        self.summary.set_step(row);
        self.state.summary = Some(self.summary.clone());
        self.state.save(&self.path)?;
        publish::summary(ctx, self.rs, &self.summary).await;
        if let Some(e) = late {
            return Err(e);
        }
        let Some(f) = r? else { return Ok(Exit::Ok) };
        if f.acr_password.is_some() {
            self.acr_password = f.acr_password;
        }
        Ok(f.exit)
    }

    /// The one dry-run branch: every step is planned, then either its plan is printed or
    /// it is executed.
    async fn plan_and_execute(&self, step: Step, r: &Resolved) -> Result<Option<Finished>, Error> {
        let planned = plan(self.ctx, step, r)?;
        if planned.dry_run() {
            if let Planned::Deploy(s, plan) = &planned
                && let Some(app) = &s.compose
                && let Some(dir) = &app.render_dir
            {
                super::compose::render(self.ctx, plan, app, dir)?;
            }
            // Plans are strings, numbers and string-keyed maps: they always serialize.
            let json = planned
                .to_json()
                .unwrap_or_else(|e| format!("the plan does not serialize: {e}"));
            self.ctx.host.print_data(&json);
            return Ok(None);
        }
        self.execute(planned, r).await
    }

    /// `infra`: `None` when its dry run printed the plan without Azure (no row, no state).
    async fn infra(&self, run: InfraRun, started: Instant) -> Result<Option<Finished>, Error> {
        let ctx = self.ctx;
        Ok(match run {
            InfraRun::ClusterOnly(s) => infra_cluster::run(ctx, &s)
                .await?
                .map(|o| Finished::new(o.exit, infra_cluster::step_row(&o, started.elapsed()))),
            InfraRun::Arm(s, addons) => infra::run(ctx, &s, addons).await?.map(|o| {
                let exit = o.cluster.as_ref().map_or(Exit::Ok, |c| c.exit);
                Finished::new(exit, infra::report_row(&o, started.elapsed()))
            }),
        })
    }

    async fn execute(&self, planned: Planned, r: &Resolved) -> Result<Option<Finished>, Error> {
        let ctx = self.ctx;
        let started = Instant::now();
        let finished = match planned {
            Planned::Infra(run) => return self.infra(run, started).await,
            Planned::Refer(s, plan) => {
                let o = refer::execute(ctx, &s, &plan).await?;
                Ok(Finished::new(
                    Exit::Ok,
                    publish::refer_row(&o, started.elapsed()),
                ))
            }
            Planned::Build(mut builds, azure) => {
                // Build exchanges the Entra token once (for every image); its ACR refresh
                // token is what scan pulls with (the Entra token is never sent a second time).
                let token = match builds.first() {
                    Some((s, _)) => acr_token(ctx, s, &azure).await?,
                    None => None,
                };
                if token.is_some() {
                    for (_, plan) in &mut builds {
                        plan.auth = Some(RegistryAuthPlan::AcrExchange);
                    }
                }
                let o = build::execute(ctx, &builds, token).await?;
                let mut f = Finished::new(Exit::Ok, publish::build_row(&o, started.elapsed()));
                f.acr_password = o.iter().find_map(|o| o.acr_refresh_token.clone());
                f.services = publish::build_services(&o);
                Ok(f)
            }
            Planned::Scan(mut s, prepared) => {
                self.registry_password(&mut s, r).await?;
                let o = scan::execute(ctx, &s, prepared).await?;
                let uploaded = publish::upload_sarif(ctx, self.rs, &o.sarif_path).await?;
                let mut row = publish::scan_row(&o, started.elapsed());
                row.facts.push(publish::sarif_fact(&uploaded));
                let mut f = Finished::new(o.exit, row);
                f.app = Some(publish::app_from_image(&o.artifact));
                Ok(f)
            }
            Planned::ScanEach(mut each) => {
                for (s, _) in &mut each {
                    self.registry_password(s, r).await?;
                }
                let (o, per_image) = scan::execute_each(ctx, each).await?;
                let uploaded = publish::upload_sarif(ctx, self.rs, &o.sarif_path).await?;
                let mut row = publish::scan_row_each(&o, &per_image, started.elapsed());
                row.facts.push(publish::sarif_fact(&uploaded));
                let mut f = Finished::new(o.exit, row);
                f.services = publish::scan_services(&per_image);
                Ok(f)
            }
            Planned::Deploy(s, plan) => self.deploy(&s, &plan, started).await,
        };
        finished.map(Some)
    }

    /// Trivy pulls an image with build's ACR refresh token, or one exchanged now (ACR
    /// login servers only).
    async fn registry_password(&self, s: &mut ScanSettings, r: &Resolved) -> Result<(), Error> {
        if let (ScanInput::Image(image), None) = (&s.input, &s.trivy.password) {
            s.trivy.password = match &self.acr_password {
                Some(p) => Some(p.clone()),
                None => acr_password_for_scan(self.ctx, r, image).await?,
            };
            if s.trivy.password.is_some() && s.trivy.username.is_none() {
                s.trivy.username = Some(acr::NULL_GUID.to_string());
            }
        }
        Ok(())
    }

    async fn deploy(
        &self,
        s: &DeploySettings,
        plan: &DeployPlan,
        started: Instant,
    ) -> Result<Finished, Error> {
        let ctx = self.ctx;
        let recorded = github_deployment::start(ctx, self.rs, &s.namespace).await;
        let result = deploy::execute(ctx, s, plan).await;
        if let Some(d) = recorded {
            github_deployment::finish(ctx, d, result.as_ref().map(Some)).await;
        }
        // An error after the apply comes with the whole report: the row shows the rollout
        // and the error, and `one` returns the error once all is published.
        let mut o = result?;
        let late = o.error.take();
        let mut row = publish::deploy_row(&o, started.elapsed());
        if let Some(e) = late.as_ref() {
            let f = publish::failed_row("deploy", e, started.elapsed()).failure;
            row.status = StepStatus::Failed;
            row.failure = match (row.failure.take(), f) {
                (Some(mut mine), Some(f)) => {
                    mine.reason = format!("{}\n{}", mine.reason, f.reason);
                    Some(mine)
                }
                (mine, f) => f.or(mine),
            };
        }
        let mut f = Finished::new(o.exit, row);
        f.late = late;
        if s.compose.is_some() {
            f.services = publish::deploy_services(&o);
        }
        Ok(f)
    }
}

/// A step's settings resolved and its plan made: pure but for reading the files the plan
/// is made of (manifests, the ignore file).
fn plan(ctx: &Ctx, step: Step, r: &Resolved) -> Result<Planned, Error> {
    Ok(match step {
        Step::Infra => {
            let phases = crate::inputs::settings::infra_phases(r)?;
            if phases.contains(&Phase::Arm) {
                let s = InfraSettings::resolve(r, &ctx.env)?;
                let addons = if phases.contains(&Phase::Cluster) {
                    Some(AddonSettings::resolve_after_arm(r, &ctx.env)?)
                } else {
                    None
                };
                Planned::Infra(InfraRun::Arm(s, addons))
            } else {
                Planned::Infra(InfraRun::ClusterOnly(AddonSettings::resolve(r, &ctx.env)?))
            }
        }
        Step::Refer => {
            let s = ReferSettings::resolve(r, &ctx.env)?;
            let plan = refer::plan(&s);
            Planned::Refer(s, plan)
        }
        Step::Build => {
            let settings = match BuildSettings::resolve_compose(r, &ctx.env)? {
                Some(each) => each,
                None => vec![BuildSettings::resolve(r, &ctx.env)?],
            };
            let azure = AzureSettings::resolve(r, &ctx.env)?;
            let builds = settings
                .into_iter()
                .map(|s| {
                    let plan = build::plan(ctx, &s);
                    (s, plan)
                })
                .collect();
            Planned::Build(builds, azure)
        }
        Step::Scan => {
            if let Some(each) = ScanSettings::resolve_compose(r, &ctx.env)? {
                let mut planned = Vec::new();
                for s in each {
                    let prepared = scan::plan(ctx, &s)?;
                    planned.push((s, prepared));
                }
                return Ok(Planned::ScanEach(planned));
            }
            let s = ScanSettings::resolve(r, &ctx.env)?;
            let prepared = scan::plan(ctx, &s)?;
            Planned::Scan(s, prepared)
        }
        Step::Deploy => {
            let s = DeploySettings::resolve(r, &ctx.env)?;
            let plan = deploy::plan(ctx, &s)?;
            Planned::Deploy(s, plan)
        }
    })
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
    if !acr::is_acr_host(registry, &r.list(key::ACR_HOSTS)) {
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
    let insecure = r.bool(key::REGISTRY_INSECURE)?;
    Ok(Some(
        registry_password(ctx, registry, &token, insecure).await?,
    ))
}
