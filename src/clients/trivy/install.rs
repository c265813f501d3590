//! Locating Trivy, and installing a pinned, checksum-verified copy when there is none.

use std::io::Read;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::TrivyError;
use super::pins::{self, Format, Pin, Source};

/// Where the binary will come from.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "from", rename_all = "kebab-case")]
pub enum Located {
    /// `--trivy-path`.
    Given { path: PathBuf },
    /// `trivy` on `PATH`.
    OnPath { path: PathBuf },
    /// Installed by an earlier run (verified then).
    Cached { path: PathBuf },
    /// To be downloaded and verified.
    Download {
        url: String,
        sha256: String,
        dest: PathBuf,
        #[serde(skip)]
        pin: Pin,
    },
}

impl Located {
    pub fn path(&self) -> &Path {
        match self {
            Located::Given { path } | Located::OnPath { path } | Located::Cached { path } => path,
            Located::Download { dest, .. } => dest,
        }
    }

    /// The Trivy version, when we know it without running it.
    pub fn version(&self) -> Option<&'static str> {
        match self {
            Located::Download { pin, .. } => Some(pin.version),
            _ => None,
        }
    }
}

#[derive(Clone, Debug)]
pub struct LocateRequest<'a> {
    pub explicit: Option<&'a Path>,
    /// The `PATH` value to search.
    pub search_path: Option<&'a str>,
    /// Root of our tool cache: binaries go to `<root>/<version>/<source>/trivy`.
    pub install_root: &'a Path,
    pub version: &'a str,
    pub source: Source,
    pub base_url: Option<&'a str>,
    pub allow_download: bool,
    pub os: &'a str,
    pub arch: &'a str,
}

/// Decides where Trivy comes from. Looks at the file system only; changes nothing.
pub fn locate(req: &LocateRequest<'_>) -> Result<Located, TrivyError> {
    if let Some(p) = req.explicit {
        return if p.is_file() {
            Ok(Located::Given {
                path: p.to_path_buf(),
            })
        } else {
            Err(TrivyError::BadPath(p.to_path_buf()))
        };
    }
    if let Some(p) = req.search_path.and_then(|path| find_on_path(path, "trivy")) {
        return Ok(Located::OnPath { path: p });
    }
    let dest = req
        .install_root
        .join(req.version)
        .join(req.source.name())
        .join("trivy");
    if dest.is_file() {
        return Ok(Located::Cached { path: dest });
    }
    if !req.allow_download {
        return Err(TrivyError::NotFound {
            searched: format!("no --trivy-path, not on PATH, not in {}", dest.display()),
        });
    }
    let pin =
        pins::find(req.version, req.source, req.os, req.arch).ok_or_else(|| TrivyError::NoPin {
            version: req.version.to_string(),
            source_name: req.source.name(),
            os: req.os.to_string(),
            arch: req.arch.to_string(),
            pinned: pins::versions(req.source, req.os, req.arch),
        })?;
    let base = req.base_url.unwrap_or(req.source.default_base_url());
    Ok(Located::Download {
        url: pin.url(base),
        sha256: pin.sha256.to_string(),
        dest,
        pin: *pin,
    })
}

fn find_on_path(path: &str, name: &str) -> Option<PathBuf> {
    std::env::split_paths(path)
        .map(|d| d.join(name))
        .find(|p| is_executable(p))
}

#[cfg(unix)]
fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    p.metadata()
        .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

#[cfg(not(unix))]
fn is_executable(p: &Path) -> bool {
    p.is_file()
}

/// Downloads the pinned archive, verifies its sha256 *before* anything is extracted,
/// and installs the binary at `dest` (atomically: a half-written binary is never run).
pub async fn install(
    http: &crate::clients::http::Http,
    url: &str,
    pin: &Pin,
    dest: &Path,
) -> Result<PathBuf, TrivyError> {
    let dl = |message: String| TrivyError::Download {
        url: url.to_string(),
        message,
    };
    // Through the HTTP room: its deadline, the download size cap and the retry policy.
    let resp = http.download(url).await.map_err(|e| dl(e.to_string()))?;
    if !resp.status.is_success() {
        return Err(dl(format!("HTTP {}", resp.status)));
    }
    let dir = dest.parent().expect("dest has a parent");
    std::fs::create_dir_all(dir).map_err(|source| TrivyError::Install {
        path: dir.to_path_buf(),
        source,
    })?;
    let archive_path = dir.join(format!(".{}.partial", pin.file));
    let mut file = tokio::fs::File::create(&archive_path)
        .await
        .map_err(|source| TrivyError::Install {
            path: archive_path.clone(),
            source,
        })?;
    let mut hasher = Sha256::new();
    use tokio::io::AsyncWriteExt;
    hasher.update(&resp.body);
    file.write_all(&resp.body)
        .await
        .map_err(|source| TrivyError::Install {
            path: archive_path.clone(),
            source,
        })?;
    file.flush().await.map_err(|source| TrivyError::Install {
        path: archive_path.clone(),
        source,
    })?;
    drop(file);
    let actual = hex::encode(hasher.finalize());
    if actual != pin.sha256 {
        let _ = std::fs::remove_file(&archive_path);
        return Err(TrivyError::Checksum {
            url: url.to_string(),
            expected: pin.sha256.to_string(),
            actual,
        });
    }
    let url_owned = url.to_string();
    let pin = *pin;
    let dest_owned = dest.to_path_buf();
    let archive = archive_path.clone();
    let result =
        tokio::task::spawn_blocking(move || extract(&archive, &pin, &dest_owned, &url_owned))
            .await
            .map_err(|e| TrivyError::Archive {
                url: url.to_string(),
                message: e.to_string(),
            })?;
    let _ = std::fs::remove_file(&archive_path);
    result.map(|_| dest.to_path_buf())
}

fn extract(archive: &Path, pin: &Pin, dest: &Path, url: &str) -> Result<(), TrivyError> {
    let bad = |message: String| TrivyError::Archive {
        url: url.to_string(),
        message,
    };
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| TrivyError::Install { path, source }
    };
    let tmp = dest.with_extension("partial");
    let mut out = std::fs::File::create(&tmp).map_err(io(&tmp))?;
    let f = std::fs::File::open(archive).map_err(io(archive))?;
    let found = match pin.format {
        Format::TarGz => {
            let mut ar = tar::Archive::new(flate2::read::GzDecoder::new(f));
            let mut found = false;
            for entry in ar.entries().map_err(|e| bad(e.to_string()))? {
                let mut entry = entry.map_err(|e| bad(e.to_string()))?;
                let path = entry.path().map_err(|e| bad(e.to_string()))?.into_owned();
                if path == Path::new(pin.member) {
                    std::io::copy(&mut entry, &mut out).map_err(io(&tmp))?;
                    found = true;
                    break;
                }
            }
            found
        }
        Format::Zip => {
            let mut zip = zip::ZipArchive::new(f).map_err(|e| bad(e.to_string()))?;
            match zip.by_name(pin.member) {
                Ok(mut member) => {
                    let mut buf = [0u8; 64 * 1024];
                    loop {
                        let n = member.read(&mut buf).map_err(|e| bad(e.to_string()))?;
                        if n == 0 {
                            break;
                        }
                        std::io::Write::write_all(&mut out, &buf[..n]).map_err(io(&tmp))?;
                    }
                    true
                }
                Err(_) => false,
            }
        }
    };
    drop(out);
    if !found {
        let _ = std::fs::remove_file(&tmp);
        return Err(bad(format!("it has no `{}`", pin.member)));
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o755)).map_err(io(&tmp))?;
    }
    std::fs::rename(&tmp, dest).map_err(io(dest))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req<'a>(root: &'a Path, allow: bool) -> LocateRequest<'a> {
        LocateRequest {
            explicit: None,
            search_path: Some(""),
            install_root: root,
            version: "0.59.1",
            source: Source::GithubRelease,
            base_url: Some("http://127.0.0.1:1/dl"),
            allow_download: allow,
            os: "linux",
            arch: "x86_64",
        }
    }

    #[test]
    fn download_url_and_pin() {
        let d = tempfile::tempdir().unwrap();
        let l = locate(&req(d.path(), true)).unwrap();
        match l {
            Located::Download { url, sha256, .. } => {
                assert_eq!(
                    url,
                    "http://127.0.0.1:1/dl/v0.59.1/trivy_0.59.1_Linux-64bit.tar.gz"
                );
                assert!(sha256.starts_with("e05beab9"));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn no_download_allowed_is_a_clear_error() {
        let d = tempfile::tempdir().unwrap();
        let e = locate(&req(d.path(), false)).unwrap_err();
        assert!(matches!(e, TrivyError::NotFound { .. }));
    }

    #[test]
    fn unpinned_version_is_refused() {
        let d = tempfile::tempdir().unwrap();
        let mut r = req(d.path(), true);
        r.version = "0.60.0";
        let e = locate(&r).unwrap_err();
        assert!(e.to_string().contains("no pinned checksum"), "{e}");
    }
}
