//! Locating Trivy, and installing a pinned, checksum-verified copy when there is none.
//!
//! Nothing in our tool cache is trusted on first use: the archive is verified before it
//! is unpacked (from the same bytes in memory, never reopened by path), the binary is
//! written under a fresh exclusive name and renamed into place, and a cached binary is
//! checked against its pin again before every run ([`verify_cached`]).

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::TrivyError;
use super::pins::{self, Format, Pin, Source};
use crate::fsx;

/// Where the binary will come from.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "from", rename_all = "kebab-case")]
pub enum Located {
    /// `--trivy-path`.
    Given { path: PathBuf },
    /// `trivy` on `PATH`.
    OnPath { path: PathBuf },
    /// Installed by an earlier run; checked against its pin before every run.
    Cached {
        path: PathBuf,
        #[serde(skip)]
        pin: Pin,
        /// Where it is downloaded again from when the check fails.
        #[serde(skip)]
        url: String,
    },
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
            Located::Given { path } | Located::OnPath { path } | Located::Cached { path, .. } => {
                path
            }
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
    let no_pin = || TrivyError::NoPin {
        version: req.version.to_string(),
        source_name: req.source.name(),
        os: req.os.to_string(),
        arch: req.arch.to_string(),
        pinned: pins::versions(req.source, req.os, req.arch),
    };
    let base = req.base_url.unwrap_or(req.source.default_base_url());
    // Anything at that path (a link too) is "cached": the check before running refuses
    // what does not match the pin.
    if std::fs::symlink_metadata(&dest).is_ok() {
        let pin = pins::find(req.version, req.source, req.os, req.arch).ok_or_else(no_pin)?;
        return Ok(Located::Cached {
            path: dest,
            pin: *pin,
            url: pin.url(base),
        });
    }
    if !req.allow_download {
        return Err(TrivyError::NotFound {
            searched: format!("no --trivy-path, not on PATH, not in {}", dest.display()),
        });
    }
    let pin = pins::find(req.version, req.source, req.os, req.arch).ok_or_else(no_pin)?;
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
    // Kept in memory: what is unpacked is exactly what was hashed.
    let bytes = resp.body.to_vec();
    let mut hasher = Sha256::new();
    hasher.update(&bytes);
    let actual = hex::encode(hasher.finalize());
    if actual != pin.sha256 {
        return Err(TrivyError::Checksum {
            url: url.to_string(),
            expected: pin.sha256.to_string(),
            actual,
        });
    }
    let url_owned = url.to_string();
    let pin = *pin;
    let dest_owned = dest.to_path_buf();
    tokio::task::spawn_blocking(move || unpack(&bytes, &pin, &dest_owned, &url_owned))
        .await
        .map_err(|e| TrivyError::Archive {
            url: url.to_string(),
            message: e.to_string(),
        })??;
    Ok(dest.to_path_buf())
}

/// A writer that hashes what passes through it.
struct Hashing<W> {
    inner: W,
    hasher: Sha256,
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(buf.get(..n).unwrap_or(buf));
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// Copies the pin's member out of the (already verified) archive bytes into `out`;
/// false when the archive has no such member.
fn copy_member(
    archive: &[u8],
    pin: &Pin,
    out: &mut impl Write,
    url: &str,
) -> Result<bool, TrivyError> {
    let bad = |message: String| TrivyError::Archive {
        url: url.to_string(),
        message,
    };
    match pin.format {
        Format::TarGz => {
            let mut ar = tar::Archive::new(flate2::read::GzDecoder::new(archive));
            for entry in ar.entries().map_err(|e| bad(e.to_string()))? {
                let mut entry = entry.map_err(|e| bad(e.to_string()))?;
                let path = entry.path().map_err(|e| bad(e.to_string()))?.into_owned();
                if path == Path::new(pin.member) {
                    std::io::copy(&mut entry, out).map_err(|e| bad(e.to_string()))?;
                    return Ok(true);
                }
            }
            Ok(false)
        }
        Format::Zip => {
            let mut zip = zip::ZipArchive::new(std::io::Cursor::new(archive))
                .map_err(|e| bad(e.to_string()))?;
            match zip.by_name(pin.member) {
                Ok(mut member) => {
                    let mut buf = vec![0u8; 64 * 1024];
                    loop {
                        let n = member.read(&mut buf).map_err(|e| bad(e.to_string()))?;
                        if n == 0 {
                            break;
                        }
                        let read = buf.get(..n).unwrap_or(&buf);
                        out.write_all(read).map_err(|e| bad(e.to_string()))?;
                    }
                    Ok(true)
                }
                Err(_) => Ok(false),
            }
        }
    }
}

/// Unpacks the member into a fresh temp file beside `dest`, checks the binary's pin
/// (when known), and renames it into place. Without a binary pin, the verified archive
/// is kept beside it for [`verify_cached`].
fn unpack(archive: &[u8], pin: &Pin, dest: &Path, url: &str) -> Result<(), TrivyError> {
    let mut tmp = fsx::TempFile::new(dest, "the Trivy binary", 0o755)?;
    let mut out = Hashing {
        inner: std::io::BufWriter::new(tmp.file()),
        hasher: Sha256::new(),
    };
    let found = copy_member(archive, pin, &mut out, url)?;
    out.flush().map_err(|source| TrivyError::Install {
        path: dest.to_path_buf(),
        source,
    })?;
    let actual = hex::encode(out.hasher.clone().finalize());
    drop(out);
    if !found {
        return Err(TrivyError::Archive {
            url: url.to_string(),
            message: format!("it has no `{}`", pin.member),
        });
    }
    if let Some(expected) = pin.binary_sha256
        && actual != expected
    {
        return Err(TrivyError::BinaryChecksum {
            path: dest.to_path_buf(),
            expected: expected.to_string(),
            actual,
        });
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        tmp.file()
            .set_permissions(std::fs::Permissions::from_mode(0o755))
            .map_err(|source| TrivyError::Install {
                path: dest.to_path_buf(),
                source,
            })?;
    }
    if pin.binary_sha256.is_none() {
        fsx::write(
            &kept_archive(dest, pin),
            "the Trivy archive",
            archive,
            0o644,
        )?;
    }
    tmp.persist()?;
    Ok(())
}

fn kept_archive(dest: &Path, pin: &Pin) -> PathBuf {
    dest.with_file_name(pin.file)
}

fn sha256_of(r: impl Read) -> std::io::Result<String> {
    let mut h = Hashing {
        inner: std::io::sink(),
        hasher: Sha256::new(),
    };
    std::io::copy(&mut std::io::BufReader::with_capacity(1 << 20, r), &mut h)?;
    Ok(hex::encode(h.hasher.finalize()))
}

/// Checks a cached binary against its pin before it runs: its own sha256 where pinned,
/// else the member of the kept archive (which is checked against the archive's pin).
pub fn verify_cached(path: &Path, pin: &Pin) -> Result<(), TrivyError> {
    let tampered = |what: String, expected: &str, actual: String| TrivyError::Tampered {
        path: path.to_path_buf(),
        what,
        expected: expected.to_string(),
        actual,
    };
    let expected = match pin.binary_sha256 {
        Some(h) => h.to_string(),
        None => {
            let archive = kept_archive(path, pin);
            let bytes = fsx::read(
                &archive,
                "the kept Trivy archive",
                fsx::Follow::No,
                fsx::REPORT,
            )?;
            let actual = hex::encode(Sha256::digest(&bytes));
            if actual != pin.sha256 {
                return Err(tampered(
                    format!("its archive {}", archive.display()),
                    pin.sha256,
                    actual,
                ));
            }
            let mut h = Hashing {
                inner: std::io::sink(),
                hasher: Sha256::new(),
            };
            if !copy_member(&bytes, pin, &mut h, &archive.display().to_string())? {
                return Err(tampered(
                    format!("its archive {}", archive.display()),
                    pin.sha256,
                    "no binary in it".into(),
                ));
            }
            hex::encode(h.hasher.finalize())
        }
    };
    let f = fsx::open(path, "the cached Trivy binary", fsx::Follow::No)?;
    let actual = sha256_of(f).map_err(|source| TrivyError::Install {
        path: path.to_path_buf(),
        source,
    })?;
    if actual != expected {
        return Err(tampered("the binary".into(), &expected, actual));
    }
    Ok(())
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

    /// A pin for an archive made here, with `trivy` inside (no binary pin: the archive
    /// is kept and the binary checked against it).
    fn fake_pin(binary: &[u8]) -> (Pin, Vec<u8>) {
        let mut tar = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_size(binary.len() as u64);
        h.set_mode(0o755);
        h.set_cksum();
        tar.append_data(&mut h, "trivy", binary).unwrap();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&tar.into_inner().unwrap()).unwrap();
        let archive = gz.finish().unwrap();
        let sha: &'static str = Box::leak(hex::encode(Sha256::digest(&archive)).into_boxed_str());
        let pin = Pin {
            version: "0.0.0",
            source: Source::GithubRelease,
            os: "linux",
            arch: "x86_64",
            file: "trivy_test.tar.gz",
            sha256: sha,
            format: Format::TarGz,
            member: "trivy",
            binary_sha256: None,
        };
        (pin, archive)
    }

    #[test]
    fn a_cached_binary_changed_after_install_is_refused() {
        let d = tempfile::tempdir().unwrap();
        let dest = d.path().join("trivy");
        let (pin, archive) = fake_pin(b"#!/bin/sh\necho real\n");
        unpack(&archive, &pin, &dest, "http://x").unwrap();
        verify_cached(&dest, &pin).unwrap();
        std::fs::write(&dest, b"#!/bin/sh\necho evil\n").unwrap();
        let e = verify_cached(&dest, &pin).unwrap_err();
        assert!(
            e.to_string().contains("was changed after it was verified"),
            "{e}"
        );
    }

    #[test]
    fn a_cached_binary_with_a_changed_kept_archive_is_refused() {
        let d = tempfile::tempdir().unwrap();
        let dest = d.path().join("trivy");
        let (pin, archive) = fake_pin(b"real");
        unpack(&archive, &pin, &dest, "http://x").unwrap();
        let (_, evil) = fake_pin(b"evil");
        std::fs::write(d.path().join(pin.file), &evil).unwrap();
        std::fs::write(&dest, b"evil").unwrap();
        let e = verify_cached(&dest, &pin).unwrap_err();
        assert!(e.to_string().contains("its archive"), "{e}");
    }

    #[test]
    fn a_pinned_binary_hash_is_checked_when_unpacking() {
        let d = tempfile::tempdir().unwrap();
        let dest = d.path().join("trivy");
        let (mut pin, archive) = fake_pin(b"real");
        pin.binary_sha256 = Some("00");
        let e = unpack(&archive, &pin, &dest, "http://x").unwrap_err();
        assert!(matches!(e, TrivyError::BinaryChecksum { .. }), "{e}");
        // Nothing left behind: no binary, no temp file.
        assert_eq!(std::fs::read_dir(d.path()).unwrap().count(), 0);
    }

    #[cfg(unix)]
    #[test]
    fn a_symlink_in_the_cache_is_refused() {
        let d = tempfile::tempdir().unwrap();
        let dest = d.path().join("trivy");
        let (mut pin, _) = fake_pin(b"real");
        pin.binary_sha256 = Some("00");
        std::os::unix::fs::symlink("/bin/sh", &dest).unwrap();
        let e = verify_cached(&dest, &pin).unwrap_err();
        assert!(e.to_string().contains("symbolic link"), "{e}");
    }

    #[test]
    fn concurrent_unpacks_do_not_share_a_temp_file() {
        let d = tempfile::tempdir().unwrap();
        let dest = d.path().join("trivy");
        let (pin, archive) = fake_pin(&vec![7u8; 4 << 20]);
        std::thread::scope(|s| {
            let hs: Vec<_> = (0..4)
                .map(|_| s.spawn(|| unpack(&archive, &pin, &dest, "http://x")))
                .collect();
            for h in hs {
                h.join().unwrap().unwrap();
            }
        });
        verify_cached(&dest, &pin).unwrap();
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
