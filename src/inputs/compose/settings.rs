//! The `--compose` settings of the deploy step, resolved into a [`ComposeApp`]: the
//! files loaded, the services mapped, and every refusal turned into bad input (exit 2)
//! that names the file and the key path.

use super::ComposeApp;
use super::load::{self, LoadError};
use super::map::{self, MapError, Options};
use crate::env::Env;
use crate::inputs::key;
use crate::inputs::{InputError, Origin, Resolved, parse};
use crate::model::image_ref::ImageRef;

impl From<MapError> for InputError {
    fn from(e: MapError) -> Self {
        InputError::invalid(e.at, e.problem, e.expected)
    }
}

fn load_error(input: &str, e: LoadError) -> InputError {
    match e {
        LoadError::Fs(f) => InputError::Fs(f),
        LoadError::Schema {
            file,
            path,
            message,
        } => InputError::invalid(
            format!("{} at {path}", file.display()),
            message,
            "what the Compose Specification allows there (compose-spec.json)",
        ),
        e @ LoadError::Interpolation { .. } => InputError::invalid(
            input,
            e.to_string(),
            "the variable set, in the environment or .env",
        ),
        e => InputError::invalid(input, e.to_string(), "a Compose file (compose.yaml)"),
    }
}

/// `None` without `--compose`.
pub fn resolve(r: &Resolved, env: &Env) -> Result<Option<ComposeApp>, InputError> {
    let files = r.list(key::COMPOSE);
    if files.is_empty() {
        for name in [
            key::PUBLIC,
            key::IMAGE_PREFIX,
            key::RENDER_DIR,
            key::COMPOSE_PROFILE,
            key::MYSQL_HOST,
        ] {
            if let Some((_, input)) = r.one(name)
                && r.get(name)
                    .is_some_and(|v| !matches!(v.origin, Origin::Default | Origin::State(_)))
            {
                return Err(InputError::invalid(
                    input,
                    "means something only with --compose",
                    "--compose FILE, or leave it out",
                ));
            }
        }
        return Ok(None);
    }
    let input = r.one(key::COMPOSE).map(|(_, i)| i).unwrap_or_default();
    for other in [key::MANIFESTS, key::COMPONENT] {
        if !r.list(other).is_empty() {
            return Err(InputError::Conflict(
                format!("--compose and --{other} both say what to deploy"),
                "give one of them".into(),
            ));
        }
    }
    if let Some(v) = r
        .get(key::IMAGE)
        .filter(|v| !matches!(v.origin, Origin::State(_) | Origin::Default))
    {
        let _ = v;
        return Err(InputError::Conflict(
            "--compose and --image both say what to deploy".into(),
            "with --compose, pinned images go in --images REPOSITORY@sha256:DIGEST".into(),
        ));
    }
    let paths: Vec<_> = files.iter().map(|f| env.resolve_path(f)).collect();
    let profiles = r.list(key::COMPOSE_PROFILE);
    let project = load::load(&paths, &profiles, env).map_err(|e| load_error(&input, e))?;

    let mut images = Vec::new();
    for v in r.list(key::IMAGES) {
        let i = r.one(key::IMAGES).map(|(_, i)| i).unwrap_or_default();
        images.push(
            ImageRef::parse(&v)
                .map_err(|e| InputError::invalid(i, e.to_string(), "REPOSITORY@sha256:DIGEST"))?,
        );
    }
    let allow = r.list(key::COMPOSE_ALLOW);
    let replicas = match r.one(key::REPLICAS) {
        Some((v, i)) => parse::number_in(&i, v, 1, 1000)? as u32,
        None => 2,
    };
    let cpu_target = match r.one(key::CPU_TARGET) {
        Some((v, i)) => parse::number_in(&i, v, 1, 1000)? as u32,
        None => 70,
    };
    let cpu = r.string(key::CPU).unwrap_or_else(|| "250m".into());
    let memory = r.string(key::MEMORY).unwrap_or_else(|| "256Mi".into());
    let mysql_secret = r
        .string(key::MYSQL_PASSWORD_SECRET)
        .unwrap_or_else(|| "mysql-root-password".into());
    if !crate::inputs::settings::is_key_vault_secret_name(&mysql_secret) {
        let (_, i) = r.one(key::MYSQL_PASSWORD_SECRET).unwrap_or_default();
        return Err(InputError::invalid(
            i,
            format!("`{mysql_secret}` is not a Key Vault secret name"),
            "1-127 letters, digits and `-`",
        ));
    }
    let image_prefix = r.string(key::IMAGE_PREFIX);
    let public = r.string(key::PUBLIC);
    let mysql_host = r.string(key::MYSQL_HOST);
    let mut app = map::map(
        &project,
        &Options {
            image_prefix: image_prefix.as_deref(),
            public: public.as_deref(),
            stateful_in_cluster: r.string(key::STATEFUL).as_deref() == Some("in-cluster"),
            allow: &allow,
            mysql_host: mysql_host.as_deref(),
            mysql_password_secret: &mysql_secret,
            images: &images,
            dry_run: r.bool(key::DRY_RUN)?,
            replicas,
            cpu: &cpu,
            memory: &memory,
            cpu_target,
            host: r.one(key::HOST).is_some(),
        },
    )?;
    app.render_dir = r.path(env, key::RENDER_DIR);
    if app.render_dir.is_some() && !r.bool(key::DRY_RUN)? {
        let (_, i) = r.one(key::RENDER_DIR).unwrap_or_default();
        return Err(InputError::invalid(
            i,
            "--render-dir writes what a dry run would apply",
            "--dry-run with --render-dir",
        ));
    }
    Ok(Some(app))
}

/// A service `build --compose` builds, pushed as `PREFIX/SERVICE`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceBuild {
    pub service: String,
    pub build: super::Build,
    /// `--image-prefix` + `/` + the service name.
    pub image: String,
}

/// The images of a Compose application: those it builds, and those it deploys as given
/// (`image:`; MySQL/MariaDB services are not deployed, so not among them).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ComposeImages {
    pub builds: Vec<ServiceBuild>,
    /// (service, image as written).
    pub pulled: Vec<(String, String)>,
}

/// `None` without `--compose`. Only what `build` and `scan` need: the files loaded
/// (schema, interpolation, profiles) and each active service's image or build.
pub fn images(r: &Resolved, env: &Env) -> Result<Option<ComposeImages>, InputError> {
    let files = r.list(key::COMPOSE);
    if files.is_empty() {
        return Ok(None);
    }
    let input = r.one(key::COMPOSE).map(|(_, i)| i).unwrap_or_default();
    let paths: Vec<_> = files.iter().map(|f| env.resolve_path(f)).collect();
    let profiles = r.list(key::COMPOSE_PROFILE);
    let project = load::load(&paths, &profiles, env).map_err(|e| load_error(&input, e))?;
    let file = project
        .files
        .last()
        .map(|f| f.display().to_string())
        .unwrap_or_default();
    let empty = serde_json::Map::new();
    let top_secrets = project
        .doc
        .get("secrets")
        .and_then(serde_json::Value::as_object)
        .unwrap_or(&empty);
    let prefix = r.string(key::IMAGE_PREFIX);
    let mut out = ComposeImages::default();
    let services = project
        .doc
        .get("services")
        .and_then(serde_json::Value::as_object)
        .cloned()
        .unwrap_or_default();
    for (name, s) in &services {
        let at = format!("{file}: services.{name}");
        match (
            s.get("build"),
            s.get("image").and_then(serde_json::Value::as_str),
        ) {
            (Some(b), _) => {
                let Some(prefix) = prefix.as_deref() else {
                    return Err(InputError::invalid(
                        format!("{at}.build"),
                        format!("`{name}` is built but the registry path is unknown"),
                        "--image-prefix REGISTRY/PATH (images are pushed as PREFIX/SERVICE)",
                    ));
                };
                let build = map::build_spec(b, &project.dir, top_secrets, &at)?;
                out.builds.push(ServiceBuild {
                    service: name.clone(),
                    build,
                    image: format!("{}/{name}", prefix.trim_end_matches('/')),
                });
            }
            (None, Some(i)) if !map::is_mysql(i) => out.pulled.push((name.clone(), i.to_string())),
            _ => {}
        }
    }
    Ok(Some(out))
}
