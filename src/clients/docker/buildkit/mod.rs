//! BuildKit through the Docker engine: `POST /build?version=2&remote=client-session`
//! with our own session ([`session`]) serving the context and the Dockerfile the way the
//! docker CLI does ([`filesync`]), build secrets and registry credentials; progress
//! decoded from the engine's `moby.buildkit.trace` messages ([`progress`]).
//!
//! Why not bollard's `buildkit` feature: its `build_image` session serves registry
//! credentials but no secrets, and its gRPC `solve` path buffers the whole context in
//! memory and reports no progress. Why not a tar body: BuildKit then takes the tar as
//! a remote context and no longer applies `.dockerignore` to the Dockerfile it reads
//! from it, and every build sends the whole context again; through the session only
//! what changed since the last build of the same directory is sent.
//!
//! Cache: the engine's built-in BuildKit imports cache from registry images
//! (`cachefrom`) and exports it inline (`BUILDKIT_INLINE_CACHE=1`: the cache metadata
//! travels in the pushed image's config), which is how the cache lives in the same ACR.

pub mod filesync;
pub mod progress;
pub mod session;
pub mod wire;

use http_body_util::BodyExt;

use super::DockerError;
use super::build::{self, BuildRequest};
use super::context::{self, ContextSpec};
use progress::{Event, Progress};
use wire::EngineAddr;

/// What a BuildKit build produced.
#[derive(Debug)]
pub struct Built {
    pub sent: filesync::Sent,
    pub image_id: Option<String>,
    pub asked: session::Asked,
}

#[allow(clippy::expect_used)] // why: maps and lists of strings always serialize to JSON
fn query(req: &BuildRequest, dockerfile: &str, session: &str) -> String {
    let mut q = url::form_urlencoded::Serializer::new(String::new());
    q.append_pair("version", "2");
    q.append_pair("remote", "client-session");
    q.append_pair("session", session);
    q.append_pair("dockerfile", dockerfile);
    q.append_pair("t", &req.tag);
    q.append_pair("rm", "1");
    q.append_pair("forcerm", "1");
    if req.no_cache {
        q.append_pair("nocache", "1");
    }
    let json = "maps and lists of strings serialize";
    q.append_pair(
        "buildargs",
        &serde_json::to_string(&req.build_args).expect(json),
    );
    q.append_pair("labels", &serde_json::to_string(&req.labels).expect(json));
    if !req.cache_from.is_empty() {
        q.append_pair(
            "cachefrom",
            &serde_json::to_string(&req.cache_from).expect(json),
        );
    }
    if let Some(t) = &req.target {
        q.append_pair("target", t);
    }
    if let Some(p) = &req.platform {
        q.append_pair("platform", p);
    }
    q.finish()
}

/// Builds `req` with BuildKit on the engine at `addr`; `provide`: the secrets and
/// credentials the session serves (the context and Dockerfile are added here).
pub async fn build(
    addr: &EngineAddr,
    spec: &ContextSpec,
    req: &BuildRequest,
    mut provide: session::Provide,
    mut on_line: impl FnMut(&str),
) -> Result<Built, DockerError> {
    let engine_err = |message: String| DockerError::BuildKit { message };
    let excludes = context::dockerignore(&spec.dir)?;
    // Checked before anything is sent: a bad pattern is the user's to fix.
    crate::clients::docker::ignore::Matcher::new(&excludes).map_err(|source| {
        DockerError::Context(context::ContextError::Pattern {
            path: spec.dir.join(".dockerignore"),
            source,
        })
    })?;
    let df_dir = spec
        .dockerfile
        .parent()
        .map(std::path::Path::to_path_buf)
        .unwrap_or_else(|| spec.dir.clone());
    let df_name = spec
        .dockerfile
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "Dockerfile".into());
    provide.dirs.insert(
        "context".into(),
        filesync::SyncedDir {
            root: spec.dir.clone(),
            excludes,
        },
    );
    provide.dirs.insert(
        "dockerfile".into(),
        filesync::SyncedDir {
            root: df_dir,
            excludes: Vec::new(),
        },
    );
    let shared_key = {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(spec.dir.to_string_lossy().as_bytes()))
    };
    let sess = session::start(addr, provide, "aks-backend", &shared_key)
        .await
        .map_err(engine_err)?;
    let body: wire::Body = BodyExt::boxed(
        http_body_util::Empty::<bytes::Bytes>::new().map_err(|never| match never {}),
    );
    let http_req = hyper::Request::post(format!("/build?{}", query(req, &df_name, &sess.id)))
        .header("Host", "docker")
        .body(body)
        .map_err(|e| engine_err(e.to_string()))?;
    let resp = wire::send(addr, http_req).await.map_err(engine_err)?;
    let mut failed: Option<String> = None;
    let mut image_id = None;
    let mut prog = Progress::default();
    if !resp.status().is_success() {
        failed = Some(wire::engine_message(&wire::body_text(resp).await));
    } else {
        let mut body = resp.into_body();
        let mut pending: Vec<u8> = Vec::new();
        let mut handle = |line: &[u8], failed: &mut Option<String>| {
            let Ok(msg) = serde_json::from_slice::<serde_json::Value>(line) else {
                return;
            };
            match prog.message(&msg, &mut on_line) {
                Event::Error(e) => *failed = Some(e),
                Event::ImageId(id) => image_id = Some(id),
                Event::Progress => {}
            }
        };
        while let Some(frame) = body.frame().await {
            let frame = match frame {
                Ok(f) => f,
                Err(e) => {
                    failed.get_or_insert(format!("the engine's answer broke off: {e}"));
                    break;
                }
            };
            let Ok(data) = frame.into_data() else {
                continue;
            };
            pending.extend_from_slice(&data);
            while let Some(i) = pending.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = pending.drain(..=i).collect();
                handle(line.trim_ascii(), &mut failed);
            }
        }
        if !pending.trim_ascii().is_empty() {
            handle(pending.trim_ascii(), &mut failed);
        }
    }
    let sent = sess.sent.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let asked = sess.asked.lock().unwrap_or_else(|e| e.into_inner()).clone();
    drop(sess);
    if let Some(msg) = failed {
        let (at, tail) = match prog.failed() {
            Some(v) => {
                let at = progress::step_of(&v.name)
                    .and_then(|(stage, i, text)| {
                        build::buildkit_step_line(&req.dockerfile_text, stage.as_deref(), i, &text)
                    })
                    .map(|(l, t)| (Some(l), Some(t)));
                (at, v.logs)
            }
            None => (None, Vec::new()),
        };
        let msg = clean_message(&msg);
        let at = match at {
            Some(at) if !build::mentions_line(&msg) => at,
            _ => build::locate_message(req, &msg),
        };
        return Err(build::failure(req, &msg, at, tail));
    }
    Ok(Built {
        sent,
        image_id,
        asked,
    })
}

/// BuildKit's wrapping (`failed to solve with frontend dockerfile.v0: failed to create
/// LLB definition: ...`) says nothing the user can act on; the cause is kept.
fn clean_message(msg: &str) -> String {
    let mut m = msg.trim();
    for p in [
        "failed to solve with frontend dockerfile.v0: ",
        "failed to solve: ",
        "failed to create LLB definition: ",
        "rpc error: code = Unknown desc = ",
    ] {
        while let Some(r) = m.strip_prefix(p) {
            m = r;
        }
    }
    m.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrapping_is_dropped_from_messages() {
        assert_eq!(
            clean_message(
                "failed to solve with frontend dockerfile.v0: failed to create LLB definition: dockerfile parse error line 3: unknown instruction: FOO"
            ),
            "dockerfile parse error line 3: unknown instruction: FOO"
        );
    }

    #[test]
    fn the_query_carries_the_session_and_build_options() {
        let req = BuildRequest {
            tag: "r.io/api:sha-1".into(),
            build_args: [("BUILDKIT_INLINE_CACHE".to_string(), "1".to_string())].into(),
            cache_from: vec!["r.io/api:main".into()],
            target: Some("prod".into()),
            ..Default::default()
        };
        let q = query(&req, "Dockerfile", "abc");
        let pairs: Vec<(String, String)> = url::form_urlencoded::parse(q.as_bytes())
            .into_owned()
            .collect();
        let get = |k: &str| pairs.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        assert_eq!(get("version"), Some("2"));
        assert_eq!(get("session"), Some("abc"));
        assert_eq!(get("t"), Some("r.io/api:sha-1"));
        assert_eq!(get("cachefrom"), Some(r#"["r.io/api:main"]"#));
        assert_eq!(get("buildargs"), Some(r#"{"BUILDKIT_INLINE_CACHE":"1"}"#));
        assert_eq!(get("target"), Some("prod"));
        assert_eq!(get("nocache"), None);
    }
}
