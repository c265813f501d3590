//! One image build through the engine's `/build` endpoint, the context streamed while
//! it is packed, progress handed line by line to the caller, and a failure turned into
//! the Dockerfile line that failed plus the tail of its output.
//!
//! Builder: the classic builder. bollard 0.21 can drive BuildKit only through its
//! `buildkit` feature (tonic/prost gRPC session over the engine's `/session` hijack),
//! and even then its session for `build_image` serves registry auth and file export
//! but no secrets provider; the dockerd 20.10 here also cannot export a registry cache
//! (`cache-to`) from its embedded BuildKit (the "docker" driver has no cache export).
//! So BuildKit would add a gRPC stack for none of the three things we would want it for;
//! `--secret` is refused up front instead of leaking into history (see the step).

use std::collections::{HashMap, VecDeque};

use bollard::Docker;
use futures::StreamExt;

use super::context::{self, ContextSpec, Packed};
use super::{DockerError, message};
use crate::host::Location;

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

/// Builds; returns what was packed. `on_line` sees every progress line (untrusted text).
pub async fn build(
    docker: &Docker,
    spec: &ContextSpec,
    req: &BuildRequest,
    mut on_line: impl FnMut(&str),
) -> Result<Packed, DockerError> {
    let name = context::tar_dockerfile_name(spec);
    let (tx, mut rx) = tokio::sync::mpsc::channel(4);
    let (spec2, name2) = (spec.clone(), name.clone());
    let packer = tokio::task::spawn_blocking(move || {
        let tx_err = tx.clone();
        let r = context::write_tar(&spec2, &name2, context::ChunkWriter::new(tx));
        if let Err(e) = &r {
            // Abort the request body so the engine does not build half a context.
            let _ = tx_err.blocking_send(Err(std::io::Error::other(e.to_string())));
        }
        r
    });
    let body = bollard::body_try_stream(futures::stream::poll_fn(move |cx| rx.poll_recv(cx)));
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
    let mut failure: Option<String> = None;
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
                failure = Some(message(&e));
                break;
            }
        }
    }
    drop(stream);
    let packed = match packer.await {
        Ok(Ok(p)) => p,
        Ok(Err(e)) => return Err(e.into()),
        Err(e) => {
            return Err(DockerError::Context(context::ContextError::Write(
                std::io::Error::other(e.to_string()),
            )));
        }
    };
    if let Some(msg) = failure {
        let instrs = instructions(&req.dockerfile_text);
        let syntax = is_syntax_error(&msg);
        let (line, instruction) = match line_in_message(&msg) {
            Some(l) => (
                Some(l),
                instrs.iter().find(|(n, _)| *n == l).map(|(_, t)| t.clone()),
            ),
            None if syntax => (None, None),
            None => match step.and_then(|s| instrs.get(s - 1)) {
                Some((l, t)) => (Some(*l), Some(t.clone())),
                None => (None, None),
            },
        };
        if !pending.trim().is_empty() {
            tail.push_back(pending.trim().to_string());
        }
        let tail: Vec<String> = tail
            .into_iter()
            .filter(|l| step_number(l).is_none())
            .collect();
        return Err(DockerError::Build(Box::new(BuildFailure {
            dockerfile: req.dockerfile_display.clone(),
            line,
            instruction,
            message: msg.trim().to_string(),
            tail,
            syntax,
        })));
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
