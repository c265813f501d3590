//! The build step: pack the context, build through the engine, tag, sign in to the
//! registry (Entra -> ACR refresh token, or the Docker config), push every tag, check
//! the pushed digest with a manifest HEAD, publish image/digest/tags/size.

use std::collections::HashMap;

use crate::clients::acr::{self, Acr, RegistryAuth};
use crate::clients::docker::build::{self as engine_build, BuildRequest};
use crate::clients::docker::buildkit::{self, session};
use crate::clients::docker::config::{self as docker_config, ConfigCredential};
use crate::clients::docker::context::ContextSpec;
use crate::clients::docker::push::{self, RegistryCredentials};
use crate::clients::docker::{self, DockerError};
use crate::error::Error;
use crate::host::{Host, Level, Location};
use crate::inputs::InputError;
use crate::inputs::settings::{BuildSettings, Builder, CacheTo, SecretSource};
use crate::plan::build::{BuildPlan, RegistryAuthPlan};
use crate::render::build_summary::Row as SummaryRow;
use crate::secret::Secret;

use super::Ctx;

/// What the build produced.
#[derive(Clone, Debug, serde::Serialize)]
pub struct BuildOutcome {
    pub image: String,
    pub image_id: String,
    /// `registry/repo@sha256:…` (pushed builds only).
    pub digest: Option<String>,
    pub references: Vec<String>,
    pub size: u64,
    /// The ACR refresh token the Entra exchange gave (scan pulls with it), never printed.
    #[serde(skip)]
    pub acr_refresh_token: Option<Secret>,
    /// With `--compose`: the service it was built for.
    pub service: Option<String>,
}

/// Hands engine lines to the host in batches (one stop-commands block per batch); with
/// several images building at once, the whole log is handed over in one group when its
/// build ends, so the builds' lines do not interleave.
struct LineSink<'a> {
    host: &'a Host,
    buf: Vec<String>,
    stream: bool,
}

impl LineSink<'_> {
    fn push(&mut self, line: &str) {
        self.buf.push(line.to_string());
        if self.stream && self.buf.len() >= 20 {
            self.flush();
        }
    }
    fn flush(&mut self) {
        if !self.buf.is_empty() {
            self.host.untrusted(&std::mem::take(&mut self.buf));
        }
    }
}

/// Wall time of the build step's phases (the run benchmark splits build from push).
#[derive(Debug, Default, Clone, Copy)]
struct Phases {
    sign_in: f64,
    build: f64,
    push: f64,
}

impl Phases {
    fn describe(&self) -> String {
        format!(
            "sign-in {:.2} s, engine build {:.2} s, push and verify {:.2} s",
            self.sign_in, self.build, self.push
        )
    }
}

/// What will be built, tagged and pushed (`--dry-run` prints it). The registry sign-in
/// it names is the Docker config's until an Entra token for ACR is at hand: `run` sets
/// it to the ACR exchange once it has one.
pub fn plan(ctx: &Ctx, s: &BuildSettings) -> BuildPlan {
    let created = jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string();
    let workspace = ctx
        .ci
        .workspace
        .clone()
        .unwrap_or_else(|| ctx.env.cwd().to_path_buf());
    BuildPlan::new(s, &ctx.ci, &created, &workspace, false)
}

/// How many images the engine builds at once with `--compose`: builds overlap (one
/// waits on the registry while another compiles) without swamping the engine.
const PARALLEL_BUILDS: usize = 3;

/// What every image of one build step shares: the engine connection and the registry
/// sign-in (one Entra exchange for all of them).
struct Shared {
    eng: docker::Engine,
    signed_in: Option<(Option<RegistryCredentials>, RegistryAuth)>,
    sign_in: f64,
}

/// Builds and pushes every image (one without `--compose`, one per service with it):
/// one engine connection and one sign-in, the images built a few at a time.
/// `entra_token`: the Entra access token for ACR (`None`: Docker config credentials).
pub async fn execute(
    ctx: &Ctx,
    builds: &[(BuildSettings, BuildPlan)],
    entra_token: Option<Secret>,
) -> Result<Vec<BuildOutcome>, Error> {
    use futures::StreamExt;
    let Some((first_s, first_plan)) = builds.first() else {
        return Ok(Vec::new());
    };
    if let Some(t) = &entra_token {
        ctx.host.mask(t);
    }
    let eng = docker::connect(&docker::EngineEnv::from_env(|k| {
        ctx.env.get(k).map(str::to_string)
    }))
    .await?;
    // Sign in before building: a refused exchange fails in seconds, not after the build,
    // and BuildKit's session needs the credentials for cache and base images.
    let t = std::time::Instant::now();
    let signed_in = if first_plan.push {
        let acr = acr_for(ctx, first_s, first_plan);
        Some(sign_in(ctx, first_s, &acr, first_plan.auth, entra_token.as_ref()).await?)
    } else {
        None
    };
    let shared = Shared {
        eng,
        signed_in,
        sign_in: t.elapsed().as_secs_f64(),
    };
    let stream = builds.len() == 1;
    let results: Vec<Result<(BuildOutcome, Phases, bool), Error>> =
        futures::stream::iter(builds.iter())
            .map(|(s, p)| build_and_push(ctx, &shared, s, p, stream))
            .buffered(PARALLEL_BUILDS)
            .collect()
            .await;
    let mut done = Vec::new();
    for r in results {
        done.push(r?);
    }
    publish(ctx, builds, &done)?;
    Ok(done.into_iter().map(|(o, ..)| o).collect())
}

fn acr_for(ctx: &Ctx, s: &BuildSettings, plan: &BuildPlan) -> Acr {
    Acr::new(
        ctx.http.clone(),
        &plan.registry,
        &acr::base_url_for(&plan.registry),
    )
    .insecure(s.registry_insecure)
}

/// BuildKit or the classic builder, as asked and as the engine can; build secrets need
/// BuildKit.
fn choose_builder(
    eng: &docker::Engine,
    s: &BuildSettings,
    plan: &BuildPlan,
    env_value: Option<&str>,
) -> Result<bool, Error> {
    let builder = match (s.builder, env_value) {
        (Builder::Auto, Some(v)) if !v.is_empty() => docker_buildkit(v)?,
        (b, _) => b,
    };
    let buildkit = match builder {
        Builder::Auto => eng.buildkit && eng.addr.is_some(),
        Builder::BuildKit if eng.buildkit && eng.addr.is_some() => true,
        Builder::BuildKit => {
            return Err(DockerError::NoBuildKit {
                what: if s.builder == Builder::BuildKit {
                    "--builder buildkit".into()
                } else {
                    "DOCKER_BUILDKIT=1".into()
                },
                engine: eng.name.clone(),
            }
            .into());
        }
        Builder::Classic => false,
    };
    if !buildkit && !s.secrets.is_empty() {
        return Err(DockerError::NoBuildKit {
            what: format!(
                "the build secret(s) {} (RUN --mount=type=secret)",
                plan.secrets.join(", ")
            ),
            engine: if s.builder == Builder::Classic {
                "--builder classic".into()
            } else if builder == Builder::Classic {
                "DOCKER_BUILDKIT=0".into()
            } else {
                eng.name.clone()
            },
        }
        .into());
    }
    Ok(buildkit)
}

/// One image: built, tagged, pushed and verified. Returns whether BuildKit built it.
async fn build_and_push(
    ctx: &Ctx,
    shared: &Shared,
    s: &BuildSettings,
    plan: &BuildPlan,
    stream: bool,
) -> Result<(BuildOutcome, Phases, bool), Error> {
    let buildkit = choose_builder(&shared.eng, s, plan, ctx.env.get("DOCKER_BUILDKIT"))?;
    let mut phases = Phases {
        sign_in: shared.sign_in,
        ..Phases::default()
    };
    let t = std::time::Instant::now();
    let (first, image_id, size) = build_image(ctx, shared, s, plan, buildkit, stream).await?;
    phases.build = t.elapsed().as_secs_f64();
    let engine = &shared.eng.docker;
    for t in plan.tags.iter().skip(1) {
        push::tag(engine, &image_id, &plan.image, t).await?;
    }
    let mut digest = None;
    let acr_refresh_token = match &shared.signed_in {
        Some((_, RegistryAuth::AcrRefreshToken(t))) => Some(t.clone()),
        _ => None,
    };
    if let Some((creds, auth)) = &shared.signed_in {
        let t = std::time::Instant::now();
        let d = push_image(ctx, engine, plan, creds.as_ref(), &first, stream).await?;
        let acr = acr_for(ctx, s, plan);
        for t in &plan.tags {
            acr.verify(&s.image.repository, t, &d, auth).await?;
        }
        ctx.host.info(&format!(
            "verified: {} serves {} at {d}",
            plan.registry,
            plan.tags.join(", ")
        ));
        digest = Some(format!("{}@{d}", plan.image));
        phases.push = t.elapsed().as_secs_f64();
    }
    ctx.host
        .info(&format!("timing of {}: {}", plan.image, phases.describe()));
    let outcome = BuildOutcome {
        image: plan.image.clone(),
        image_id,
        digest,
        references: plan.references.clone(),
        size,
        acr_refresh_token,
        service: s.service.clone(),
    };
    Ok((outcome, phases, buildkit))
}

/// The engine build of one image: (first reference, image ID, size).
async fn build_image(
    ctx: &Ctx,
    shared: &Shared,
    s: &BuildSettings,
    plan: &BuildPlan,
    buildkit: bool,
    stream: bool,
) -> Result<(String, String, u64), Error> {
    let dockerfile_text = crate::fsx::read_to_string(
        &s.dockerfile,
        "Dockerfile",
        crate::fsx::Follow::No,
        crate::fsx::MEDIUM,
    )
    .map_err(InputError::from)?;
    let secrets = read_secrets(ctx, s)?;
    let Some(first) = plan.references.first().cloned() else {
        return Err(InputError::Missing(
            "no tag to build the image with".into(),
            "give --tag (or --image with a tag)".into(),
        )
        .into());
    };
    let eng = &shared.eng;
    let title = format!(
        "Build {first} ({}, {})",
        eng.name,
        if buildkit {
            "BuildKit"
        } else {
            "classic builder"
        }
    );
    let req = request(s, plan, buildkit, &first, dockerfile_text);
    let mut sink = LineSink {
        host: &ctx.host,
        buf: Vec::new(),
        stream,
    };
    if stream {
        ctx.host.group_start(&title);
    }
    let built = engine(ctx, shared, plan, &req, secrets, buildkit, &mut sink).await;
    if !stream {
        ctx.host.group_start(&title);
    }
    sink.flush();
    ctx.host.group_end();
    ctx.host.info(&built?);
    let (image_id, size) = push::inspect(&eng.docker, &first).await?;
    Ok((first, image_id, size))
}

/// The engine's build (BuildKit's session with the secrets and the registry credentials,
/// or the classic builder): what the context sent, as a line for the log.
async fn engine(
    ctx: &Ctx,
    shared: &Shared,
    plan: &BuildPlan,
    req: &BuildRequest,
    secrets: HashMap<String, session::SecretBytes>,
    buildkit: bool,
    sink: &mut LineSink<'_>,
) -> Result<String, DockerError> {
    let eng = &shared.eng;
    let spec = ContextSpec {
        dir: plan.context.clone(),
        dockerfile: plan.dockerfile.clone(),
    };
    match (&eng.addr, buildkit) {
        (Some(addr), true) => {
            let mut provide = session::Provide {
                secrets,
                ..Default::default()
            };
            if let Some((Some(c), _)) = &shared.signed_in {
                provide.credentials.insert(
                    plan.registry.clone(),
                    (c.username.clone(), c.password.clone()),
                );
            }
            buildkit::build(addr, &spec, req, provide, |l| sink.push(l))
                .await
                .map(|b| {
                    unused_secrets(ctx, &plan.secrets, &b.asked);
                    format!(
                        "context: the Dockerfile reads {} files ({} entries excluded by .dockerignore); {} new or changed files ({} bytes) sent to the engine",
                        b.sent.files.len(), b.sent.excluded.len(), b.sent.files_sent, b.sent.bytes_sent
                    )
                })
        }
        _ => engine_build::build(&eng.docker, &spec, req, |l| sink.push(l))
            .await
            .map(|p| {
                format!(
                    "context: {} files, {} bytes sent, {} entries excluded by .dockerignore",
                    p.files, p.bytes, p.excluded
                )
            }),
    }
}

/// What the engine is asked to build: BuildKit's inline cache when pushing, the default
/// cache source dropped for the classic builder.
fn request(
    s: &BuildSettings,
    plan: &BuildPlan,
    buildkit: bool,
    first: &str,
    dockerfile_text: String,
) -> BuildRequest {
    let mut build_args: HashMap<String, String> = s.build_args.clone().into_iter().collect();
    let mut cache_from = plan.cache_from.clone();
    if buildkit && plan.push && plan.cache_to == CacheTo::Inline && !s.no_cache {
        build_args
            .entry("BUILDKIT_INLINE_CACHE".into())
            .or_insert_with(|| "1".into());
    }
    if !buildkit && plan.cache_from_default {
        cache_from.clear();
    }
    BuildRequest {
        tag: first.to_string(),
        build_args,
        labels: plan.labels.clone().into_iter().collect(),
        target: s.target.clone(),
        platform: s.platform.clone(),
        cache_from,
        no_cache: s.no_cache,
        dockerfile_display: plan.dockerfile_display.clone(),
        dockerfile_text,
    }
}

/// Pushes every tag; returns the digest the registry gave (a tag pushed as another
/// digest is a warning).
async fn push_image(
    ctx: &Ctx,
    engine: &bollard::Docker,
    plan: &BuildPlan,
    creds: Option<&RegistryCredentials>,
    first: &str,
    stream: bool,
) -> Result<String, Error> {
    let mut sink = LineSink {
        host: &ctx.host,
        buf: Vec::new(),
        stream,
    };
    let title = format!("Push {}", plan.image);
    if stream {
        ctx.host.group_start(&title);
    }
    let mut pushed: Option<String> = None;
    let mut result = Ok(());
    for t in &plan.tags {
        let r = push::push(engine, &plan.registry, &plan.image, t, creds, |l| {
            sink.push(l)
        })
        .await;
        match r {
            Ok(p) => {
                if let Some(prev) = &pushed
                    && *prev != p.digest
                {
                    ctx.host.annotate(
                        Level::Warning,
                        &format!(
                            "{}:{t} was pushed as {}, other tags as {prev}",
                            plan.image, p.digest
                        ),
                        &Location::default(),
                    );
                }
                pushed.get_or_insert(p.digest);
            }
            Err(e) => {
                result = Err(e);
                break;
            }
        }
    }
    if !stream {
        ctx.host.group_start(&title);
    }
    sink.flush();
    ctx.host.group_end();
    result?;
    Ok(pushed.ok_or(DockerError::NoDigest {
        reference: first.to_string(),
    })?)
}

/// The step's outputs (one image: as docker/build-push-action; `--compose`: every image
/// pinned by digest, one a line, in `images`) and the job summary, a row per image.
fn publish(
    ctx: &Ctx,
    builds: &[(BuildSettings, BuildPlan)],
    done: &[(BuildOutcome, Phases, bool)],
) -> Result<(), Error> {
    let Some((s, plan)) = builds.first() else {
        return Ok(());
    };
    let compose = s.service.is_some();
    let outputs = match done {
        [(o, ..)] if !compose => crate::host::outputs::build_outputs(
            &o.image,
            &o.image_id,
            o.digest.as_deref(),
            &o.references,
            o.size,
        ),
        _ => vec![(
            "images",
            done.iter()
                .filter_map(|(o, ..)| o.digest.clone())
                .collect::<Vec<_>>()
                .join("\n"),
        )],
    };
    ctx.publish(&outputs, s.outputs_file.as_deref())?;
    let rows: Vec<SummaryRow> = done
        .iter()
        .zip(builds)
        .map(|((o, phases, buildkit), (_, p))| SummaryRow {
            service: o.service.clone(),
            image: o.image.clone(),
            digest: o.digest.clone(),
            tags: p.tags.clone(),
            size: o.size,
            builder: if *buildkit { "BuildKit" } else { "classic" },
            time: phases.describe(),
        })
        .collect();
    let md = crate::render::build_summary::markdown(plan.push, &rows);
    ctx.host.summary("build", &md)?;
    Ok(())
}

/// The values of `--secret`, read now and masked on the host at once.
fn read_secrets(
    ctx: &Ctx,
    s: &BuildSettings,
) -> Result<HashMap<String, session::SecretBytes>, Error> {
    let mut out = HashMap::new();
    for sp in &s.secrets {
        let bytes = match &sp.source {
            // BuildKit's own cap on a secret is 500 KiB.
            SecretSource::File(p) => {
                crate::fsx::read(p, "build secret", crate::fsx::Follow::Yes, 500 << 10)
                    .map_err(InputError::from)?
            }
            SecretSource::Env(v) => ctx.env.get(v).unwrap_or_default().as_bytes().to_vec(),
        };
        if let Ok(text) = std::str::from_utf8(&bytes) {
            ctx.host
                .mask(&Secret::new(text.trim_end_matches(['\n', '\r'])));
        }
        out.insert(sp.id.clone(), session::SecretBytes(bytes));
    }
    Ok(out)
}

/// A secret no `RUN --mount=type=secret` asked for is probably a typo in its id.
fn unused_secrets(ctx: &Ctx, given: &[String], asked: &session::Asked) {
    for id in given.iter().filter(|id| !asked.secrets.contains(id)) {
        ctx.host.annotate(
            Level::Warning,
            &format!(
                "the build secret `{id}` was given but no RUN mounted it (RUN --mount=type=secret,id={id}); a cached step does not ask again"
            ),
            &Location::default(),
        );
    }
}

/// Credentials for the engine's push, and for our own manifest HEAD.
async fn sign_in(
    ctx: &Ctx,
    s: &BuildSettings,
    acr: &Acr,
    plan: Option<RegistryAuthPlan>,
    entra_token: Option<&Secret>,
) -> Result<(Option<RegistryCredentials>, RegistryAuth), Error> {
    match (plan, entra_token) {
        (Some(RegistryAuthPlan::AcrExchange), Some(token)) => {
            let challenge = acr.challenge().await?;
            let refresh = acr
                .exchange(&challenge, token, s.tenant_id.as_deref())
                .await?;
            ctx.host.mask(&refresh);
            ctx.host.info(&format!(
                "signed in to {} with an ACR refresh token (Entra exchange)",
                acr.registry()
            ));
            Ok((
                Some(RegistryCredentials {
                    username: acr::NULL_GUID.into(),
                    password: refresh.clone(),
                }),
                RegistryAuth::AcrRefreshToken(refresh),
            ))
        }
        _ => {
            let path =
                docker_config::config_path(ctx.env.get("DOCKER_CONFIG"), ctx.env.get("HOME"));
            let found = match &path {
                Some(p) => docker_config::lookup(p, acr.registry())?,
                None => ConfigCredential::None,
            };
            match found {
                ConfigCredential::Credentials(c) => {
                    ctx.host.mask(&c.password);
                    let auth = RegistryAuth::Basic {
                        username: c.username.clone(),
                        password: c.password.clone(),
                    };
                    Ok((Some(c), auth))
                }
                ConfigCredential::Helper(h) => {
                    match docker_config::from_helper(&h, acr.registry())? {
                        Some(c) => {
                            ctx.host.mask(&c.password);
                            ctx.host.info(&format!(
                                "signed in to {} with credentials from docker-credential-{h}",
                                acr.registry()
                            ));
                            let auth = RegistryAuth::Basic {
                                username: c.username.clone(),
                                password: c.password.clone(),
                            };
                            Ok((Some(c), auth))
                        }
                        None => {
                            ctx.host.annotate(
                            Level::Warning,
                            &format!(
                                "docker-credential-{h} has no credentials for {}; pushing without credentials",
                                acr.registry()
                            ),
                            &Location::default(),
                        );
                            Ok((None, RegistryAuth::Anonymous))
                        }
                    }
                }
                ConfigCredential::None => Ok((None, RegistryAuth::Anonymous)),
            }
        }
    }
}

/// `DOCKER_BUILDKIT`, read as the docker CLI reads it (Go's `strconv.ParseBool`) when
/// `--builder` is left at `auto`: `0` is the classic builder, `1` BuildKit.
fn docker_buildkit(v: &str) -> Result<Builder, InputError> {
    match v {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Ok(Builder::BuildKit),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Ok(Builder::Classic),
        _ => Err(InputError::invalid(
            "DOCKER_BUILDKIT",
            format!("{v:?} is not a boolean"),
            "1 (BuildKit) or 0 (the classic builder), as for the docker CLI; or unset it and use --builder",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_buildkit_reads_like_the_cli() {
        assert_eq!(docker_buildkit("0").unwrap(), Builder::Classic);
        assert_eq!(docker_buildkit("false").unwrap(), Builder::Classic);
        assert_eq!(docker_buildkit("1").unwrap(), Builder::BuildKit);
        assert_eq!(docker_buildkit("True").unwrap(), Builder::BuildKit);
        let e = docker_buildkit("yes").unwrap_err().to_string();
        assert!(e.contains("DOCKER_BUILDKIT"), "{e}");
    }
}
