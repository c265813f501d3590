//! Azure DevOps' Git REST API (7.1): one pull-request thread per report key, and an
//! optional pull-request status that branch policies can require.
//!
//! The thread is found by a thread property (`aks-backend.key`), not by text; its
//! first comment is edited in place, and its status says whether anything failed
//! (`active`) or all is clean (`closed`). Like the GitHub comment, an older run never
//! overwrites a newer one (`aks-backend.run` property and the marker line), and
//! duplicates from two jobs racing are removed, keeping the newest run's thread.
//!
//! A thread is ours only when its first comment was written by the token's own identity
//! (`_apis/connectionData`'s `authenticatedUser.id`): properties and markers can be
//! pasted by anyone, so a stranger's `run=999999.1` never stops our updates. Every call
//! goes through the HTTP room: creating a thread or a status is a POST that is never
//! repeated after a 5xx.

use serde_json::{Value, json};

use crate::clients::http::{Http, HttpError, Retry};
use crate::model::diagnostic::{Diagnostic, Exit};
use crate::model::pipeline::{Marker, RunId};
use crate::secret::Secret;

const API_VERSION: &str = "7.1";
const KEY_PROPERTY: &str = "aks-backend.key";
const RUN_PROPERTY: &str = "aks-backend.run";

#[derive(Debug, thiserror::Error)]
pub enum AzureDevOpsError {
    #[error(
        "{what}: the build identity may not do this (Azure DevOps answered {status}: {message})"
    )]
    Forbidden {
        what: &'static str,
        status: u16,
        message: String,
    },
    #[error("{what}: Azure DevOps answered {status}: {message}")]
    Api {
        what: &'static str,
        status: u16,
        message: String,
    },
    #[error("{what}: {source}")]
    Transport {
        what: &'static str,
        source: HttpError,
    },
}

impl Diagnostic for AzureDevOpsError {
    fn exit(&self) -> Exit {
        Exit::External
    }
    fn hint(&self) -> Option<String> {
        Some(match self {
            AzureDevOpsError::Forbidden { .. } => "give the build service identity \"Contribute to pull requests\" on the repository, \
                 and map the token: `env: SYSTEM_ACCESSTOKEN: $(System.AccessToken)` (or set comment: false)"
                .into(),
            AzureDevOpsError::Api { .. } | AzureDevOpsError::Transport { .. } => {
                "Azure DevOps may be having trouble; re-run the job".into()
            }
        })
    }
}

impl AzureDevOpsError {
    pub fn is_permission(&self) -> bool {
        matches!(self, AzureDevOpsError::Forbidden { .. })
    }
}

/// What the upsert did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ThreadUpsert {
    Created { thread: u64 },
    Updated { thread: u64 },
    NewerExists { thread: u64, run: RunId },
}

#[derive(Clone, Debug)]
struct Owned {
    thread: u64,
    first_comment: u64,
    run: RunId,
}

pub struct AzureDevOps {
    http: Http,
    /// `{collection}/_apis/connectionData`
    connection_url: String,
    /// `{collection}/{project}/_apis/git/repositories/{repository}`
    repo_url: String,
    token: Secret,
    /// The token's identity (`authenticatedUser.id`), once known.
    me: tokio::sync::OnceCell<String>,
}

impl AzureDevOps {
    /// `collection` like `https://dev.azure.com/org`; `project` and `repository` are
    /// names or ids.
    pub fn new(
        http: Http,
        collection: &str,
        project: &str,
        repository: &str,
        token: Secret,
    ) -> Self {
        AzureDevOps {
            http,
            connection_url: format!("{}/_apis/connectionData", collection.trim_end_matches('/')),
            repo_url: format!(
                "{}/{}/_apis/git/repositories/{}",
                collection.trim_end_matches('/'),
                encode(project),
                encode(repository)
            ),
            token,
            me: tokio::sync::OnceCell::new(),
        }
    }

    /// The identity behind the token: `authenticatedUser.id` of `_apis/connectionData`.
    pub async fn me(&self) -> Result<&str, AzureDevOpsError> {
        const WHAT: &str = "asking Azure DevOps who the token is";
        let me = self
            .me
            .get_or_try_init(|| async {
                let v = self
                    .send(WHAT, reqwest::Method::GET, &self.connection_url, None)
                    .await?;
                v.pointer("/authenticatedUser/id")
                    .and_then(Value::as_str)
                    .filter(|id| !id.is_empty())
                    .map(str::to_ascii_lowercase)
                    .ok_or_else(|| AzureDevOpsError::Api {
                        what: WHAT,
                        status: 200,
                        message: "the answer names no authenticatedUser.id".into(),
                    })
            })
            .await?;
        Ok(me)
    }

    fn url(&self, rest: &str) -> String {
        format!("{}{rest}?api-version={API_VERSION}", self.repo_url)
    }

    async fn send(
        &self,
        what: &'static str,
        method: reqwest::Method,
        url: &str,
        body: Option<&Value>,
    ) -> Result<Value, AzureDevOpsError> {
        let resp = self
            .http
            .send(Retry::ByMethod, |c| {
                let req = c
                    .request(method.clone(), url)
                    .bearer_auth(self.token.expose());
                match body {
                    Some(b) => req.json(b),
                    None => req,
                }
            })
            .await
            .map_err(|source| AzureDevOpsError::Transport { what, source })?;
        let status = resp.status.as_u16();
        let text = resp.text();
        if (200..300).contains(&status) {
            return Ok(serde_json::from_str(&text).unwrap_or(Value::Null));
        }
        let message = serde_json::from_str::<Value>(&text)
            .ok()
            .and_then(|v| v.get("message").and_then(Value::as_str).map(String::from))
            .unwrap_or_else(|| text.chars().take(500).collect());
        Err(if status == 401 || status == 403 {
            AzureDevOpsError::Forbidden {
                what,
                status,
                message,
            }
        } else {
            AzureDevOpsError::Api {
                what,
                status,
                message,
            }
        })
    }

    async fn owned_threads(&self, pr: u64, key: &str) -> Result<Vec<Owned>, AzureDevOpsError> {
        let me = self.me().await?.to_string();
        let v = self
            .send(
                "listing the pull request's threads",
                reqwest::Method::GET,
                &self.url(&format!("/pullRequests/{pr}/threads")),
                None,
            )
            .await?;
        Ok(v.get("value")
            .and_then(Value::as_array)
            .map(|threads| threads.iter().filter_map(|t| owned(t, key, &me)).collect())
            .unwrap_or_default())
    }

    /// Creates or updates the one thread for `marker.key` on pull request `pr`.
    /// `failed`: the thread is `active` (needs attention), else `closed`.
    pub async fn upsert_thread(
        &self,
        pr: u64,
        marker: &Marker,
        content: &str,
        failed: bool,
    ) -> Result<ThreadUpsert, AzureDevOpsError> {
        let status = if failed { "active" } else { "closed" };
        let properties = json!({
            KEY_PROPERTY: {"$type": "System.String", "$value": marker.key},
            RUN_PROPERTY: {"$type": "System.String", "$value": marker.run.to_string()},
        });
        let mine = self.owned_threads(pr, &marker.key).await?;
        if let Some(current) = winner(&mine) {
            if current.run > marker.run {
                return Ok(ThreadUpsert::NewerExists {
                    thread: current.thread,
                    run: current.run,
                });
            }
            let current = current.clone();
            self.send(
                "updating the pull request comment",
                reqwest::Method::PATCH,
                &self.url(&format!(
                    "/pullRequests/{pr}/threads/{}/comments/{}",
                    current.thread, current.first_comment
                )),
                Some(&json!({ "content": content })),
            )
            .await?;
            self.send(
                "updating the pull request thread",
                reqwest::Method::PATCH,
                &self.url(&format!("/pullRequests/{pr}/threads/{}", current.thread)),
                Some(&json!({ "status": status, "properties": properties })),
            )
            .await?;
            for dup in mine.iter().filter(|t| t.thread != current.thread) {
                self.remove(pr, dup).await?;
            }
            return Ok(ThreadUpsert::Updated {
                thread: current.thread,
            });
        }
        let created = self
            .send(
                "creating the pull request thread",
                reqwest::Method::POST,
                &self.url(&format!("/pullRequests/{pr}/threads")),
                Some(&json!({
                    "comments": [{"parentCommentId": 0, "content": content, "commentType": "text"}],
                    "status": status,
                    "properties": properties,
                })),
            )
            .await?;
        let id = created.get("id").and_then(Value::as_u64).unwrap_or(0);
        let all = self.owned_threads(pr, &marker.key).await?;
        let keep = winner(&all).cloned();
        for dup in all
            .iter()
            .filter(|t| Some(t.thread) != keep.as_ref().map(|k| k.thread))
        {
            self.remove(pr, dup).await?;
        }
        Ok(match keep {
            Some(k) if k.thread != id && k.run > marker.run => ThreadUpsert::NewerExists {
                thread: k.thread,
                run: k.run,
            },
            Some(k) => ThreadUpsert::Created { thread: k.thread },
            None => ThreadUpsert::Created { thread: id },
        })
    }

    /// A duplicate thread: its comment deleted (the thread then counts as deleted).
    async fn remove(&self, pr: u64, t: &Owned) -> Result<(), AzureDevOpsError> {
        match self
            .send(
                "removing a duplicate thread",
                reqwest::Method::DELETE,
                &self.url(&format!(
                    "/pullRequests/{pr}/threads/{}/comments/{}",
                    t.thread, t.first_comment
                )),
                None,
            )
            .await
        {
            Err(AzureDevOpsError::Api { status: 404, .. }) => Ok(()),
            r => r.map(|_| ()),
        }
    }

    /// Posts a pull-request status (`succeeded`, `failed`, `pending`, `error`) under
    /// the context `aks-backend/<name>`, which a branch policy can require.
    pub async fn set_status(
        &self,
        pr: u64,
        name: &str,
        state: &str,
        description: &str,
        target_url: Option<&str>,
    ) -> Result<(), AzureDevOpsError> {
        let mut body = json!({
            "state": state,
            "description": description,
            "context": {"genre": "aks-backend", "name": name},
        });
        if let (Some(u), Some(m)) = (target_url, body.as_object_mut()) {
            m.insert("targetUrl".into(), u.into());
        }
        self.send(
            "posting the pull request status",
            reqwest::Method::POST,
            &self.url(&format!("/pullRequests/{pr}/statuses")),
            Some(&body),
        )
        .await
        .map(|_| ())
    }
}

/// A property value as the service returns it (`{"$type", "$value"}`) or as a string.
fn property<'a>(thread: &'a Value, name: &str) -> Option<&'a str> {
    let p = thread.get("properties")?.get(name)?;
    p.get("$value")
        .and_then(Value::as_str)
        .or_else(|| p.as_str())
}

/// Ours: the thread's first comment was written by `me` (an identity id, lowercase) and
/// carries our key.
fn owned(t: &Value, key: &str, me: &str) -> Option<Owned> {
    if t.get("isDeleted").and_then(Value::as_bool) == Some(true) {
        return None;
    }
    let first = t
        .get("comments")?
        .as_array()?
        .iter()
        .filter(|c| c.get("isDeleted").and_then(Value::as_bool) != Some(true))
        .min_by_key(|c| c.get("id").and_then(Value::as_u64).unwrap_or(u64::MAX))?;
    let author = first.pointer("/author/id").and_then(Value::as_str)?;
    if !author.eq_ignore_ascii_case(me) {
        return None;
    }
    let from_marker = first
        .get("content")
        .and_then(Value::as_str)
        .and_then(Marker::parse);
    let thread_key = property(t, KEY_PROPERTY)
        .map(String::from)
        .or_else(|| from_marker.as_ref().map(|m| m.key.clone()))?;
    if thread_key != key {
        return None;
    }
    let run = property(t, RUN_PROPERTY)
        .and_then(|r| {
            let (n, a) = r.split_once('.')?;
            Some(RunId {
                number: n.parse().ok()?,
                attempt: a.parse().ok()?,
            })
        })
        .or_else(|| from_marker.map(|m| m.run))
        .unwrap_or_default();
    Some(Owned {
        thread: t.get("id")?.as_u64()?,
        first_comment: first.get("id")?.as_u64()?,
        run,
    })
}

fn winner(threads: &[Owned]) -> Option<&Owned> {
    threads
        .iter()
        .max_by_key(|t| (t.run, std::cmp::Reverse(t.thread)))
}

fn encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'~' | b'-') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const ME: &str = "8c5a2f7e-2d6b-4f3c-9a41-3e7d0f1b6c21";

    #[test]
    fn a_thread_someone_else_started_is_never_ours() {
        let t = json!({
            "id": 9,
            "properties": {"aks-backend.key": {"$type": "System.String", "$value": "ci/job/api"},
                           "aks-backend.run": {"$type": "System.String", "$value": "999999.1"}},
            "comments": [{"id": 1, "content": "<!-- aks-backend:v1 key=ci/job/api run=999999.1 -->",
                          "author": {"id": "0f5d7a3c-1111-4e2a-8b7c-9d0e1f2a3b4c"}}]
        });
        assert!(owned(&t, "ci/job/api", ME).is_none());
    }

    #[test]
    fn threads_are_recognised_by_property_or_marker() {
        let t = json!({
            "id": 7,
            "properties": {"aks-backend.key": {"$type": "System.String", "$value": "ci/job/api"},
                           "aks-backend.run": {"$type": "System.String", "$value": "12.1"}},
            "comments": [{"id": 1, "content": "x", "author": {"id": ME}}]
        });
        let o = owned(&t, "ci/job/api", ME).unwrap();
        assert_eq!((o.thread, o.first_comment), (7, 1));
        assert_eq!(
            o.run,
            RunId {
                number: 12,
                attempt: 1
            }
        );
        assert!(owned(&t, "other", ME).is_none());
        let by_marker = json!({
            "id": 8,
            "comments": [{"id": 1, "content": "<!-- aks-backend:v1 key=ci/job/api run=3.2 -->\nhi", "author": {"id": ME}}]
        });
        assert_eq!(
            owned(&by_marker, "ci/job/api", ME).unwrap().run,
            RunId {
                number: 3,
                attempt: 2
            }
        );
    }

    #[test]
    fn project_names_are_path_encoded() {
        assert_eq!(encode("My Project"), "My%20Project");
    }
}
