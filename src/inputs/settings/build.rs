//! The build step's settings: context, Dockerfile, image name, tags, build arguments,
//! labels, target, platform, secrets; all checked before the engine is touched.

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::env::Env;
use crate::inputs::{InputError, Resolved, key};

/// `registry/repository[:tag]` as given by `--image`.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct ImageName {
    /// `host[:port]`; empty for a name without registry (local builds only).
    pub registry: String,
    pub repository: String,
    pub tag: Option<String>,
}

impl ImageName {
    /// The distribution reference grammar (as `scan` and `deploy` read it), without a
    /// digest; the first component is a registry by Docker's rule.
    pub fn parse(s: &str) -> Option<ImageName> {
        if s.is_empty() || s.contains('@') || s.contains(char::is_whitespace) {
            return None;
        }
        crate::model::image_ref::ImageRef::parse(s).ok()?;
        let (registry, rest) = match crate::model::image_ref::split_registry(s) {
            (Some(first), rest) => (first.to_string(), rest),
            (None, rest) => (String::new(), rest),
        };
        let (repository, tag) = match rest.rsplit_once(':') {
            Some((r, t)) if !t.contains('/') => (r.to_string(), Some(t.to_string())),
            _ => (rest.to_string(), None),
        };
        let repo_ok = !repository.is_empty()
            && repository.split('/').all(|c| {
                !c.is_empty()
                    && c.chars().all(|ch| {
                        ch.is_ascii_lowercase() || ch.is_ascii_digit() || "._-".contains(ch)
                    })
            });
        if !repo_ok || tag.as_deref().is_some_and(|t| !valid_tag(t)) {
            return None;
        }
        Some(ImageName {
            registry,
            repository,
            tag,
        })
    }

    /// `registry/repository` (what the engine pushes).
    pub fn name(&self) -> String {
        if self.registry.is_empty() {
            self.repository.clone()
        } else {
            format!("{}/{}", self.registry, self.repository)
        }
    }
}

/// Docker's tag grammar: `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`.
pub fn valid_tag(t: &str) -> bool {
    let mut c = t.chars();
    matches!(c.next(), Some(f) if f.is_ascii_alphanumeric() || f == '_')
        && t.len() <= 128
        && c.all(|ch| ch.is_ascii_alphanumeric() || "_.-".contains(ch))
}

/// One `--secret id=ID,src=PATH|env=VAR`.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct SecretSpec {
    pub id: String,
    pub source: SecretSource,
}

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SecretSource {
    File(PathBuf),
    Env(String),
}

/// Which builder the engine is asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Builder {
    /// BuildKit when the engine offers it (Docker), else classic (Podman).
    Auto,
    BuildKit,
    Classic,
}

/// BuildKit's cache export.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum CacheTo {
    /// `BUILDKIT_INLINE_CACHE=1`: the cache metadata goes into the pushed image.
    Inline,
    None,
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct BuildSettings {
    /// With `--compose`: the service this image is built for.
    pub service: Option<String>,
    pub context: PathBuf,
    pub dockerfile: PathBuf,
    pub image: ImageName,
    /// `--tag` values (empty: tags come from the CI context).
    pub tags: Vec<String>,
    /// Values are not serialized by the plan (they may be sensitive by accident).
    pub build_args: BTreeMap<String, String>,
    pub labels: BTreeMap<String, String>,
    pub target: Option<String>,
    pub platform: Option<String>,
    pub secrets: Vec<SecretSpec>,
    pub cache_from: Vec<String>,
    pub cache_to: CacheTo,
    pub builder: Builder,
    pub no_cache: bool,
    pub push: bool,
    pub tenant_id: Option<String>,
    /// `acr-hosts`: registries besides `*.azurecr.{io,cn,us}` that get an Entra token.
    pub acr_hosts: Vec<String>,
    /// `registry-insecure`: a loopback registry's token service may speak plain HTTP.
    pub registry_insecure: bool,
    pub outputs_file: Option<PathBuf>,
    pub dry_run: bool,
}

fn key_values(
    r: &Resolved,
    env: &Env,
    name: key::Key,
    from_env: bool,
) -> Result<BTreeMap<String, String>, InputError> {
    let mut out = BTreeMap::new();
    let input = r
        .get(name)
        .map(|v| v.origin.describe(name.name()))
        .unwrap_or_else(|| format!("--{}", name.name()));
    for item in r.list(name) {
        let (k, v) = match item.split_once('=') {
            Some((k, v)) => (k.trim().to_string(), v.to_string()),
            // `--build-arg NAME` takes NAME from the environment, as docker does.
            None if from_env => match env.get(item.trim()) {
                Some(v) => (item.trim().to_string(), v.to_string()),
                None => {
                    return Err(InputError::invalid(
                        input,
                        format!("`{item}` has no value and ${item} is not set"),
                        "K=V, or K with K set in the environment",
                    ));
                }
            },
            None => {
                return Err(InputError::invalid(
                    input,
                    format!("`{item}` is not K=V"),
                    "K=V",
                ));
            }
        };
        if k.is_empty() {
            return Err(InputError::invalid(
                input,
                format!("`{item}` has no key"),
                "K=V",
            ));
        }
        out.insert(k, v);
    }
    Ok(out)
}

fn secret(input: &str, env: &Env, raw: &str) -> Result<SecretSpec, InputError> {
    let expected = "id=ID,src=PATH or id=ID,env=VAR";
    let mut id = None;
    let mut source = None;
    for part in raw.split(',') {
        match part.trim().split_once('=') {
            Some(("id", v)) => id = Some(v.to_string()),
            Some(("src" | "source", v)) => source = Some(SecretSource::File(env.resolve_path(v))),
            Some(("env", v)) => source = Some(SecretSource::Env(v.to_string())),
            Some(("type", "file" | "env")) => {}
            _ => {
                return Err(InputError::invalid(
                    input,
                    format!("`{part}` is not understood in a secret"),
                    expected,
                ));
            }
        }
    }
    match (id, source) {
        (Some(id), Some(source)) => Ok(SecretSpec { id, source }),
        (Some(id), None) => Ok(SecretSpec {
            source: SecretSource::Env(id.clone()),
            id,
        }),
        _ => Err(InputError::invalid(input, "a secret needs an id", expected)),
    }
}

impl BuildSettings {
    pub fn resolve(r: &Resolved, env: &Env) -> Result<Self, InputError> {
        let (ctx_raw, ctx_input) = r.value(key::CONTEXT);
        let context = env.resolve_path(ctx_raw);
        if !context.is_dir() {
            return Err(InputError::invalid(
                ctx_input,
                format!("{} is not a directory", context.display()),
                "the build context directory (the `.` of `docker build .`)",
            ));
        }
        let context = context.canonicalize().unwrap_or(context);
        let dockerfile = match r.one(key::FILE) {
            Some((v, i)) => {
                let p = env.resolve_path(v);
                if !p.is_file() {
                    return Err(InputError::invalid(
                        i,
                        format!("{} is not a file", p.display()),
                        "the path of a Dockerfile",
                    ));
                }
                p
            }
            None => {
                let p = context.join("Dockerfile");
                if !p.is_file() {
                    return Err(InputError::Missing(
                        format!("no Dockerfile in the context {}", context.display()),
                        "add one, or name it with --file PATH".into(),
                    ));
                }
                p
            }
        };
        let dockerfile = dockerfile.canonicalize().unwrap_or(dockerfile);
        let push = r.bool(key::PUSH)?;
        let image = match r.one(key::IMAGE) {
            None => {
                return Err(InputError::Missing(
                    "no image name".into(),
                    "give --image REGISTRY/REPO, e.g. --image myacr.azurecr.io/api".into(),
                ));
            }
            Some((v, i)) => {
                let img = ImageName::parse(v).ok_or_else(|| {
                    InputError::invalid(
                        i.clone(),
                        format!("`{v}` is not an image name"),
                        "REGISTRY/REPO or REGISTRY/REPO:TAG in lowercase, without a digest",
                    )
                })?;
                if push && img.registry.is_empty() {
                    return Err(InputError::invalid(
                        i,
                        format!("`{v}` names no registry to push to"),
                        "REGISTRY/REPO, e.g. myacr.azurecr.io/api (or --push false)",
                    ));
                }
                img
            }
        };
        Self::common(r, env, context, dockerfile, image)
    }

    /// Everything but the context, the Dockerfile and the image: shared by the images of
    /// a `--compose` build.
    fn common(
        r: &Resolved,
        env: &Env,
        context: PathBuf,
        dockerfile: PathBuf,
        image: ImageName,
    ) -> Result<Self, InputError> {
        let push = r.bool(key::PUSH)?;
        let tags = r.list(key::TAG);
        for t in &tags {
            if !valid_tag(t) {
                let i = r.input(key::TAG);
                return Err(InputError::invalid(
                    i,
                    format!("`{t}` is not a valid tag"),
                    "letters, digits, `_`, `.` and `-`, not starting with `.` or `-`, at most 128",
                ));
            }
        }
        let secrets = {
            let input = r
                .get(key::SECRET)
                .map(|v| v.origin.describe(key::SECRET.name()))
                .unwrap_or_else(|| "--secret".into());
            r.list(key::SECRET)
                .iter()
                .map(|s| secret(&input, env, s))
                .collect::<Result<Vec<_>, _>>()?
        };
        for sp in &secrets {
            let input = r.input(key::SECRET);
            match &sp.source {
                SecretSource::File(p) if !p.is_file() => {
                    return Err(InputError::invalid(
                        input,
                        format!(
                            "the secret `{}` reads {}, which is not a file",
                            sp.id,
                            p.display()
                        ),
                        "id=ID,src=PATH with an existing file (relative paths are from the working directory)",
                    ));
                }
                SecretSource::Env(v) if env.get(v).is_none() => {
                    return Err(InputError::invalid(
                        input,
                        format!("the secret `{}` reads ${v}, which is not set", sp.id),
                        "id=ID,env=VAR with VAR set in the step's environment",
                    ));
                }
                _ => {}
            }
        }
        let builder = match r.one(key::BUILDER) {
            Some(("auto", _)) | None => Builder::Auto,
            Some(("buildkit", _)) => Builder::BuildKit,
            Some(("classic", _)) => Builder::Classic,
            Some((v, i)) => {
                return Err(InputError::invalid(
                    i,
                    format!("`{v}` is not a builder"),
                    "auto, buildkit or classic",
                ));
            }
        };
        let cache_to = match r.one(key::CACHE_TO) {
            Some(("inline" | "type=inline", _)) | None => CacheTo::Inline,
            Some(("none" | "", _)) => CacheTo::None,
            Some((v, i)) => {
                return Err(InputError::invalid(
                    i,
                    format!("`{v}` is not a cache export the engine's BuildKit can do"),
                    "inline (the engine's built-in BuildKit exports cache inline only; type=registry needs a BuildKit container builder) or none",
                ));
            }
        };
        Ok(BuildSettings {
            service: None,
            context,
            dockerfile,
            image,
            tags,
            build_args: key_values(r, env, key::BUILD_ARG, true)?,
            labels: key_values(r, env, key::LABEL, false)?,
            target: r.string(key::TARGET),
            platform: r.single(key::PLATFORM, "platform")?,
            secrets,
            cache_from: r.list(key::CACHE_FROM),
            cache_to,
            builder,
            no_cache: r.bool(key::NO_CACHE)?,
            push,
            tenant_id: r.string(key::TENANT_ID),
            acr_hosts: r.list(key::ACR_HOSTS),
            registry_insecure: r.bool(key::REGISTRY_INSECURE)?,
            outputs_file: r.path(env, key::OUTPUTS_FILE),
            dry_run: r.bool(key::DRY_RUN)?,
        })
    }
}

impl BuildSettings {
    /// `build --compose`: one image per service with `build:`, each with the service's
    /// context, Dockerfile, args, target and secrets over the shared settings (tags,
    /// labels, builder, push); `None` without `--compose`.
    pub fn resolve_compose(r: &Resolved, env: &Env) -> Result<Option<Vec<Self>>, InputError> {
        let Some(app) = crate::inputs::compose::settings::images(r, env)? else {
            return Ok(None);
        };
        for other in [key::IMAGE, key::CONTEXT.key, key::FILE] {
            if r.get(other).is_some_and(|v| {
                !matches!(
                    v.origin,
                    crate::inputs::Origin::State(_) | crate::inputs::Origin::Default
                )
            }) {
                return Err(InputError::Conflict(
                    format!(
                        "--compose and --{} both say what to build",
                        other.name()
                    ),
                    "with --compose, each service's build: says it (context, dockerfile) and --image-prefix where it goes".into(),
                ));
            }
        }
        let mut out = Vec::new();
        for b in app.builds {
            let at = format!("the Compose service `{}`", b.service);
            let context = b.build.context.clone();
            if !context.is_dir() {
                return Err(InputError::invalid(
                    format!("{at} (build.context)"),
                    format!("{} is not a directory", context.display()),
                    "the build context directory, relative to the Compose file",
                ));
            }
            let context = context.canonicalize().unwrap_or(context);
            let dockerfile = context.join(b.build.dockerfile.as_deref().unwrap_or("Dockerfile"));
            if !dockerfile.is_file() {
                return Err(InputError::invalid(
                    format!("{at} (build.dockerfile)"),
                    format!("{} is not a file", dockerfile.display()),
                    "a Dockerfile in the context, or build.dockerfile naming one",
                ));
            }
            let dockerfile = dockerfile.canonicalize().unwrap_or(dockerfile);
            let image = ImageName::parse(&b.image)
                .filter(|i| !i.registry.is_empty() && i.tag.is_none())
                .ok_or_else(|| {
                    InputError::invalid(
                        r.input(key::IMAGE_PREFIX),
                        format!("`{}` is not an image name to push to", b.image),
                        "REGISTRY/PATH in lowercase (images are pushed as PREFIX/SERVICE)",
                    )
                })?;
            let mut s = Self::common(r, env, context, dockerfile, image)?;
            s.service = Some(b.service.clone());
            s.build_args.extend(b.build.args.iter().cloned());
            if b.build.target.is_some() {
                s.target = b.build.target.clone();
            }
            for sec in &b.build.secrets {
                let source = match &sec.from {
                    crate::inputs::compose::BuildSecretFrom::File(p) => {
                        if !p.is_file() {
                            return Err(InputError::invalid(
                                format!("{at} (build.secrets)"),
                                format!(
                                    "the secret `{}` reads {}, which is not a file",
                                    sec.id,
                                    p.display()
                                ),
                                "a top-level secret whose `file:` exists",
                            ));
                        }
                        SecretSource::File(p.clone())
                    }
                    crate::inputs::compose::BuildSecretFrom::Env(v) => {
                        if env.get(v).is_none() {
                            return Err(InputError::invalid(
                                format!("{at} (build.secrets)"),
                                format!("the secret `{}` reads ${v}, which is not set", sec.id),
                                "the variable set in the step's environment",
                            ));
                        }
                        SecretSource::Env(v.clone())
                    }
                };
                s.secrets.retain(|x| x.id != sec.id);
                s.secrets.push(SecretSpec {
                    id: sec.id.clone(),
                    source,
                });
            }
            out.push(s);
        }
        if out.is_empty() {
            return Err(InputError::Missing(
                "no Compose service has `build:`".into(),
                "give a service a build: section, or leave out the build step (--steps)".into(),
            ));
        }
        Ok(Some(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_names() {
        let i = ImageName::parse("myacr.azurecr.io/team/api:v1").unwrap();
        assert_eq!(
            (i.registry.as_str(), i.repository.as_str(), i.tag.as_deref()),
            ("myacr.azurecr.io", "team/api", Some("v1"))
        );
        let i = ImageName::parse("127.0.0.1:5000/api").unwrap();
        assert_eq!((i.registry.as_str(), i.tag), ("127.0.0.1:5000", None));
        assert_eq!(ImageName::parse("api").unwrap().registry, "");
        assert!(ImageName::parse("r.io/API").is_none());
        assert!(ImageName::parse("r.io/api@sha256:00").is_none());
        assert!(valid_tag("pr-42") && !valid_tag("-x") && !valid_tag("a/b"));
        // Issue 13 item 7: the same grammar as scan and deploy.
        for bad in ["r.io/a..b", "r.io/-a", "UPPER/Case", "a/b___c", "r.io:x/a"] {
            assert!(ImageName::parse(bad).is_none(), "{bad}");
        }
    }
}
