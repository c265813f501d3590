//! The build context as `docker build` sends it to BuildKit: over the session's file
//! sync (`moby.filesync.v1.FileSync/DiffCopy`, tonistiigi/fsutil's protocol), with the
//! Dockerfile in a directory of its own. We are the sender: every kept entry's stat in
//! walk order (parents first), an empty stat to end the walk, then the bytes of each
//! file the engine asks for (it asks only for what its cache of this context lacks), and
//! FIN for FIN.
//!
//! `.dockerignore` is applied here with Docker's exact rules (the same walk as the tar
//! for the classic builder), and, as with the docker CLI, without the Dockerfile and
//! `.dockerignore` exceptions: BuildKit gets the Dockerfile on its own.

use std::collections::{HashMap, HashSet};
use std::fs;
use std::io::Read;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use bollard_buildkit_proto::fsutil::types::packet::PacketType;
use bollard_buildkit_proto::fsutil::types::{Packet, Stat};
use bollard_buildkit_proto::moby::filesync::v1::file_sync_server::FileSync;
use tonic::{Request, Response, Status, Streaming};

use crate::clients::docker::context::{self, ContextError, Sink};
use crate::clients::docker::ignore::{Matcher, PatternError, clean};

/// A directory the engine may read, by the name it asks for (`context`, `dockerfile`).
#[derive(Clone, Debug)]
pub struct SyncedDir {
    pub root: PathBuf,
    /// Our patterns (`.dockerignore`); they win over the ones the engine sends, as the
    /// CLI's do.
    pub excludes: Vec<String>,
}

/// What the engine read of the `context` directory over all its requests (it asks for
/// what the Dockerfile uses: `COPY` sources, `.dockerignore`), for the step's log line.
#[derive(Clone, Debug, Default)]
pub struct Sent {
    /// Files the engine looked at (stat sent).
    pub files: HashSet<String>,
    /// Entries `.dockerignore` kept from it.
    pub excluded: HashSet<String>,
    /// Files whose bytes it asked for (new or changed since its last build of this
    /// context), and how many bytes.
    pub files_sent: u64,
    pub bytes_sent: u64,
    /// Each file counted once, though the engine may ask twice (`.dockerignore`, then
    /// `COPY .`).
    sent_paths: HashSet<PathBuf>,
}

pub struct FileSyncSvc {
    pub dirs: HashMap<String, SyncedDir>,
    pub sent: Arc<Mutex<Sent>>,
}

// Go's os.FileMode bits, which fsutil puts on the wire.
const MODE_DIR: u32 = 1 << 31;
const MODE_SYMLINK: u32 = 1 << 27;
const MODE_SETUID: u32 = 1 << 23;
const MODE_SETGID: u32 = 1 << 22;
const MODE_STICKY: u32 = 1 << 20;

fn go_mode(meta: &fs::Metadata) -> u32 {
    let unix = meta.permissions().mode();
    let mut m = unix & 0o777;
    if unix & 0o4000 != 0 {
        m |= MODE_SETUID;
    }
    if unix & 0o2000 != 0 {
        m |= MODE_SETGID;
    }
    if unix & 0o1000 != 0 {
        m |= MODE_STICKY;
    }
    let ft = meta.file_type();
    if ft.is_dir() {
        m |= MODE_DIR;
    } else if ft.is_symlink() {
        m |= MODE_SYMLINK;
    }
    m
}

fn stat_of(path: &Path, rel: &str, meta: &fs::Metadata) -> Result<Stat, ContextError> {
    let linkname = if meta.file_type().is_symlink() {
        fs::read_link(path)
            .map_err(|source| ContextError::Read {
                path: path.to_path_buf(),
                source,
            })?
            .to_string_lossy()
            .into_owned()
    } else {
        String::new()
    };
    Ok(Stat {
        path: rel.to_string(),
        mode: go_mode(meta),
        // As the CLI maps them: the context belongs to root in the image.
        uid: 0,
        gid: 0,
        size: if meta.is_file() { meta.len() as i64 } else { 0 },
        mod_time: meta.mtime() * 1_000_000_000 + meta.mtime_nsec(),
        linkname,
        devmajor: 0,
        devminor: 0,
        xattrs: HashMap::new(),
    })
}

/// Collects stats in walk order; an excluded directory that holds an exception
/// (`!dir/keep`) is announced before its first kept child, as the receiver needs.
/// With `include` (the engine's follow paths), only those paths, their subtrees and
/// their parents are kept.
struct StatSink<'a> {
    root: &'a Path,
    include: Option<Include>,
    stats: Vec<(Stat, Option<PathBuf>)>,
    emitted: HashSet<String>,
    files: HashSet<String>,
    excluded: HashSet<String>,
}

/// fsutil's `FollowPaths`, resolved into include patterns: a path takes its subtree.
struct Include {
    matcher: Matcher,
    literal: Vec<String>,
    globs: bool,
}

impl Include {
    fn new(wanted: Vec<String>) -> Result<Include, PatternError> {
        let globs = wanted.iter().any(|w| w.contains(['*', '?', '[', '\\']));
        Ok(Include {
            matcher: Matcher::new(&wanted)?,
            literal: wanted,
            globs,
        })
    }

    fn keeps(&self, rel: &str) -> bool {
        self.matcher.excluded(rel)
    }

    /// Could something wanted lie below directory `rel`?
    fn below(&self, rel: &str) -> bool {
        self.globs
            || self.literal.iter().any(|w| {
                w == rel
                    || w.strip_prefix(rel).is_some_and(|r| r.starts_with('/'))
                    || rel
                        .strip_prefix(w.as_str())
                        .is_some_and(|r| r.starts_with('/'))
            })
    }
}

impl StatSink<'_> {
    fn parents(&mut self, rel: &str) -> Result<(), ContextError> {
        let mut prefix = String::new();
        let parts: Vec<&str> = rel.split('/').collect();
        for part in parts.iter().take(parts.len().saturating_sub(1)) {
            if !prefix.is_empty() {
                prefix.push('/');
            }
            prefix.push_str(part);
            if !self.emitted.contains(&prefix) {
                let p = self.root.join(&prefix);
                let meta = fs::symlink_metadata(&p).map_err(|source| ContextError::Read {
                    path: p.clone(),
                    source,
                })?;
                self.stats.push((stat_of(&p, &prefix, &meta)?, None));
                self.emitted.insert(prefix.clone());
            }
        }
        Ok(())
    }
}

impl Sink for StatSink<'_> {
    fn entry(&mut self, path: &Path, rel: &str, meta: &fs::Metadata) -> Result<(), ContextError> {
        if self.include.as_ref().is_some_and(|i| !i.keeps(rel)) {
            return Ok(());
        }
        self.parents(rel)?;
        let file = meta.is_file().then(|| path.to_path_buf());
        self.stats.push((stat_of(path, rel, meta)?, file));
        if meta.is_dir() {
            self.emitted.insert(rel.to_string());
        }
        if meta.is_file() {
            self.files.insert(rel.to_string());
        }
        Ok(())
    }

    fn descend(&self, rel: &str) -> bool {
        self.include.as_ref().is_none_or(|i| i.below(rel))
    }

    fn skipped(&mut self, rel: &str) {
        if self
            .include
            .as_ref()
            .is_none_or(|i| i.keeps(rel) || i.below(rel))
        {
            self.excluded.insert(rel.to_string());
        }
    }
}

/// What one request walked: the stats to send, and the names behind the counters.
struct Walked {
    stats: Vec<(Stat, Option<PathBuf>)>,
    files: HashSet<String>,
    excluded: HashSet<String>,
}

/// The stats to send for one request: the walk of the whole directory under
/// `excludes`, or, when the engine names paths (what `COPY` reads, the Dockerfile),
/// only those paths with their subtrees and parents, as fsutil does.
fn collect(root: &Path, excludes: &[String], follow: &[String]) -> Result<Walked, ContextError> {
    let pattern = |source| ContextError::Pattern {
        path: root.join(".dockerignore"),
        source,
    };
    let matcher = Matcher::new(excludes).map_err(pattern)?;
    let cleaned: Vec<String> = follow
        .iter()
        .map(|f| clean(f.trim_start_matches('/')))
        .collect();
    // No paths, or `COPY . /`: the whole directory.
    let include = if cleaned.is_empty() || cleaned.iter().any(|c| c.is_empty() || c == ".") {
        None
    } else {
        let inside = |p: &str| !p.split('/').any(|c| c == "..");
        let mut wanted: Vec<String> = cleaned.into_iter().filter(|f| inside(f)).collect();
        // A followed symlink brings its target (relative, inside the directory) along.
        for f in wanted.clone() {
            if let Ok(t) = fs::read_link(root.join(&f))
                && t.is_relative()
            {
                let base = Path::new(&f).parent().unwrap_or(Path::new(""));
                let joined = clean(&base.join(t).to_string_lossy());
                if inside(&joined) {
                    wanted.push(joined);
                }
            }
        }
        wanted.sort();
        wanted.dedup();
        Some(Include::new(wanted).map_err(pattern)?)
    };
    let mut sink = StatSink {
        root,
        include,
        stats: Vec::new(),
        emitted: HashSet::new(),
        files: HashSet::new(),
        excluded: HashSet::new(),
    };
    context::walk(root, &matcher, &mut sink)?;
    Ok(Walked {
        stats: sink.stats,
        files: sink.files,
        excluded: sink.excluded,
    })
}

type PacketStream = Pin<Box<dyn futures::Stream<Item = Result<Packet, Status>> + Send + 'static>>;

fn packet(t: PacketType) -> Packet {
    Packet {
        r#type: t as i32,
        ..Default::default()
    }
}

/// The result of blocking work (a walk, a file read) as the gRPC status the engine sees.
fn joined<T, E: std::fmt::Display>(
    r: Result<Result<T, E>, tokio::task::JoinError>,
) -> Result<T, Status> {
    match r {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(Status::internal(e.to_string())),
        Err(e) => Err(Status::internal(e.to_string())),
    }
}

/// fsutil's chunk size.
const CHUNK: usize = 32 * 1024;

#[tonic::async_trait]
impl FileSync for FileSyncSvc {
    type DiffCopyStream = PacketStream;
    type TarStreamStream = PacketStream;

    async fn diff_copy(
        &self,
        req: Request<Streaming<Packet>>,
    ) -> Result<Response<PacketStream>, Status> {
        let md = req.metadata();
        let values = |k: &str| -> Vec<String> {
            md.get_all(k)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .map(str::to_string)
                .collect()
        };
        let name = values("dir-name").into_iter().next().unwrap_or_default();
        let Some(dir) = self.dirs.get(&name).cloned() else {
            return Err(Status::not_found(format!(
                "no access allowed to dir {name:?}"
            )));
        };
        let excludes = if dir.excludes.is_empty() {
            values("exclude-patterns")
        } else {
            dir.excludes.clone()
        };
        let follow = values("followpaths");
        let is_context = name == "context";
        let sent = self.sent.clone();
        let mut inbound = req.into_inner();
        let (tx, mut rx) = tokio::sync::mpsc::channel::<Result<Packet, Status>>(64);
        // The engine's requests are read as they come (its window must never fill while
        // we are still sending stats), and served in order.
        let (req_tx, mut req_rx) = tokio::sync::mpsc::unbounded_channel::<Packet>();
        tokio::spawn(async move {
            while let Ok(Some(p)) = inbound.message().await {
                if req_tx.send(p).is_err() {
                    break;
                }
            }
        });
        tokio::spawn(async move {
            let root = dir.root.clone();
            let walked =
                tokio::task::spawn_blocking(move || collect(&root, &excludes, &follow)).await;
            let Walked {
                stats,
                files: seen,
                excluded,
            } = match joined(walked) {
                Ok(w) => w,
                Err(status) => {
                    let _ = tx.send(Err(status)).await;
                    return;
                }
            };
            if is_context {
                let mut s = sent.lock().unwrap_or_else(|e| e.into_inner());
                s.files.extend(seen);
                s.excluded.extend(excluded);
            }
            let mut files: Vec<Option<PathBuf>> = Vec::with_capacity(stats.len());
            for (stat, file) in stats {
                files.push(file);
                let p = Packet {
                    stat: Some(stat),
                    ..packet(PacketType::PacketStat)
                };
                if tx.send(Ok(p)).await.is_err() {
                    return;
                }
            }
            if tx.send(Ok(packet(PacketType::PacketStat))).await.is_err() {
                return;
            }
            while let Some(p) = req_rx.recv().await {
                match PacketType::try_from(p.r#type) {
                    Ok(PacketType::PacketReq) => {
                        let Some(Some(path)) = files.get(p.id as usize).cloned() else {
                            let _ = tx
                                .send(Err(Status::invalid_argument(format!(
                                    "invalid file request {}",
                                    p.id
                                ))))
                                .await;
                            return;
                        };
                        let (tx2, id, key) = (tx.clone(), p.id, path.clone());
                        // Read on a blocking thread, chunks handed over as they are read.
                        let read = tokio::task::spawn_blocking(move || -> std::io::Result<u64> {
                            let mut f = fs::File::open(&path)?;
                            let mut total = 0u64;
                            loop {
                                let mut buf = vec![0u8; CHUNK];
                                let n = f.read(&mut buf)?;
                                if n == 0 {
                                    return Ok(total);
                                }
                                buf.truncate(n);
                                total += n as u64;
                                let p = Packet {
                                    id,
                                    data: buf,
                                    ..packet(PacketType::PacketData)
                                };
                                if tx2.blocking_send(Ok(p)).is_err() {
                                    return Ok(total);
                                }
                            }
                        })
                        .await;
                        match joined(read) {
                            Ok(n) if is_context => {
                                let mut s = sent.lock().unwrap_or_else(|e| e.into_inner());
                                if s.sent_paths.insert(key) {
                                    s.files_sent += 1;
                                    s.bytes_sent += n;
                                }
                            }
                            Ok(_) => {}
                            Err(status) => {
                                let _ = tx.send(Err(status)).await;
                                return;
                            }
                        }
                        let end = Packet {
                            id,
                            ..packet(PacketType::PacketData)
                        };
                        if tx.send(Ok(end)).await.is_err() {
                            return;
                        }
                    }
                    Ok(PacketType::PacketFin) => {
                        let _ = tx.send(Ok(packet(PacketType::PacketFin))).await;
                        return;
                    }
                    Ok(PacketType::PacketErr) => return,
                    _ => {}
                }
            }
        });
        let stream = futures::stream::poll_fn(move |cx| rx.poll_recv(cx));
        Ok(Response::new(Box::pin(stream)))
    }

    async fn tar_stream(
        &self,
        _: Request<Streaming<Packet>>,
    ) -> Result<Response<PacketStream>, Status> {
        Err(Status::unimplemented("the context is sent with DiffCopy"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A temporary directory with `files` (space-separated), each holding its own name.
    fn tree(files: &str) -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        for f in files.split_whitespace() {
            let p = d.path().join(f);
            fs::create_dir_all(p.parent().unwrap()).unwrap();
            fs::write(p, f).unwrap();
        }
        d
    }

    fn paths(w: &Walked) -> Vec<&str> {
        w.stats.iter().map(|(s, _)| s.path.as_str()).collect()
    }

    #[test]
    fn stats_follow_the_walk_with_parents_of_exceptions_first() {
        let d = tree("Dockerfile a.txt logs/x.log logs/keep.log src/main.rs");
        let root = d.path();
        let excludes: Vec<String> = ["logs", "!logs/keep.log", "Dockerfile"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let w = collect(root, &excludes, &[]).unwrap();
        assert_eq!(
            paths(&w),
            vec!["a.txt", "logs", "logs/keep.log", "src", "src/main.rs"]
        );
        assert_eq!(w.stats[1].0.mode & MODE_DIR, MODE_DIR);
        assert_eq!(w.stats[0].0.size, 5);
        assert_eq!(w.files.len(), 3);
        assert_eq!(w.excluded.len(), 3, "{:?}", w.excluded);
        let w = collect(
            root,
            &[],
            &["Dockerfile".into(), "Dockerfile.dockerignore".into()],
        )
        .unwrap();
        assert_eq!(paths(&w), vec!["Dockerfile"]);
    }

    /// What `COPY` reads: the engine names paths; each brings its subtree and parents,
    /// globs match as fsutil's include patterns, `.` is everything, `.dockerignore`
    /// still applies inside.
    #[test]
    fn follow_paths_take_their_subtrees() {
        let d = tree(
            "a.txt b.md app/hello.txt app/deep/x.txt app/secret.key apple/no.txt lib/sub/one.txt lib/two.txt",
        );
        let root = d.path();
        std::os::unix::fs::symlink("lib/two.txt", root.join("link")).unwrap();
        let ex = vec!["**/*.key".to_string()];
        let w = collect(root, &ex, &["app".into()]).unwrap();
        assert_eq!(
            paths(&w),
            vec!["app", "app/deep", "app/deep/x.txt", "app/hello.txt"]
        );
        assert_eq!(w.excluded.len(), 1);
        let w = collect(root, &ex, &["lib/sub/one.txt".into(), "*.md".into()]).unwrap();
        assert_eq!(paths(&w), vec!["b.md", "lib", "lib/sub", "lib/sub/one.txt"]);
        let w = collect(root, &ex, &["./link".into()]).unwrap();
        assert_eq!(paths(&w), vec!["lib", "lib/two.txt", "link"]);
        let w = collect(root, &ex, &[".".into()]).unwrap();
        assert_eq!(w.files.len(), 7);
        let w = collect(root, &ex, &["missing".into()]).unwrap();
        assert!(w.stats.is_empty());
    }
}
