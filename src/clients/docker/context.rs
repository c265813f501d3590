//! The build context as a tar stream: the files `docker build` would send, honouring
//! `.dockerignore` exactly (see [`super::ignore`]), written once, in order, without
//! holding the tree in memory.
//!
//! Walk rules follow moby's `archive.TarWithOptions` as the CLI calls it: entries are
//! owned by 0:0, an excluded directory is not descended into unless an exception
//! (`!dir/file`) starts with it, and the Dockerfile and `.dockerignore` are always sent.
//! The same walk feeds BuildKit's file sync ([`super::buildkit::filesync`]), where the
//! Dockerfile travels on its own and `.dockerignore` applies to everything.
//! A Dockerfile outside the context is added as `.dockerfile.<random>`, like the CLI.

use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use super::ignore::{self, Matcher, PatternError};

#[derive(Debug, thiserror::Error)]
pub enum ContextError {
    #[error("cannot read {path}: {source}")]
    Read { path: PathBuf, source: io::Error },
    #[error("{path}: {source}")]
    Pattern { path: PathBuf, source: PatternError },
    #[error("writing the build context failed: {0}")]
    Write(io::Error),
    #[error(transparent)]
    Fs(#[from] crate::fsx::FsError),
}

/// What goes into the context.
#[derive(Clone, Debug)]
pub struct ContextSpec {
    pub dir: PathBuf,
    /// The Dockerfile, absolute.
    pub dockerfile: PathBuf,
}

/// What was written, and the Dockerfile's name inside the tar (the build's `dockerfile`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Packed {
    pub dockerfile_name: String,
    pub files: u64,
    pub bytes: u64,
    pub excluded: u64,
}

/// The Dockerfile's name relative to the context, if it is inside it.
pub fn dockerfile_in_context(spec: &ContextSpec) -> Option<String> {
    let rel = spec.dockerfile.strip_prefix(&spec.dir).ok()?;
    let s = rel.to_str()?.to_string();
    (!s.is_empty()).then_some(s)
}

/// The `.dockerignore` patterns of `dir` as written (no build files kept: BuildKit gets
/// the Dockerfile separately, as with `docker build` on BuildKit).
pub fn dockerignore(dir: &Path) -> Result<Vec<String>, ContextError> {
    read_dockerignore(&dir.join(".dockerignore"))
}

/// A missing file is no patterns; a link, device or huge file is refused.
fn read_dockerignore(path: &Path) -> Result<Vec<String>, ContextError> {
    use crate::fsx;
    match fsx::read(path, ".dockerignore", fsx::Follow::No, fsx::MEDIUM) {
        Ok(b) => Ok(ignore::parse_dockerignore(&String::from_utf8_lossy(&b))),
        Err(e) if e.is_not_found() => Ok(Vec::new()),
        Err(e) => Err(e.into()),
    }
}

/// The `.dockerignore` patterns of `spec` with the build files kept.
pub fn excludes(spec: &ContextSpec) -> Result<Matcher, ContextError> {
    let path = spec.dir.join(".dockerignore");
    let patterns = read_dockerignore(&path)?;
    let df = dockerfile_in_context(spec);
    let pat = |source| ContextError::Pattern {
        path: path.clone(),
        source,
    };
    let patterns = ignore::keep_build_files(patterns, df.as_deref()).map_err(pat)?;
    Matcher::new(&patterns).map_err(pat)
}

/// The Dockerfile's name inside the tar: its path in the context, or a fresh
/// `.dockerfile.<random>` when it lives outside (as the CLI does).
pub fn tar_dockerfile_name(spec: &ContextSpec) -> String {
    dockerfile_in_context(spec).unwrap_or_else(|| {
        format!(
            ".dockerfile.{}",
            &uuid::Uuid::new_v4().simple().to_string()[..20]
        )
    })
}

/// Writes the context of `spec` as an uncompressed tar to `out`; `dockerfile_name` comes
/// from [`tar_dockerfile_name`].
pub fn write_tar<W: Write>(
    spec: &ContextSpec,
    dockerfile_name: &str,
    out: W,
) -> Result<Packed, ContextError> {
    let matcher = excludes(spec)?;
    let mut b = tar::Builder::new(out);
    b.mode(tar::HeaderMode::Complete);
    b.follow_symlinks(false);
    let mut packed = walk(&spec.dir, &matcher, &mut TarSink { b: &mut b })?;
    packed.dockerfile_name = match dockerfile_in_context(spec) {
        Some(n) => n,
        None => {
            let name = dockerfile_name.to_string();
            use crate::fsx;
            let data = fsx::read(&spec.dockerfile, "Dockerfile", fsx::Follow::No, fsx::MEDIUM)?;
            let mut h = tar::Header::new_gnu();
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            h.set_uid(0);
            h.set_gid(0);
            h.set_mtime(0);
            h.set_entry_type(tar::EntryType::Regular);
            b.append_data(&mut h, &name, data.as_slice())
                .map_err(ContextError::Write)?;
            packed.files += 1;
            packed.bytes += data.len() as u64;
            name
        }
    };
    b.into_inner()
        .and_then(|mut w| w.flush())
        .map_err(ContextError::Write)?;
    Ok(packed)
}

/// Where the walk puts what it keeps: the tar (classic builder) or BuildKit's file sync.
pub trait Sink {
    /// One kept entry: a directory, a symlink or a regular file (others are skipped).
    fn entry(&mut self, path: &Path, rel: &str, meta: &fs::Metadata) -> Result<(), ContextError>;
    /// Whether the walk goes below directory `rel` (a sink that wants only some paths
    /// prunes the rest).
    fn descend(&self, _rel: &str) -> bool {
        true
    }
    /// An entry `.dockerignore` excluded.
    fn skipped(&mut self, _rel: &str) {}
}

/// Walks `dir` in filepath.Walk's order (names sorted per directory, parents first),
/// keeping what `matcher` does not exclude; counts files, bytes and exclusions.
pub fn walk(dir: &Path, matcher: &Matcher, sink: &mut impl Sink) -> Result<Packed, ContextError> {
    let mut w = Walker {
        m: matcher,
        sink,
        packed: Packed::default(),
    };
    let parents = vec![false; matcher.patterns().len()];
    w.dir(dir, "", &parents)?;
    Ok(w.packed)
}

struct Walker<'a, S: Sink> {
    m: &'a Matcher,
    sink: &'a mut S,
    packed: Packed,
}

impl<S: Sink> Walker<'_, S> {
    /// `parents[i]`: pattern `i` matches this directory or one of its ancestors.
    fn dir(&mut self, abs: &Path, rel: &str, parents: &[bool]) -> Result<(), ContextError> {
        let read = |source| ContextError::Read {
            path: abs.to_path_buf(),
            source,
        };
        let mut entries: Vec<(String, PathBuf)> = fs::read_dir(abs)
            .map_err(read)?
            .map(|e| {
                let e = e.map_err(read)?;
                Ok((e.file_name().to_string_lossy().into_owned(), e.path()))
            })
            .collect::<Result<_, ContextError>>()?;
        // filepath.Walk's lexical order (the tar is then reproducible).
        entries.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        for (name, path) in entries {
            let rel = if rel.is_empty() {
                name
            } else {
                format!("{rel}/{name}")
            };
            let meta = fs::symlink_metadata(&path).map_err(|source| ContextError::Read {
                path: path.clone(),
                source,
            })?;
            let is_dir = meta.is_dir();
            let skip = self
                .m
                .excluded_with(&rel, |i| parents.get(i).copied().unwrap_or(false));
            if skip {
                self.packed.excluded += 1;
                self.sink.skipped(&rel);
                if !is_dir || !self.m.has_exclusions() {
                    continue;
                }
                // An exception below this directory (`!dir/keep`): walk it, but do not
                // send the directory entry itself.
                let prefix = format!("{rel}/");
                let needed = self
                    .m
                    .patterns()
                    .iter()
                    .any(|p| p.exclusion() && format!("{}/", p.as_str()).starts_with(&prefix));
                if !needed {
                    continue;
                }
            } else {
                let ft = meta.file_type();
                if ft.is_dir() || ft.is_symlink() || ft.is_file() {
                    self.sink.entry(&path, &rel, &meta)?;
                }
                if ft.is_file() {
                    self.packed.files += 1;
                    self.packed.bytes += meta.len();
                }
                // Sockets, FIFOs and devices are not sent (as the CLI).
            }
            if is_dir && self.sink.descend(&rel) {
                let mine: Vec<bool> = self
                    .m
                    .patterns()
                    .iter()
                    .zip(parents)
                    .map(|(p, up)| *up || p.matches(&rel))
                    .collect();
                self.dir(&path, &rel, &mine)?;
            }
        }
        Ok(())
    }
}

/// The tar the classic builder reads (and the benchmark packs).
struct TarSink<'a, W: Write> {
    b: &'a mut tar::Builder<W>,
}

impl<W: Write> Sink for TarSink<'_, W> {
    fn entry(&mut self, path: &Path, rel: &str, meta: &fs::Metadata) -> Result<(), ContextError> {
        let ft = meta.file_type();
        let mut h = tar::Header::new_gnu();
        h.set_mode(meta.permissions().mode() & 0o7777);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(meta.mtime().max(0) as u64);
        let write = ContextError::Write;
        if ft.is_dir() {
            h.set_entry_type(tar::EntryType::Directory);
            h.set_size(0);
            self.b
                .append_data(&mut h, format!("{rel}/"), io::empty())
                .map_err(write)?;
        } else if ft.is_symlink() {
            let target = fs::read_link(path).map_err(|source| ContextError::Read {
                path: path.to_path_buf(),
                source,
            })?;
            h.set_entry_type(tar::EntryType::Symlink);
            h.set_size(0);
            self.b.append_link(&mut h, rel, &target).map_err(write)?;
        } else if ft.is_file() {
            // Opened once, checked on the handle: it cannot have become a FIFO or a link.
            let f = crate::fsx::open(path, "build context file", crate::fsx::Follow::No)?;
            h.set_entry_type(tar::EntryType::Regular);
            h.set_size(meta.len());
            self.b.append_data(&mut h, rel, f).map_err(write)?;
        }
        Ok(())
    }
}

/// A `Write` that hands 1 MiB chunks to an async consumer (the engine's request body).
pub struct ChunkWriter {
    buf: Vec<u8>,
    tx: tokio::sync::mpsc::Sender<Result<bytes::Bytes, io::Error>>,
}

const CHUNK: usize = 1 << 20;

impl ChunkWriter {
    pub fn new(tx: tokio::sync::mpsc::Sender<Result<bytes::Bytes, io::Error>>) -> Self {
        ChunkWriter {
            buf: Vec::with_capacity(CHUNK),
            tx,
        }
    }

    fn send(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK));
        self.tx
            .blocking_send(Ok(bytes::Bytes::from(chunk)))
            .map_err(|_| {
                io::Error::new(
                    io::ErrorKind::BrokenPipe,
                    "the engine stopped reading the context",
                )
            })
    }
}

impl Write for ChunkWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= CHUNK {
            self.send()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.send()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(tar_bytes: &[u8]) -> Vec<String> {
        let mut a = tar::Archive::new(tar_bytes);
        a.entries()
            .unwrap()
            .map(|e| e.unwrap().path().unwrap().to_string_lossy().into_owned())
            .collect()
    }

    #[test]
    fn excluded_dirs_with_exceptions_and_outside_dockerfile() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path().join("ctx");
        for f in [
            "src/main.rs",
            "node_modules/a/index.js",
            "logs/x.log",
            "logs/keep/important.log",
            "Dockerfile",
            "README.md",
        ] {
            let p = root.join(f);
            fs::create_dir_all(p.parent().unwrap()).unwrap();
            fs::write(&p, f).unwrap();
        }
        fs::write(
            root.join(".dockerignore"),
            "node_modules\nlogs\n!logs/keep/important.log\n*.md\nDockerfile\n.dockerignore\n",
        )
        .unwrap();
        let spec = ContextSpec {
            dir: root.clone(),
            dockerfile: root.join("Dockerfile"),
        };
        let mut out = Vec::new();
        let p = write_tar(&spec, &tar_dockerfile_name(&spec), &mut out).unwrap();
        assert_eq!(p.dockerfile_name, "Dockerfile");
        assert_eq!(
            names(&out),
            vec![
                ".dockerignore",
                "Dockerfile",
                "logs/keep/important.log",
                "src/",
                "src/main.rs"
            ]
        );

        let outside = d.path().join("other.Dockerfile");
        fs::write(&outside, "FROM scratch\n").unwrap();
        let spec = ContextSpec {
            dir: root,
            dockerfile: outside,
        };
        let mut out = Vec::new();
        let p = write_tar(&spec, &tar_dockerfile_name(&spec), &mut out).unwrap();
        assert!(p.dockerfile_name.starts_with(".dockerfile."));
        assert_eq!(names(&out).last().unwrap(), &p.dockerfile_name);
    }
}
