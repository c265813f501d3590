//! The build plan: which tags and labels the image gets (from the CI context, like
//! docker/metadata-action), which builder, how the registry is signed in to.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::inputs::ci::CiContext;
use crate::inputs::settings::{BuildSettings, Builder, CacheTo};

/// How the push signs in to the registry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RegistryAuthPlan {
    /// Entra token -> ACR refresh token (`/oauth2/exchange`), null-GUID user.
    AcrExchange,
    /// Credentials for the registry in the Docker config file.
    DockerConfig,
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct BuildPlan {
    pub context: PathBuf,
    pub dockerfile: PathBuf,
    /// The Dockerfile as annotations name it (relative to the workspace).
    pub dockerfile_display: String,
    pub registry: String,
    /// `registry/repository`.
    pub image: String,
    pub tags: Vec<String>,
    /// `registry/repository:tag` for every tag.
    pub references: Vec<String>,
    /// Names only: values stay out of logs and plans.
    pub build_args: Vec<String>,
    pub labels: BTreeMap<String, String>,
    pub target: Option<String>,
    pub platform: Option<String>,
    /// Explicit `--cache-from`, or (BuildKit, pushing, inline cache) the image's own
    /// references: the previous build of this branch/PR carries its cache inline.
    pub cache_from: Vec<String>,
    /// `cache_from` is the default above (dropped when the classic builder is used).
    pub cache_from_default: bool,
    pub cache_to: CacheTo,
    pub no_cache: bool,
    /// As asked; the step reports what the engine offered.
    pub builder: Builder,
    /// Ids only.
    pub secrets: Vec<String>,
    pub push: bool,
    pub auth: Option<RegistryAuthPlan>,
}

/// `v1.2.3` / `1.2.3-rc.1` -> (major, minor, patch, pre-release?).
fn semver(tag: &str) -> Option<(u64, u64, u64, Option<String>)> {
    let t = tag.strip_prefix('v').unwrap_or(tag);
    let (core, pre) = match t.split_once('-') {
        Some((c, p)) => (c, Some(p.to_string())),
        None => (t.split_once('+').map_or(t, |(c, _)| c), None),
    };
    let mut it = core.split('.');
    let n = |s: Option<&str>| s.and_then(|x| x.parse::<u64>().ok());
    let (a, b, c) = (n(it.next())?, n(it.next())?, n(it.next())?);
    it.next().is_none().then_some((a, b, c, pre))
}

/// A branch name as a tag: invalid characters become `-` (metadata-action's rule).
fn sanitize(s: &str) -> String {
    let mut out: String = s
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "_.-".contains(c) {
                c
            } else {
                '-'
            }
        })
        .collect();
    while out.starts_with(['.', '-']) {
        out.remove(0);
    }
    out.truncate(128);
    out
}

/// Tags from the CI context: `sha-<short>`, the branch, `pr-<n>`, and for a semver git
/// tag `X.Y.Z`, `X.Y`, `X` (not for 0.x) and `latest` (not for pre-releases).
pub fn ci_tags(ci: &CiContext) -> Vec<String> {
    let mut tags = Vec::new();
    let git_ref = ci.git_ref.as_deref().unwrap_or("");
    if let Some(n) = ci.pr_number {
        tags.push(format!("pr-{n}"));
    } else if let Some(t) = git_ref.strip_prefix("refs/tags/") {
        match semver(t) {
            Some((a, b, c, None)) => {
                tags.push(format!("{a}.{b}.{c}"));
                tags.push(format!("{a}.{b}"));
                if a > 0 {
                    tags.push(format!("{a}"));
                }
                tags.push("latest".into());
            }
            Some((a, b, c, Some(pre))) => tags.push(sanitize(&format!("{a}.{b}.{c}-{pre}"))),
            None => tags.push(sanitize(t)),
        }
    } else if let Some(b) = git_ref.strip_prefix("refs/heads/") {
        let b = sanitize(b);
        if !b.is_empty() {
            tags.push(b);
        }
    }
    if let Some(s) = ci.short_sha() {
        tags.push(format!("sha-{s}"));
    }
    if tags.is_empty() {
        tags.push("latest".into());
    }
    tags.dedup();
    tags
}

/// The `org.opencontainers.image.*` labels from the CI context.
pub fn oci_labels(
    ci: &CiContext,
    repository: &str,
    version: &str,
    created: &str,
) -> BTreeMap<String, String> {
    let mut l = BTreeMap::new();
    let key = |k: &str| format!("org.opencontainers.image.{k}");
    if let (Some(server), Some(repo)) = (&ci.server_url, &ci.repository) {
        let url = match ci.host {
            crate::model::host_kind::HostKind::AzurePipelines => {
                format!("{}/_git/{repo}", server.trim_end_matches('/'))
            }
            _ => format!("{}/{repo}", server.trim_end_matches('/')),
        };
        l.insert(key("source"), url);
    }
    if let Some(c) = &ci.commit {
        l.insert(key("revision"), c.clone());
    }
    l.insert(key("created"), created.to_string());
    l.insert(key("version"), version.to_string());
    let title = repository.rsplit('/').next().unwrap_or(repository);
    l.insert(key("title"), title.to_string());
    l
}

impl BuildPlan {
    /// `created` is the build time (RFC 3339), given by the step so the plan stays pure.
    pub fn new(
        s: &BuildSettings,
        ci: &CiContext,
        created: &str,
        workspace: &Path,
        has_entra_token: bool,
    ) -> BuildPlan {
        let mut tags = if s.tags.is_empty() {
            ci_tags(ci)
        } else {
            s.tags.clone()
        };
        if let Some(t) = &s.image.tag
            && !tags.contains(t)
        {
            tags.insert(0, t.clone());
        }
        let image = s.image.name();
        let references: Vec<String> = tags.iter().map(|t| format!("{image}:{t}")).collect();
        let cache_from_default = s.cache_from.is_empty()
            && s.push
            && s.cache_to == CacheTo::Inline
            && !s.no_cache
            && s.builder != Builder::Classic;
        let cache_from = if cache_from_default {
            references.clone()
        } else {
            s.cache_from.clone()
        };
        let mut labels = oci_labels(
            ci,
            &s.image.repository,
            tags.first().map_or("", String::as_str),
            created,
        );
        labels.extend(s.labels.clone());
        let dockerfile_display = s
            .dockerfile
            .strip_prefix(workspace)
            .map(|p| p.display().to_string())
            .unwrap_or_else(|_| s.dockerfile.display().to_string());
        BuildPlan {
            context: s.context.clone(),
            dockerfile: s.dockerfile.clone(),
            dockerfile_display,
            registry: s.image.registry.clone(),
            image,
            tags,
            references,
            build_args: s.build_args.keys().cloned().collect(),
            labels,
            target: s.target.clone(),
            platform: s.platform.clone(),
            cache_from,
            cache_from_default,
            cache_to: s.cache_to,
            no_cache: s.no_cache,
            builder: s.builder,
            secrets: s.secrets.iter().map(|x| x.id.clone()).collect(),
            push: s.push,
            auth: s.push.then_some(if has_entra_token {
                RegistryAuthPlan::AcrExchange
            } else {
                RegistryAuthPlan::DockerConfig
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::env::Env;

    fn ci(pairs: &[(&str, &str)]) -> CiContext {
        let mut v = vec![
            ("GITHUB_ACTIONS", "true"),
            ("GITHUB_REPOSITORY", "octo/api"),
        ];
        v.extend_from_slice(pairs);
        CiContext::detect(&Env::from_pairs(v, "/w"))
    }

    #[test]
    fn tags_like_metadata_action() {
        let c = ci(&[
            ("GITHUB_REF", "refs/heads/feature/x"),
            ("GITHUB_SHA", "0123456789"),
        ]);
        assert_eq!(ci_tags(&c), vec!["feature-x", "sha-0123456"]);
        let c = ci(&[
            ("GITHUB_REF", "refs/pull/7/merge"),
            ("GITHUB_SHA", "abcdef01"),
        ]);
        assert_eq!(ci_tags(&c), vec!["pr-7", "sha-abcdef0"]);
        let c = ci(&[
            ("GITHUB_REF", "refs/tags/v1.2.3"),
            ("GITHUB_SHA", "abcdef01"),
        ]);
        assert_eq!(
            ci_tags(&c),
            vec!["1.2.3", "1.2", "1", "latest", "sha-abcdef0"]
        );
        let c = ci(&[("GITHUB_REF", "refs/tags/v0.3.0-rc.1")]);
        assert_eq!(ci_tags(&c), vec!["0.3.0-rc.1"]);
    }

    #[test]
    fn labels_from_ci() {
        let c = ci(&[
            ("GITHUB_SHA", "abc"),
            ("GITHUB_SERVER_URL", "https://github.com"),
        ]);
        let l = oci_labels(&c, "team/api", "1.0.0", "2026-01-01T00:00:00Z");
        assert_eq!(
            l["org.opencontainers.image.source"],
            "https://github.com/octo/api"
        );
        assert_eq!(l["org.opencontainers.image.revision"], "abc");
        assert_eq!(l["org.opencontainers.image.title"], "api");
        assert_eq!(l["org.opencontainers.image.version"], "1.0.0");
    }
}
