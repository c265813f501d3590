//! One image build through the engine's `/build` endpoint, the context streamed while
//! it is packed, progress handed line by line to the caller, and a failure turned into
//! the Dockerfile line that failed plus the tail of its output.
//!
//! This is the classic builder (Podman's socket, engines without BuildKit, or
//! `--builder classic`) plus what both builders share: the context packer, the request,
//! and how a failure is located in the Dockerfile. BuildKit is in [`super::buildkit`].

use std::collections::{HashMap, VecDeque};

use bollard::Docker;
use futures::StreamExt;

use super::context::{self, ContextSpec, Packed};
use super::{DockerError, message};
use crate::model::diagnostic::Location;

/// What to build.
#[derive(Clone, Debug, Default)]
pub struct BuildRequest {
    /// The first full reference (`registry/repo:tag`); other tags are added afterwards.
    pub tag: String,
    pub build_args: HashMap<String, String>,
    pub labels: HashMap<String, String>,
    pub target: Option<String>,
    pub platform: Option<String>,
    pub cache_from: Vec<String>,
    pub no_cache: bool,
    /// How to name the Dockerfile in messages (relative to the workspace).
    pub dockerfile_display: String,
    /// The Dockerfile's text (to map a failing step to its line).
    pub dockerfile_text: String,
}

/// A failed build, with where it failed.
#[derive(Debug, Clone)]
pub struct BuildFailure {
    pub dockerfile: String,
    pub line: Option<u32>,
    pub instruction: Option<String>,
    pub message: String,
    pub tail: Vec<String>,
    /// The Dockerfile could not be parsed (bad input) rather than an instruction failing.
    pub syntax: bool,
}

impl BuildFailure {
    pub fn location(&self) -> Option<Location> {
        Some(Location {
            file: Some(self.dockerfile.clone()),
            line: self.line,
            title: Some(if self.syntax {
                "Dockerfile syntax error".into()
            } else {
                "Dockerfile instruction failed".into()
            }),
        })
    }
}

pub fn describe_failure(f: &BuildFailure) -> String {
    let at = match f.line {
        Some(l) => format!("{}:{l}", f.dockerfile),
        None => f.dockerfile.clone(),
    };
    let mut s = match (&f.instruction, f.syntax) {
        (_, true) => format!("the Dockerfile {at} cannot be parsed: {}", f.message),
        (Some(i), false) => format!("`{i}` ({at}) failed: {}", f.message),
        (None, false) => format!("the build of {at} failed: {}", f.message),
    };
    if !f.tail.is_empty() {
        s.push_str("\noutput (last lines):");
        for l in &f.tail {
            s.push_str("\n    ");
            s.push_str(l);
        }
    }
    s
}

/// The instructions of a Dockerfile: `(first line, text joined over continuations)`.
/// Handles comments, blank lines, `\` continuations and the `# escape=` directive.
pub fn instructions(text: &str) -> Vec<(u32, String)> {
    let mut escape = '\\';
    let mut out = Vec::new();
    let mut current: Option<(u32, String)> = None;
    let mut directives = true;
    for (i, raw) in text.lines().enumerate() {
        let n = i as u32 + 1;
        let line = raw.trim();
        if directives {
            if let Some((k, v)) = line.strip_prefix('#').and_then(|d| d.split_once('=')) {
                if k.trim().eq_ignore_ascii_case("escape") {
                    escape = v.trim().chars().next().unwrap_or('\\');
                }
                continue;
            }
            directives = false;
        }
        if current.is_none() && (line.is_empty() || line.starts_with('#')) {
            continue;
        }
        if current.is_some() && line.starts_with('#') {
            continue;
        }
        let (cont, body) = match line.strip_suffix(escape) {
            Some(b) => (true, b.trim_end()),
            None => (false, line),
        };
        let entry = current.get_or_insert((n, String::new()));
        if !entry.1.is_empty() && !body.is_empty() {
            entry.1.push(' ');
        }
        entry.1.push_str(body);
        if !cont {
            out.extend(current.take());
        }
    }
    out.extend(current);
    out
}

/// `Step 3/5 : RUN x` (Docker) or `STEP 3/5: RUN x` (Podman/Buildah): the step number.
fn step_number(line: &str) -> Option<usize> {
    let l = line.trim_start();
    let rest = l
        .strip_prefix("Step ")
        .or_else(|| l.strip_prefix("STEP "))?;
    let (n, _) = rest.split_once('/')?;
    n.trim().parse().ok()
}

/// `dockerfile parse error line 3: ...`, `Dockerfile:3: ...`, `... at line 3`.
fn line_in_message(msg: &str) -> Option<u32> {
    let re = regex::Regex::new(r"(?i)(?:line |dockerfile:|\.dockerfile[^:]*:)(\d+)").ok()?;
    re.captures(msg)?.get(1)?.as_str().parse().ok()
}

fn is_syntax_error(msg: &str) -> bool {
    let m = msg.to_ascii_lowercase();
    m.contains("parse error")
        || m.contains("unknown instruction")
        || m.contains("dockerfile parse")
        || m.contains("unknown flag")
        || m.contains("requires at least")
        || m.contains("requires exactly")
}

/// The context tar, packed on a blocking thread while the engine reads it.
pub(super) type Packer = tokio::task::JoinHandle<Result<Packed, context::ContextError>>;

/// Starts packing `spec` (Dockerfile named `name` in the tar); the stream is the body.
pub(super) fn spawn_packer(
    spec: &ContextSpec,
    name: &str,
) -> (
    Packer,
    impl futures::Stream<Item = Result<bytes::Bytes, std::io::Error>> + Send + 'static,
) {
    let (tx, mut rx) = tokio::sync::mpsc::channel(4);
    let (spec2, name2) = (spec.clone(), name.to_string());
    let packer = tokio::task::spawn_blocking(move || {
        let tx_err = tx.clone();
        let r = context::write_tar(&spec2, &name2, context::ChunkWriter::new(tx));
        if let Err(e) = &r {
            // Abort the request body so the engine does not build half a context.
            let _ = tx_err.blocking_send(Err(std::io::Error::other(e.to_string())));
        }
        r
    });
    (packer, futures::stream::poll_fn(move |cx| rx.poll_recv(cx)))
}

pub(super) async fn finish_packer(packer: Packer) -> Result<Packed, DockerError> {
    match packer.await {
        Ok(Ok(p)) => Ok(p),
        Ok(Err(e)) => Err(e.into()),
        Err(e) => Err(DockerError::Context(context::ContextError::Write(
            std::io::Error::other(e.to_string()),
        ))),
    }
}

/// Where a failure sits in the Dockerfile: a line named in the message wins, then the
/// failing step (`step`: 1-based index over all instructions, classic builder).
fn located(req: &BuildRequest, msg: &str, step: Option<usize>) -> (Option<u32>, Option<String>) {
    let instrs = instructions(&req.dockerfile_text);
    match line_in_message(msg) {
        Some(l) => (
            Some(l),
            instrs.iter().find(|(n, _)| *n == l).map(|(_, t)| t.clone()),
        ),
        None if is_syntax_error(msg) => (None, None),
        None => match step.and_then(|s| instrs.get(s.checked_sub(1)?)) {
            Some((l, t)) => (Some(*l), Some(t.clone())),
            None => (None, None),
        },
    }
}

/// A message that names its own Dockerfile line (`dockerfile parse error line 3`).
pub(super) fn mentions_line(msg: &str) -> bool {
    line_in_message(msg).is_some()
}

/// Where a message alone puts a failure.
pub(super) fn locate_message(req: &BuildRequest, msg: &str) -> (Option<u32>, Option<String>) {
    located(req, msg, None)
}

/// The failure of a build, for the report.
pub(super) fn failure(
    req: &BuildRequest,
    msg: &str,
    at: (Option<u32>, Option<String>),
    tail: Vec<String>,
) -> DockerError {
    DockerError::Build(Box::new(BuildFailure {
        dockerfile: req.dockerfile_display.clone(),
        line: at.0,
        instruction: at.1,
        message: msg.trim().to_string(),
        tail,
        syntax: is_syntax_error(msg),
    }))
}

/// A BuildKit step (`[stage 2/3] RUN make`, see `buildkit::progress::step_of`) as its
/// Dockerfile line: the stage by name (`FROM x AS name`, else `stage-N`; no name: the
/// only stage), then the index within it, where BuildKit counts `FROM` only for an
/// image base (not `scratch`, not an earlier stage). The text must agree; if it does
/// not, the text alone decides.
pub fn buildkit_step_line(
    dockerfile_text: &str,
    stage: Option<&str>,
    index: usize,
    text: &str,
) -> Option<(u32, String)> {
    let instrs = instructions(dockerfile_text);
    let keyword = |t: &str| {
        t.split_whitespace()
            .next()
            .unwrap_or("")
            .to_ascii_uppercase()
    };
    let norm = |t: &str| t.split_whitespace().collect::<Vec<_>>().join(" ");
    struct Stage {
        name: String,
        /// BuildKit counts FROM as step 1 (an image base).
        from_image: bool,
        steps: Vec<(u32, String)>,
    }
    let mut stages: Vec<Stage> = Vec::new();
    for (n, t) in &instrs {
        if keyword(t) == "FROM" {
            let words: Vec<&str> = t
                .split_whitespace()
                .skip(1)
                .filter(|w| !w.starts_with("--"))
                .collect();
            let base = words
                .first()
                .map(|w| w.to_ascii_lowercase())
                .unwrap_or_default();
            let alias = words
                .iter()
                .position(|w| w.eq_ignore_ascii_case("as"))
                .and_then(|i| words.get(i + 1));
            let name = match alias {
                Some(w) => w.to_ascii_lowercase(),
                _ => format!("stage-{}", stages.len()),
            };
            let from_image = base != "scratch" && !stages.iter().any(|s| s.name == base);
            stages.push(Stage {
                name,
                from_image,
                steps: Vec::new(),
            });
        }
        if let Some(st) = stages.last_mut()
            && (keyword(t) != "FROM" || st.from_image)
        {
            st.steps.push((*n, t.clone()));
        }
    }
    let stage_instrs = match stage {
        Some(s) => stages.iter().find(|st| st.name == s).map(|st| &st.steps),
        None if stages.len() == 1 => stages.first().map(|st| &st.steps),
        None => None,
    };
    let want = norm(text);
    let candidate = stage_instrs.and_then(|v| v.get(index.checked_sub(1)?));
    if let Some((n, t)) = candidate
        && norm(t) == want
    {
        return Some((*n, t.clone()));
    }
    let pool: Vec<&(u32, String)> = match stage_instrs {
        Some(v) => v.iter().collect(),
        None => instrs.iter().collect(),
    };
    if let Some((n, t)) = pool.iter().find(|(_, t)| norm(t) == want) {
        return Some((*n, t.clone()));
    }
    candidate
        .filter(|(_, t)| keyword(t) == keyword(text))
        .cloned()
}

/// Builds with the classic builder; returns what was packed. `on_line` sees every
/// progress line (untrusted text).
pub async fn build(
    docker: &Docker,
    spec: &ContextSpec,
    req: &BuildRequest,
    mut on_line: impl FnMut(&str),
) -> Result<Packed, DockerError> {
    let name = context::tar_dockerfile_name(spec);
    let (packer, chunks) = spawn_packer(spec, &name);
    let body = bollard::body_try_stream(chunks);
    let opts = bollard::query_parameters::BuildImageOptions {
        dockerfile: name,
        t: Some(req.tag.clone()),
        rm: true,
        forcerm: true,
        nocache: req.no_cache,
        buildargs: Some(req.build_args.clone()),
        labels: Some(req.labels.clone()),
        target: req.target.clone().unwrap_or_default(),
        platform: req.platform.clone().unwrap_or_default(),
        cachefrom: (!req.cache_from.is_empty()).then(|| req.cache_from.clone()),
        version: bollard::query_parameters::BuilderVersion::BuilderV1,
        ..Default::default()
    };
    let mut stream = docker.build_image(opts, None, Some(body));
    let mut tail: VecDeque<String> = VecDeque::new();
    let mut step: Option<usize> = None;
    let mut failed: Option<String> = None;
    let mut pending = String::new();
    while let Some(item) = stream.next().await {
        match item {
            Ok(info) => {
                let text = info
                    .stream
                    .or(info.status.map(|s| format!("{s}\n")))
                    .unwrap_or_default();
                pending.push_str(&text);
                while let Some(i) = pending.find('\n') {
                    let line: String = pending.drain(..=i).collect();
                    let line = line.trim_end().to_string();
                    if line.is_empty() {
                        continue;
                    }
                    if let Some(n) = step_number(&line) {
                        step = Some(n);
                        tail.clear();
                    }
                    on_line(&line);
                    tail.push_back(line);
                    if tail.len() > 20 {
                        tail.pop_front();
                    }
                }
            }
            Err(e) => {
                failed = Some(message(&e));
                break;
            }
        }
    }
    drop(stream);
    let packed = finish_packer(packer).await?;
    if let Some(msg) = failed {
        if !pending.trim().is_empty() {
            tail.push_back(pending.trim().to_string());
        }
        let tail: Vec<String> = tail
            .into_iter()
            .filter(|l| step_number(l).is_none())
            .collect();
        return Err(failure(req, &msg, located(req, &msg, step), tail));
    }
    Ok(packed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instruction_lines_follow_continuations_and_comments() {
        let df = "# syntax=docker/dockerfile:1\n\nFROM scratch\n# a comment\nCOPY a \\\n  b \\\n  /x/\n\nRUN exit 3\n";
        let i = instructions(df);
        assert_eq!(
            i,
            vec![
                (3, "FROM scratch".to_string()),
                (5, "COPY a b /x/".to_string()),
                (9, "RUN exit 3".to_string())
            ]
        );
        let win = "# escape=`\nFROM scratch\nRUN a `\n b\n";
        assert_eq!(instructions(win)[1], (3, "RUN a b".to_string()));
    }

    #[test]
    fn buildkit_steps_to_lines() {
        let df = "ARG V=1\nFROM scratch AS build\nCOPY a /a\nRUN make\n\nFROM scratch\nCOPY --from=build /a /a\nRUN make\n";
        assert_eq!(
            buildkit_step_line(df, Some("build"), 2, "RUN make"),
            Some((4, "RUN make".into()))
        );
        assert_eq!(
            buildkit_step_line(df, Some("stage-1"), 2, "RUN make"),
            Some((8, "RUN make".into()))
        );
        // No stage in the name of a multi-stage file: the text decides (first match).
        assert_eq!(
            buildkit_step_line(df, None, 2, "COPY --from=build /a /a"),
            Some((7, "COPY --from=build /a /a".into()))
        );
        // `FROM scratch` is not a step of its own: COPY is [1/2].
        let scratch = "FROM scratch\nCOPY a /a\nCOPY missing /m\n";
        assert_eq!(
            buildkit_step_line(scratch, None, 2, "COPY missing /m"),
            Some((3, "COPY missing /m".into()))
        );
        // An image base is [1/N]; the text decides between look-alikes by position.
        let image = "FROM alpine\nRUN make\nRUN make\n";
        assert_eq!(
            buildkit_step_line(image, None, 3, "RUN make"),
            Some((3, "RUN make".into()))
        );
    }

    #[test]
    fn steps_and_lines_from_engine_text() {
        assert_eq!(step_number("Step 3/5 : RUN exit 3"), Some(3));
        assert_eq!(step_number("STEP 2/4: COPY . ."), Some(2));
        assert_eq!(step_number(" ---> Running in abc"), None);
        assert_eq!(
            line_in_message("dockerfile parse error line 3: unknown instruction: FOO"),
            Some(3)
        );
        assert!(is_syntax_error(
            "dockerfile parse error line 3: unknown instruction: FOO"
        ));
    }
}
