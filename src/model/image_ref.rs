//! Image references, parsed the way the container runtime reads them, because deploys
//! are by digest and substitution matches by repository: a registry with a port
//! (`host:5000/team/api`) must not be mistaken for a tag, and `nginx` is
//! `docker.io/library/nginx`.

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
}

impl fmt::Display for ImageRefError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ImageRefError::Empty => write!(f, "the image reference is empty"),
            ImageRefError::BadDigest(d) => {
                write!(f, "`{d}` is not a digest (sha256: and 64 hex digits)")
            }
            ImageRefError::BadName(n) => write!(f, "`{n}` is not an image repository name"),
        }
    }
}

impl ImageRef {
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
        let ok = !repository.is_empty()
            && !repository.starts_with('/')
            && !repository.ends_with('/')
            && !repository.contains("//")
            && repository
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "._-/:".contains(c))
            && tag.as_ref().is_none_or(|t| {
                !t.is_empty()
                    && t.len() <= 128
                    && t.chars()
                        .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
            });
        if !ok {
            return Err(ImageRefError::BadName(name.into()));
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

fn canonical(repo: &str) -> String {
    let first = repo.split('/').next().unwrap_or("");
    let has_registry =
        repo.contains('/') && (first.contains('.') || first.contains(':') || first == "localhost");
    if has_registry {
        let (reg, rest) = repo.split_once('/').expect("has a slash");
        let reg = if reg == "index.docker.io" || reg == "registry-1.docker.io" {
            "docker.io"
        } else {
            reg
        };
        if reg == "docker.io" && !rest.contains('/') {
            return format!("docker.io/library/{rest}");
        }
        format!("{reg}/{rest}")
    } else if repo.contains('/') {
        format!("docker.io/{repo}")
    } else {
        format!("docker.io/library/{repo}")
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
}
