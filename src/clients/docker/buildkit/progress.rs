//! BuildKit's progress, as the engine streams it from `/build?version=2`: JSON messages
//! whose `moby.buildkit.trace` entries carry a base64 protobuf `StatusResponse`
//! (vertices, their logs, errors). Rendered as plain lines in the style of
//! `docker build --progress=plain` (`#3 [2/3] RUN make`, `#3 0.412 output`, `#3 DONE 0.5s`),
//! with every vertex's last log lines kept so a failure can show its own output.

use std::collections::{HashMap, VecDeque};

use base64::Engine;
use bollard_buildkit_proto::moby::buildkit::v1::StatusResponse;
use prost::Message;

/// What one engine message meant.
#[derive(Debug, PartialEq)]
pub enum Event {
    /// Progress was rendered (zero or more lines).
    Progress,
    /// `moby.image.id`: the built image.
    ImageId(String),
    /// The build failed with this message.
    Error(String),
}

const TAIL: usize = 20;

#[derive(Default)]
struct Vertex {
    n: usize,
    name: String,
    announced: bool,
    done: bool,
    started: Option<f64>,
    error: Option<String>,
    logs: VecDeque<String>,
    partial: String,
}

#[derive(Default)]
pub struct Progress {
    vertices: HashMap<String, Vertex>,
    next: usize,
    /// Digests of failed vertices, in order.
    failed: Vec<String>,
}

/// The failed vertex: its name (`[stage-0 2/3] RUN make`), its error, its last output.
#[derive(Debug, Clone, PartialEq)]
pub struct FailedVertex {
    pub name: String,
    pub error: String,
    pub logs: Vec<String>,
}

fn seconds(t: &Option<bollard_buildkit_proto::google::protobuf::Timestamp>) -> Option<f64> {
    t.as_ref()
        .map(|t| t.seconds as f64 + f64::from(t.nanos) / 1e9)
}

impl Progress {
    /// Handles one JSON message of the stream; `out` gets rendered lines.
    pub fn message(&mut self, msg: &serde_json::Value, out: &mut impl FnMut(&str)) -> Event {
        if let Some(e) = msg
            .pointer("/errorDetail/message")
            .and_then(serde_json::Value::as_str)
            .or_else(|| msg.get("error").and_then(serde_json::Value::as_str))
        {
            return Event::Error(e.to_string());
        }
        match msg.get("id").and_then(serde_json::Value::as_str) {
            Some("moby.buildkit.trace") => {
                let decoded = msg
                    .get("aux")
                    .and_then(serde_json::Value::as_str)
                    .and_then(|a| base64::engine::general_purpose::STANDARD.decode(a).ok())
                    .and_then(|b| StatusResponse::decode(b.as_slice()).ok());
                if let Some(s) = decoded {
                    self.status(s, out);
                }
                Event::Progress
            }
            Some("moby.image.id") => {
                match msg.pointer("/aux/ID").and_then(serde_json::Value::as_str) {
                    Some(id) => Event::ImageId(id.to_string()),
                    None => Event::Progress,
                }
            }
            _ => {
                if let Some(s) = msg.get("stream").and_then(serde_json::Value::as_str) {
                    for l in s.lines().filter(|l| !l.trim().is_empty()) {
                        out(l);
                    }
                }
                Event::Progress
            }
        }
    }

    /// Applies one status update.
    pub fn status(&mut self, s: StatusResponse, out: &mut impl FnMut(&str)) {
        for v in s.vertexes {
            let next = &mut self.next;
            let e = self.vertices.entry(v.digest.clone()).or_insert_with(|| {
                *next += 1;
                Vertex {
                    n: *next,
                    ..Default::default()
                }
            });
            if !v.name.is_empty() {
                e.name = v.name.clone();
            }
            if (v.started.is_some() || v.cached) && !e.announced {
                e.announced = true;
                e.started = seconds(&v.started);
                out(&format!("#{} {}", e.n, e.name));
            }
            if v.completed.is_some() && !e.done {
                e.done = true;
                if !e.partial.is_empty() {
                    let l = std::mem::take(&mut e.partial);
                    out(&format!("#{} {l}", e.n));
                    push_tail(&mut e.logs, l);
                }
                if v.cached {
                    out(&format!("#{} CACHED", e.n));
                } else if !v.error.is_empty() {
                    out(&format!("#{} ERROR: {}", e.n, v.error));
                    e.error = Some(v.error.clone());
                    self.failed.push(v.digest.clone());
                } else {
                    let took = match (e.started, seconds(&v.completed)) {
                        (Some(a), Some(b)) if b >= a => format!(" {:.1}s", b - a),
                        _ => String::new(),
                    };
                    out(&format!("#{} DONE{took}", e.n));
                }
            }
        }
        for l in s.logs {
            let Some(e) = self.vertices.get_mut(&l.vertex) else {
                continue;
            };
            e.partial.push_str(&String::from_utf8_lossy(&l.msg));
            while let Some(i) = e.partial.find(['\n', '\r']) {
                let line: String = e.partial.drain(..=i).collect();
                let line = line.trim_end().to_string();
                if line.is_empty() {
                    continue;
                }
                out(&format!("#{} {line}", e.n));
                push_tail(&mut e.logs, line);
            }
        }
    }

    /// The vertex that failed first (a cancelled sibling reports `context canceled`).
    pub fn failed(&self) -> Option<FailedVertex> {
        let pick = self
            .failed
            .iter()
            .filter_map(|d| self.vertices.get(d))
            .find(|v| {
                !v.error
                    .as_deref()
                    .unwrap_or("")
                    .contains("context canceled")
            })
            .or_else(|| self.failed.first().and_then(|d| self.vertices.get(d)))?;
        let mut logs: Vec<String> = pick.logs.iter().cloned().collect();
        if !pick.partial.is_empty() {
            logs.push(pick.partial.trim_end().to_string());
        }
        Some(FailedVertex {
            name: pick.name.clone(),
            error: pick.error.clone().unwrap_or_default(),
            logs,
        })
    }
}

fn push_tail(tail: &mut VecDeque<String>, line: String) {
    tail.push_back(line);
    if tail.len() > TAIL {
        tail.pop_front();
    }
}

/// `[stage-0 2/3] RUN make` -> `(Some("stage-0"), 2, "RUN make")`; `[2/3] RUN make` ->
/// `(None, 2, ...)`. Vertices outside the Dockerfile's steps (`[internal] ...`) -> `None`.
pub fn step_of(name: &str) -> Option<(Option<String>, usize, String)> {
    let rest = name.strip_prefix('[')?;
    let (inside, instr) = rest.split_once("] ")?;
    let (stage, counter) = match inside.rsplit_once(' ') {
        Some((s, c)) => (Some(s.to_string()), c),
        None => (None, inside),
    };
    let (i, _) = counter.split_once('/')?;
    Some((stage, i.parse().ok()?, instr.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use bollard_buildkit_proto::moby::buildkit::v1::{Vertex as PbVertex, VertexLog};

    fn ts(s: i64) -> Option<bollard_buildkit_proto::google::protobuf::Timestamp> {
        Some(bollard_buildkit_proto::google::protobuf::Timestamp {
            seconds: s,
            nanos: 0,
        })
    }

    fn trace(s: StatusResponse) -> serde_json::Value {
        serde_json::json!({"id": "moby.buildkit.trace",
            "aux": base64::engine::general_purpose::STANDARD.encode(s.encode_to_vec())})
    }

    #[test]
    fn renders_plain_progress_and_keeps_the_failing_output() {
        let mut p = Progress::default();
        let mut lines = Vec::new();
        let mut out = |l: &str| lines.push(l.to_string());
        let v = |digest: &str, name: &str| PbVertex {
            digest: digest.into(),
            name: name.into(),
            ..Default::default()
        };
        p.message(
            &trace(StatusResponse {
                vertexes: vec![
                    PbVertex {
                        started: ts(10),
                        ..v("a", "[internal] load build definition from Dockerfile")
                    },
                    PbVertex {
                        started: ts(10),
                        completed: ts(10),
                        cached: true,
                        ..v("b", "[1/3] COPY a /a")
                    },
                ],
                ..Default::default()
            }),
            &mut out,
        );
        p.message(
            &trace(StatusResponse {
                vertexes: vec![PbVertex {
                    started: ts(11),
                    ..v("c", "[3/3] RUN make")
                }],
                logs: vec![VertexLog {
                    vertex: "c".into(),
                    msg: b"compiling\nerror: x\npart".to_vec(),
                    ..Default::default()
                }],
                ..Default::default()
            }),
            &mut out,
        );
        p.message(
            &trace(StatusResponse {
                vertexes: vec![PbVertex {
                    started: ts(11),
                    completed: ts(13),
                    error:
                        "process \"/bin/sh -c make\" did not complete successfully: exit code: 2"
                            .into(),
                    ..v("c", "[3/3] RUN make")
                }],
                ..Default::default()
            }),
            &mut out,
        );
        assert_eq!(
            lines,
            vec![
                "#1 [internal] load build definition from Dockerfile",
                "#2 [1/3] COPY a /a",
                "#2 CACHED",
                "#3 [3/3] RUN make",
                "#3 compiling",
                "#3 error: x",
                "#3 part",
                "#3 ERROR: process \"/bin/sh -c make\" did not complete successfully: exit code: 2",
            ]
        );
        let f = p.failed().unwrap();
        assert_eq!(f.name, "[3/3] RUN make");
        assert_eq!(f.logs, vec!["compiling", "error: x", "part"]);
        assert_eq!(
            p.message(
                &serde_json::json!({"errorDetail": {"message": "boom"}, "error": "boom"}),
                &mut |_| {}
            ),
            Event::Error("boom".into())
        );
        assert_eq!(
            p.message(
                &serde_json::json!({"id": "moby.image.id", "aux": {"ID": "sha256:ab"}}),
                &mut |_| {}
            ),
            Event::ImageId("sha256:ab".into())
        );
    }

    #[test]
    fn vertex_names_to_steps() {
        assert_eq!(
            step_of("[stage-1 2/3] RUN make"),
            Some((Some("stage-1".into()), 2, "RUN make".into()))
        );
        assert_eq!(
            step_of("[2/3] RUN make"),
            Some((None, 2, "RUN make".into()))
        );
        assert_eq!(step_of("[internal] load metadata"), None);
    }
}
