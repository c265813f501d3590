//! Image references, parsed the way the container runtime reads them, because deploys
//! are by digest and substitution matches by repository: a registry with a port
//! (`host:5000/team/api`) must not be mistaken for a tag, and `nginx` is
//! `docker.io/library/nginx`.
//!
//! Our own grammar, not `oci-spec`'s `distribution::Reference` (not in the dependency tree,
//! and it would bring its builder and derive crates): that type normalises as it parses
//! (`nginx` becomes `docker.io/library/nginx`), while the repository here stays as written
//! (substitution matches manifests by what the user wrote) and each error names what is
//! wrong (digest, name or tag) for the input's message.

use std::fmt;

/// `[registry/]path[:tag][@sha256:hex]`.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct ImageRef {
    /// As written, without tag and digest (`host:5000/team/api`, `nginx`).
    pub repository: String,
    pub tag: Option<String>,
    /// `sha256:<64 hex>`.
    pub digest: Option<String>,
}

#[derive(Debug, PartialEq, Eq)]
pub enum ImageRefError {
    Empty,
    BadDigest(String),
    BadName(String),
    BadTag(String),
}

impl fmt::Display for ImageRefError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ImageRefError::Empty => write!(f, "the image reference is empty"),
            ImageRefError::BadDigest(d) => {
                write!(
                    f,
                    "`{}` is not a digest (sha256: and 64 lowercase hex digits)",
                    d.escape_debug()
                )
            }
            ImageRefError::BadName(n) => write!(
                f,
                "`{}` is not an image repository name (lowercase path components, optionally after a registry host[:port])",
                n.escape_debug()
            ),
            ImageRefError::BadTag(t) => write!(
                f,
                "`{}` is not a tag (letters, digits, `_`, `.`, `-`; at most 128, not starting with `.` or `-`)",
                t.escape_debug()
            ),
        }
    }
}

/// Longest repository name the distribution spec allows.
const MAX_NAME: usize = 255;

impl ImageRef {
    /// Parses `s` by the distribution reference grammar (`reference := name [":" tag]
    /// ["@" digest]`, as `docker` reads it): a registry host (domain name, IPv4 or
    /// `[IPv6]`, optional port) only where the first component has a `.` or `:`, is
    /// `localhost` or has an uppercase letter; every path component lowercase
    /// `[a-z0-9]+` joined by `.`, `_`, `__` or `-`s; a tag `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`;
    /// the digest `sha256:` and 64 lowercase hex digits. Surrounding whitespace is
    /// ignored; any inside (a newline) is an error.
    pub fn parse(s: &str) -> Result<Self, ImageRefError> {
        let s = s.trim();
        if s.is_empty() {
            return Err(ImageRefError::Empty);
        }
        let (name, digest) = match s.split_once('@') {
            Some((n, d)) => {
                let hex = d
                    .strip_prefix("sha256:")
                    .ok_or_else(|| ImageRefError::BadDigest(d.into()))?;
                if hex.len() != 64
                    || !hex
                        .chars()
                        .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c))
                {
                    return Err(ImageRefError::BadDigest(d.into()));
                }
                (n, Some(d.to_string()))
            }
            None => (s, None),
        };
        // A colon after the last slash is a tag; before it, a registry port.
        let last_slash = name.rfind('/').map_or(0, |i| i + 1);
        let (repository, tag) = match name[last_slash..].rfind(':') {
            Some(i) => (
                &name[..last_slash + i],
                Some(name[last_slash + i + 1..].to_string()),
            ),
            None => (name, None),
        };
        if !is_repository(repository) {
            return Err(ImageRefError::BadName(repository.into()));
        }
        if let Some(t) = &tag
            && !is_tag(t)
        {
            return Err(ImageRefError::BadTag(t.clone()));
        }
        Ok(ImageRef {
            repository: repository.to_string(),
            tag,
            digest,
        })
    }

    /// The repository as the runtime resolves it: `nginx` -> `docker.io/library/nginx`.
    pub fn canonical_repository(&self) -> String {
        canonical(&self.repository)
    }

    /// `repository@digest` (the form we deploy), or as given when there is no digest.
    pub fn pinned(&self) -> String {
        match &self.digest {
            Some(d) => format!("{}@{d}", self.repository),
            None => self.to_string(),
        }
    }
}

/// `(registry, path)`: the first component is a registry when it has a `.` or `:`, is
/// `localhost`, or has an uppercase letter (how `docker` splits a name).
pub fn split_registry(repo: &str) -> (Option<&str>, &str) {
    match repo.split_once('/') {
        Some((first, rest))
            if first.contains(['.', ':'])
                || first == "localhost"
                || first.chars().any(|c| c.is_ascii_uppercase()) =>
        {
            (Some(first), rest)
        }
        _ => (None, repo),
    }
}

fn is_repository(repo: &str) -> bool {
    if repo.is_empty() || repo.len() > MAX_NAME {
        return false;
    }
    let (registry, path) = split_registry(repo);
    registry.is_none_or(is_registry) && path.split('/').all(is_path_component)
}

/// `host[:port]`: a domain name, an IPv4 address or a bracketed IPv6 address.
fn is_registry(r: &str) -> bool {
    let (host, port) = if let Some(rest) = r.strip_prefix('[') {
        let Some((v6, after)) = rest.split_once(']') else {
            return false;
        };
        if v6.parse::<std::net::Ipv6Addr>().is_err() {
            return false;
        }
        match after {
            "" => return true,
            p => match p.strip_prefix(':') {
                Some(port) => ("v6", Some(port)),
                None => return false,
            },
        }
    } else {
        match r.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (r, None),
        }
    };
    let port_ok = port.is_none_or(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()));
    let host_ok = !host.is_empty()
        && host.split('.').all(|c| {
            !c.is_empty()
                && c.chars().all(|ch| ch.is_ascii_alphanumeric() || ch == '-')
                && !c.starts_with('-')
                && !c.ends_with('-')
        });
    port_ok && host_ok
}

/// `[a-z0-9]+` joined by `.`, `_`, `__` or one or more `-`.
fn is_path_component(c: &str) -> bool {
    let alnum = |x: char| x.is_ascii_lowercase() || x.is_ascii_digit();
    // Starts and ends alphanumeric; every run of other characters between is a separator.
    c.starts_with(alnum)
        && c.ends_with(alnum)
        && c.split(alnum)
            .filter(|sep| !sep.is_empty())
            .all(|sep| sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|x| x == b'-'))
}

/// `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`.
fn is_tag(t: &str) -> bool {
    let word = |c: char| c.is_ascii_alphanumeric() || c == '_';
    t.len() <= 128
        && t.chars().next().is_some_and(word)
        && t.chars().all(|c| word(c) || c == '.' || c == '-')
}

fn canonical(repo: &str) -> String {
    match split_registry(repo) {
        (Some(reg), rest) => {
            let reg = if reg == "index.docker.io" || reg == "registry-1.docker.io" {
                "docker.io"
            } else {
                reg
            };
            if reg == "docker.io" && !rest.contains('/') {
                return format!("docker.io/library/{rest}");
            }
            format!("{reg}/{rest}")
        }
        (None, path) if path.contains('/') => format!("docker.io/{path}"),
        (None, path) => format!("docker.io/library/{path}"),
    }
}

impl fmt::Display for ImageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.repository)?;
        if let Some(t) = &self.tag {
            write!(f, ":{t}")?;
        }
        if let Some(d) = &self.digest {
            write!(f, "@{d}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";

    #[test]
    fn registry_with_port_is_not_a_tag() {
        let r = ImageRef::parse("localhost:5000/team/api").unwrap();
        assert_eq!(r.repository, "localhost:5000/team/api");
        assert_eq!(r.tag, None);
        let r = ImageRef::parse(&format!("myreg.azurecr.io:443/api:v1@{D}")).unwrap();
        assert_eq!(r.repository, "myreg.azurecr.io:443/api");
        assert_eq!(r.tag.as_deref(), Some("v1"));
        assert_eq!(r.digest.as_deref(), Some(D));
        assert_eq!(r.pinned(), format!("myreg.azurecr.io:443/api@{D}"));
    }

    #[test]
    fn docker_hub_names_are_canonical() {
        assert_eq!(
            ImageRef::parse("nginx:1.25")
                .unwrap()
                .canonical_repository(),
            "docker.io/library/nginx"
        );
        assert_eq!(
            ImageRef::parse("bitnami/redis")
                .unwrap()
                .canonical_repository(),
            "docker.io/bitnami/redis"
        );
        assert_eq!(
            ImageRef::parse("docker.io/nginx")
                .unwrap()
                .canonical_repository(),
            "docker.io/library/nginx"
        );
    }

    #[test]
    fn bad_digests_and_names() {
        assert!(matches!(
            ImageRef::parse("a/b@sha256:abc"),
            Err(ImageRefError::BadDigest(_))
        ));
        assert!(matches!(
            ImageRef::parse("a/b@md5:abc"),
            Err(ImageRefError::BadDigest(_))
        ));
        assert!(matches!(
            ImageRef::parse("a b"),
            Err(ImageRefError::BadName(_))
        ));
        assert_eq!(ImageRef::parse(""), Err(ImageRefError::Empty));
    }

    /// Issue 13 item 7: the full distribution reference grammar, for every step.
    #[test]
    fn the_distribution_grammar() {
        for ok in [
            "nginx",
            "nginx:1.25-alpine",
            "library/nginx:latest",
            "team/api_v2__x.y---z:_tag",
            "myreg.azurecr.io/team/api",
            "localhost/api",
            "localhost:5000/api:v1",
            "127.0.0.1:5000/api",
            "[::1]:5000/api",
            "[2001:db8::1]/api",
            "UPPER.example.com/team/api",
            "UPPER/case",
            &format!("myreg.azurecr.io/api@{D}"),
            &format!("a:{}", "t".repeat(128)),
        ] {
            assert!(
                ImageRef::parse(ok).is_ok(),
                "{ok}: {:?}",
                ImageRef::parse(ok)
            );
        }
        for bad in [
            "UPPER/Case",
            &format!("UPPER/Case@{D}"),
            "Team/Api",
            "api:Bad Tag",
            "a@sha256:short",
            &format!("a@sha256:{}", "A".repeat(64)),
            "a\nb",
            "a/b\n:c",
            "--help",
            "-a",
            "a/-b",
            "a/b-",
            "a/b.-c",
            "a/b___c",
            "a/b..c",
            "a//b",
            "/a",
            "a/",
            "reg.io:port/a",
            "reg.io:/a",
            "-reg.io/a",
            "[::1/a",
            "[zz]/a",
            "a:.tag",
            "a:-tag",
            &format!("a:{}", "t".repeat(129)),
            &format!("a/{}", "b".repeat(255)),
            "a:",
            "a@",
        ] {
            assert!(ImageRef::parse(bad).is_err(), "{bad:?} was accepted");
        }
        assert_eq!(
            ImageRef::parse("UPPER/case")
                .unwrap()
                .canonical_repository(),
            "UPPER/case"
        );
        assert!(
            ImageRef::parse("a\nb")
                .unwrap_err()
                .to_string()
                .contains("a\\nb"),
            "the newline is shown escaped"
        );
    }
}
