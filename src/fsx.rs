//! Reading and writing files we do not own: the workspace and paths users give us.
//!
//! Why a module of its own: the repository being built is outside input. A symlink
//! committed as `.trivyignore`, `results.sarif` or `outputs.json` must not make us read
//! `/dev/zero` until memory runs out, hang on a FIFO, or overwrite a file outside the
//! workspace. So every such file goes through here:
//!
//! - reads open the file once (never following a symlink where it is a workspace file,
//!   non-blocking so opening a FIFO cannot hang), check on the *opened handle* that it
//!   is a regular file, and stop at a size cap that the error states;
//! - writes go to a fresh temporary file beside the target, created with
//!   `O_CREAT | O_EXCL | O_NOFOLLOW` under a random name, then renamed over the target;
//!   a target that exists but is not a regular file (a symlink, a device, a FIFO, a
//!   directory) is refused.
//!
//! Refusals are bad input (exit 2) naming the file; I/O failures keep the system's words.

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use crate::model::diagnostic::{Diagnostic, Exit};

/// 1 MiB: hand-written text (config file, ignore files, kubeconfig, certificates).
pub const SMALL: u64 = 1 << 20;
/// 16 MiB: manifests, Dockerfiles, docker config, state file.
pub const MEDIUM: u64 = 16 << 20;
/// 64 MiB: files other programs write for us (event payload, git refs).
pub const LARGE: u64 = 64 << 20;
/// 512 MiB: scanner reports and SARIF (a big image's report is hundreds of MB).
pub const REPORT: u64 = 512 << 20;

#[derive(Debug, thiserror::Error)]
pub enum FsError {
    #[error("{what} {path} is {kind}, not a regular file; it was not {verb}")]
    NotRegular {
        what: &'static str,
        path: PathBuf,
        kind: &'static str,
        verb: &'static str,
    },
    #[error("{what} {path} is larger than {}, the most aks-backend reads for it", human(*.limit))]
    TooLarge {
        what: &'static str,
        path: PathBuf,
        limit: u64,
    },
    #[error("cannot read {what} {path}: {source}")]
    Read {
        what: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write {what} {path}: {source}")]
    Write {
        what: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
}

impl FsError {
    /// The file does not exist (callers with a default treat this as "none").
    pub fn is_not_found(&self) -> bool {
        matches!(self, FsError::Read { source, .. } if source.kind() == std::io::ErrorKind::NotFound)
    }
}

impl Diagnostic for FsError {
    fn exit(&self) -> Exit {
        match self {
            FsError::NotRegular { .. } | FsError::TooLarge { .. } | FsError::Read { .. } => {
                Exit::BadInput
            }
            FsError::Write { .. } => Exit::External,
        }
    }

    fn hint(&self) -> Option<String> {
        Some(match self {
            FsError::NotRegular { .. } => {
                "point it at a regular file (symbolic links, devices, FIFOs and directories are refused)".into()
            }
            FsError::TooLarge { .. } => "point it at the right file".into(),
            FsError::Read { .. } => "check the path and its permissions".into(),
            FsError::Write { .. } => "check that the directory exists and is writable".into(),
        })
    }
}

fn human(n: u64) -> String {
    if n >= 1 << 20 && n.is_multiple_of(1 << 20) {
        format!("{} MiB", n >> 20)
    } else if n >= 1 << 10 && n.is_multiple_of(1 << 10) {
        format!("{} KiB", n >> 10)
    } else {
        format!("{n} bytes")
    }
}

/// Whether the last path component may be a symlink to follow.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Follow {
    /// A file in the workspace (or named by it): a symlink is refused.
    No,
    /// A path from the machine's configuration (`$KUBECONFIG`, `$DOCKER_CONFIG`), where
    /// links are normal; the target must still be a regular file.
    Yes,
}

fn kind_of(ft: std::fs::FileType) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if ft.is_fifo() {
            return "a FIFO";
        }
        if ft.is_char_device() {
            return "a character device";
        }
        if ft.is_block_device() {
            return "a block device";
        }
        if ft.is_socket() {
            return "a socket";
        }
    }
    if ft.is_symlink() {
        "a symbolic link"
    } else if ft.is_dir() {
        "a directory"
    } else if ft.is_file() {
        "a regular file"
    } else {
        "a special file"
    }
}

/// Opens `path` for reading and checks, on the handle, that it is a regular file.
pub fn open(path: &Path, what: &'static str, follow: Follow) -> Result<File, FsError> {
    let read_err = |source| FsError::Read {
        what,
        path: path.to_path_buf(),
        source,
    };
    let mut opts = OpenOptions::new();
    opts.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        // O_NONBLOCK: opening a FIFO with no writer returns at once instead of hanging.
        let nofollow = if follow == Follow::No {
            libc::O_NOFOLLOW
        } else {
            0
        };
        opts.custom_flags(libc::O_NONBLOCK | nofollow);
    }
    let file = match opts.open(path) {
        Ok(f) => f,
        Err(e) => {
            // ELOOP from O_NOFOLLOW: the last component is a symlink.
            #[cfg(unix)]
            if e.raw_os_error() == Some(libc::ELOOP)
                && std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink())
            {
                return Err(FsError::NotRegular {
                    what,
                    path: path.to_path_buf(),
                    kind: "a symbolic link",
                    verb: "read",
                });
            }
            return Err(read_err(e));
        }
    };
    let meta = file.metadata().map_err(read_err)?;
    if !meta.is_file() {
        return Err(FsError::NotRegular {
            what,
            path: path.to_path_buf(),
            kind: kind_of(meta.file_type()),
            verb: "read",
        });
    }
    Ok(file)
}

/// Reads all of `path` (a regular file of at most `limit` bytes).
pub fn read(
    path: &Path,
    what: &'static str,
    follow: Follow,
    limit: u64,
) -> Result<Vec<u8>, FsError> {
    let file = open(path, what, follow)?;
    let too_large = || FsError::TooLarge {
        what,
        path: path.to_path_buf(),
        limit,
    };
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    if len > limit {
        return Err(too_large());
    }
    let mut buf = Vec::with_capacity(usize::try_from(len).unwrap_or(0));
    // The file may grow while we read: never take more than the limit.
    file.take(limit.saturating_add(1))
        .read_to_end(&mut buf)
        .map_err(|source| FsError::Read {
            what,
            path: path.to_path_buf(),
            source,
        })?;
    if buf.len() as u64 > limit {
        return Err(too_large());
    }
    Ok(buf)
}

/// [`read`] as UTF-8 text.
pub fn read_to_string(
    path: &Path,
    what: &'static str,
    follow: Follow,
    limit: u64,
) -> Result<String, FsError> {
    let bytes = read(path, what, follow, limit)?;
    String::from_utf8(bytes).map_err(|_| FsError::Read {
        what,
        path: path.to_path_buf(),
        source: std::io::Error::new(std::io::ErrorKind::InvalidData, "it is not UTF-8 text"),
    })
}

/// Refuses a write target that exists and is not a regular file (not following it).
pub fn check_target(path: &Path, what: &'static str) -> Result<(), FsError> {
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_file() => Ok(()),
        Ok(m) => Err(FsError::NotRegular {
            what,
            path: path.to_path_buf(),
            kind: kind_of(m.file_type()),
            verb: "written",
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(source) => Err(FsError::Write {
            what,
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// A new file beside its target, created exclusively under a random name; [`persist`]
/// renames it over the target, dropping it unpersisted removes it.
///
/// [`persist`]: TempFile::persist
#[derive(Debug)]
pub struct TempFile {
    file: Option<File>,
    tmp: PathBuf,
    target: PathBuf,
    what: &'static str,
}

impl TempFile {
    /// Creates the temporary file for `target` (mode `mode` on Unix, before umask),
    /// creating the target's directory if needed.
    pub fn new(target: &Path, what: &'static str, mode: u32) -> Result<TempFile, FsError> {
        let werr = |path: &Path| {
            let path = path.to_path_buf();
            move |source| FsError::Write { what, path, source }
        };
        check_target(target, what)?;
        let dir = match target.parent().filter(|p| !p.as_os_str().is_empty()) {
            Some(d) => {
                std::fs::create_dir_all(d).map_err(werr(d))?;
                d.to_path_buf()
            }
            None => PathBuf::from("."),
        };
        let name = target
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let tmp = dir.join(format!(
            ".{name}.{}.tmp-aks-backend",
            uuid::Uuid::new_v4().simple()
        ));
        let mut opts = OpenOptions::new();
        opts.write(true).read(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(mode).custom_flags(libc::O_NOFOLLOW);
        }
        #[cfg(not(unix))]
        let _ = mode;
        let file = opts.open(&tmp).map_err(werr(&tmp))?;
        Ok(TempFile {
            file: Some(file),
            tmp,
            target: target.to_path_buf(),
            what,
        })
    }

    /// The open temporary file (read and write).
    // why: `persist` takes `self`: while there is a `TempFile`, its file is open.
    #[allow(clippy::expect_used)]
    pub fn file(&mut self) -> &mut File {
        self.file
            .as_mut()
            .expect("the file is open until persisted")
    }

    fn write_err(&self, source: std::io::Error) -> FsError {
        FsError::Write {
            what: self.what,
            path: self.target.clone(),
            source,
        }
    }

    /// Writes all of `bytes` to the temporary file.
    pub fn write_all(&mut self, bytes: &[u8]) -> Result<(), FsError> {
        let r = self.file().write_all(bytes);
        r.map_err(|e| self.write_err(e))
    }

    /// Renames the temporary file over the target (refused if the target has become
    /// something other than a regular file meanwhile).
    pub fn persist(mut self) -> Result<(), FsError> {
        let flushed = self.file().flush();
        flushed.map_err(|e| self.write_err(e))?;
        drop(self.file.take());
        check_target(&self.target, self.what)?;
        std::fs::rename(&self.tmp, &self.target).map_err(|e| self.write_err(e))?;
        self.tmp = PathBuf::new();
        Ok(())
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if !self.tmp.as_os_str().is_empty() {
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}

/// Writes `bytes` to `path` atomically (mode `mode` from the first byte, before umask).
pub fn write(path: &Path, what: &'static str, bytes: &[u8], mode: u32) -> Result<(), FsError> {
    let mut t = TempFile::new(path, what, mode)?;
    t.write_all(bytes)?;
    t.persist()
}

/// Appends `text` to `path` (created if missing; a runner's command file), refusing
/// anything but a regular file.
pub fn append(path: &Path, what: &'static str, text: &[u8]) -> Result<(), FsError> {
    let werr = |source| FsError::Write {
        what,
        path: path.to_path_buf(),
        source,
    };
    let mut opts = OpenOptions::new();
    opts.append(true).create(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK);
    }
    let mut f = match opts.open(path) {
        Ok(f) => f,
        Err(e) => {
            #[cfg(unix)]
            if e.raw_os_error() == Some(libc::ELOOP) {
                check_target(path, what)?;
            }
            return Err(werr(e));
        }
    };
    let meta = f.metadata().map_err(werr)?;
    if !meta.is_file() {
        return Err(FsError::NotRegular {
            what,
            path: path.to_path_buf(),
            kind: kind_of(meta.file_type()),
            verb: "written",
        });
    }
    f.write_all(text).map_err(werr)
}

/// A new directory only this user can enter (`0700`), with an unguessable name under
/// `parent`: `<parent>/<prefix>-<random>`. Created with `mkdir`, which fails on anything
/// already there (a file, a directory or a planted symlink), so nobody else's path is used.
/// For files another process writes for us (Trivy's JSON report) at a default location.
pub fn private_dir(parent: &Path, prefix: &str) -> Result<PathBuf, FsError> {
    let dir = parent.join(format!("{prefix}-{}", uuid::Uuid::new_v4().simple()));
    let mut b = std::fs::DirBuilder::new();
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        b.mode(0o700);
    }
    b.create(&dir).map_err(|source| FsError::Write {
        what: "private temporary directory",
        path: dir.clone(),
        source,
    })?;
    Ok(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regular_files_are_read() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("a");
        std::fs::write(&p, "hello").unwrap();
        assert_eq!(
            read_to_string(&p, "the file", Follow::No, SMALL).unwrap(),
            "hello"
        );
    }

    #[cfg(unix)]
    #[test]
    fn a_symlink_is_refused_when_not_followed() {
        let d = tempfile::tempdir().unwrap();
        let target = d.path().join("secret");
        std::fs::write(&target, "x").unwrap();
        let link = d.path().join("link");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        let e = read(&link, "ignore file", Follow::No, SMALL).unwrap_err();
        assert!(
            e.to_string()
                .contains("is a symbolic link, not a regular file"),
            "{e}"
        );
        assert_eq!(e.exit(), Exit::BadInput);
        assert_eq!(read(&link, "kubeconfig", Follow::Yes, SMALL).unwrap(), b"x");
    }

    #[cfg(unix)]
    #[test]
    fn dev_zero_is_refused_without_reading_it() {
        let e = read(Path::new("/dev/zero"), "config file", Follow::Yes, SMALL).unwrap_err();
        assert!(e.to_string().contains("is a character device"), "{e}");
        assert_eq!(e.exit(), Exit::BadInput);
    }

    #[cfg(unix)]
    #[test]
    fn a_fifo_is_refused_without_hanging() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("fifo");
        let c = std::ffi::CString::new(p.to_str().unwrap()).unwrap();
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        let e = read(&p, "manifest", Follow::No, SMALL).unwrap_err();
        assert!(e.to_string().contains("is a FIFO"), "{e}");
    }

    #[test]
    fn a_directory_is_refused() {
        let d = tempfile::tempdir().unwrap();
        let e = read(d.path(), "manifest", Follow::No, SMALL).unwrap_err();
        assert!(e.to_string().contains("is a directory"), "{e}");
    }

    #[test]
    fn files_over_the_cap_are_refused_naming_the_cap() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("big");
        std::fs::write(&p, vec![b'a'; 2048]).unwrap();
        let e = read(&p, "ignore file", Follow::No, 1024).unwrap_err();
        assert!(e.to_string().contains("larger than 1 KiB"), "{e}");
        assert_eq!(e.exit(), Exit::BadInput);
        assert_eq!(
            read(&p, "ignore file", Follow::No, 2048).unwrap().len(),
            2048
        );
    }

    #[test]
    fn missing_files_say_so() {
        let d = tempfile::tempdir().unwrap();
        let e = read(&d.path().join("nope"), "state file", Follow::No, SMALL).unwrap_err();
        assert!(e.is_not_found());
    }

    #[test]
    fn writes_replace_the_target_atomically_and_leave_no_temp_file() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("sub/out.json");
        write(&p, "the outputs file", b"one", 0o644).unwrap();
        write(&p, "the outputs file", b"two", 0o644).unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"two");
        assert_eq!(std::fs::read_dir(p.parent().unwrap()).unwrap().count(), 1);
    }

    #[cfg(unix)]
    #[test]
    fn a_symlinked_write_target_is_refused_and_its_target_untouched() {
        let d = tempfile::tempdir().unwrap();
        let outside = d.path().join("outside");
        std::fs::write(&outside, "keep").unwrap();
        let link = d.path().join("out.json");
        std::os::unix::fs::symlink(&outside, &link).unwrap();
        let e = write(&link, "the outputs file", b"evil", 0o644).unwrap_err();
        assert!(e.to_string().contains("is a symbolic link"), "{e}");
        assert_eq!(e.exit(), Exit::BadInput);
        assert_eq!(std::fs::read(&outside).unwrap(), b"keep");
        assert!(
            std::fs::symlink_metadata(&link)
                .unwrap()
                .file_type()
                .is_symlink()
        );
    }

    #[cfg(unix)]
    #[test]
    fn device_targets_are_refused() {
        let e = write(Path::new("/dev/null"), "the SARIF file", b"x", 0o644).unwrap_err();
        assert!(e.to_string().contains("character device"), "{e}");
        let e = append(Path::new("/dev/null"), "the job summary", b"x").unwrap_err();
        assert!(e.to_string().contains("character device"), "{e}");
    }

    #[cfg(unix)]
    #[test]
    fn private_writes_are_0600() {
        use std::os::unix::fs::PermissionsExt;
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("kubeconfig");
        write(&p, "the kubeconfig", b"x", 0o600).unwrap();
        let mode = std::fs::metadata(&p).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[cfg(unix)]
    #[test]
    fn appends_refuse_symlinks() {
        let d = tempfile::tempdir().unwrap();
        let outside = d.path().join("outside");
        std::fs::write(&outside, "keep").unwrap();
        let link = d.path().join("summary.md");
        std::os::unix::fs::symlink(&outside, &link).unwrap();
        let e = append(&link, "the job summary", b"x").unwrap_err();
        assert!(e.to_string().contains("symbolic link"), "{e}");
        let p = d.path().join("real.md");
        append(&p, "the job summary", b"a").unwrap();
        append(&p, "the job summary", b"b").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"ab");
    }
}
