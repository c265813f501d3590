//! Which CI host runs us, and what it knows about the change being built.
//!
//! GitHub Actions and Azure Pipelines announce themselves through well-known
//! environment variables; anything else is a laptop, where we read `.git` directly
//! (no child process).

use std::path::{Path, PathBuf};

use crate::env::Env;

pub use crate::model::host_kind::HostKind;

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct CiContext {
    pub host: HostKind,
    /// `owner/name` (GitHub) or the repository name (Azure DevOps).
    pub repository: Option<String>,
    pub commit: Option<String>,
    /// The full ref: `refs/heads/main`, `refs/pull/7/merge`, `refs/tags/v1.2.3`.
    pub git_ref: Option<String>,
    pub pr_number: Option<u64>,
    pub run_id: Option<String>,
    pub run_attempt: Option<u32>,
    pub run_number: Option<u64>,
    pub run_url: Option<String>,
    pub workflow: Option<String>,
    pub job: Option<String>,
    /// `https://github.com` or the Azure DevOps collection URI.
    pub server_url: Option<String>,
    pub api_url: Option<String>,
    pub event_name: Option<String>,
    pub actor: Option<String>,
    pub workspace: Option<PathBuf>,
}

impl CiContext {
    pub fn detect(env: &Env) -> Self {
        if env.is_true("GITHUB_ACTIONS") {
            Self::github(env)
        } else if env.get("TF_BUILD").is_some() {
            Self::azure(env)
        } else {
            Self::local(env)
        }
    }

    fn github(env: &Env) -> Self {
        let s = |k: &str| env.get(k).map(String::from);
        let git_ref = s("GITHUB_REF");
        let pr_number = git_ref
            .as_deref()
            .and_then(pr_from_ref)
            .or_else(|| env.get("GITHUB_EVENT_PATH").and_then(pr_from_event_file));
        let server = s("GITHUB_SERVER_URL").unwrap_or_else(|| "https://github.com".into());
        let repo = s("GITHUB_REPOSITORY");
        let run_id = s("GITHUB_RUN_ID");
        let run_attempt = env.get("GITHUB_RUN_ATTEMPT").and_then(|v| v.parse().ok());
        let run_url = match (&repo, &run_id) {
            (Some(r), Some(id)) => Some(match run_attempt {
                Some(a) if a > 1 => format!("{server}/{r}/actions/runs/{id}/attempts/{a}"),
                _ => format!("{server}/{r}/actions/runs/{id}"),
            }),
            _ => None,
        };
        CiContext {
            host: HostKind::GitHubActions,
            repository: repo,
            commit: object_id(s("GITHUB_SHA")),
            git_ref,
            pr_number,
            run_id,
            run_attempt,
            run_number: env.get("GITHUB_RUN_NUMBER").and_then(|v| v.parse().ok()),
            run_url,
            workflow: s("GITHUB_WORKFLOW"),
            job: s("GITHUB_JOB"),
            server_url: Some(server),
            api_url: s("GITHUB_API_URL").or_else(|| Some("https://api.github.com".into())),
            event_name: s("GITHUB_EVENT_NAME"),
            actor: s("GITHUB_ACTOR"),
            workspace: env.get("GITHUB_WORKSPACE").map(PathBuf::from),
        }
    }

    fn azure(env: &Env) -> Self {
        let s = |k: &str| env.get(k).map(String::from);
        let collection = s("SYSTEM_COLLECTIONURI")
            .or_else(|| s("SYSTEM_TEAMFOUNDATIONCOLLECTIONURI"))
            .map(|u| u.trim_end_matches('/').to_string());
        let project = s("SYSTEM_TEAMPROJECT");
        let build_id = s("BUILD_BUILDID");
        let run_url = match (&collection, &project, &build_id) {
            (Some(c), Some(p), Some(id)) => Some(format!(
                "{c}/{}/_build/results?buildId={id}",
                encode_path(p)
            )),
            _ => None,
        };
        // Azure Repos sets PULLREQUESTID; GitHub-hosted repos built by Azure Pipelines
        // set PULLREQUESTNUMBER (the GitHub number) as well.
        let pr_number = env
            .get("SYSTEM_PULLREQUEST_PULLREQUESTNUMBER")
            .or_else(|| env.get("SYSTEM_PULLREQUEST_PULLREQUESTID"))
            .and_then(|v| v.parse().ok());
        CiContext {
            host: HostKind::AzurePipelines,
            repository: s("BUILD_REPOSITORY_NAME"),
            commit: object_id(
                s("SYSTEM_PULLREQUEST_SOURCECOMMITID").or_else(|| s("BUILD_SOURCEVERSION")),
            ),
            git_ref: s("BUILD_SOURCEBRANCH"),
            pr_number,
            run_id: build_id,
            run_attempt: env.get("SYSTEM_JOBATTEMPT").and_then(|v| v.parse().ok()),
            run_number: None,
            run_url,
            workflow: s("BUILD_DEFINITIONNAME"),
            job: s("SYSTEM_JOBNAME").or_else(|| s("SYSTEM_JOBDISPLAYNAME")),
            server_url: collection,
            api_url: None,
            event_name: s("BUILD_REASON"),
            actor: s("BUILD_REQUESTEDFOR"),
            workspace: env.get("BUILD_SOURCESDIRECTORY").map(PathBuf::from),
        }
    }

    fn local(env: &Env) -> Self {
        let git = find_git_dir(env.cwd());
        let (git_ref, commit) = git.as_deref().map(read_head).unwrap_or((None, None));
        CiContext {
            host: HostKind::Local,
            repository: git
                .as_deref()
                .and_then(Path::parent)
                .and_then(|p| p.file_name())
                .map(|n| n.to_string_lossy().into_owned()),
            commit: object_id(commit),
            git_ref,
            pr_number: None,
            run_id: None,
            run_attempt: None,
            run_number: None,
            run_url: None,
            workflow: None,
            job: None,
            server_url: None,
            api_url: None,
            event_name: None,
            actor: env.get("USER").map(String::from),
            workspace: git.as_deref().and_then(Path::parent).map(Path::to_path_buf),
        }
    }

    /// The branch or tag name without `refs/heads/` / `refs/tags/`.
    pub fn ref_name(&self) -> Option<&str> {
        let r = self.git_ref.as_deref()?;
        Some(
            r.strip_prefix("refs/heads/")
                .or_else(|| r.strip_prefix("refs/tags/"))
                .unwrap_or(r),
        )
    }

    pub fn short_sha(&self) -> Option<&str> {
        self.commit
            .as_deref()
            .map(|c| c.char_indices().nth(7).map_or(c, |(i, _)| &c[..i]))
    }
}

/// A commit id only when it is one (hex, at most 64 digits): the value comes from the
/// environment or a file and ends up in tags, labels and annotations.
fn object_id(c: Option<String>) -> Option<String> {
    c.filter(|c| c.len() <= 64 && c.chars().all(|ch| ch.is_ascii_hexdigit()))
}

fn pr_from_ref(r: &str) -> Option<u64> {
    r.strip_prefix("refs/pull/")?
        .split('/')
        .next()?
        .parse()
        .ok()
}

fn pr_from_event_file(path: &str) -> Option<u64> {
    let text = small_file(Path::new(path), "event payload")?;
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    v.pointer("/pull_request/number")
        .or_else(|| v.pointer("/number"))
        .and_then(|n| n.as_u64())
}

/// A file git or the runner wrote (the workspace's `.git` may hold links): bounded,
/// regular files only; anything else counts as absent.
fn small_file(path: &Path, what: &'static str) -> Option<String> {
    crate::fsx::read_to_string(path, what, crate::fsx::Follow::No, crate::fsx::LARGE).ok()
}

fn encode_path(s: &str) -> String {
    s.replace(' ', "%20")
}

fn find_git_dir(start: &Path) -> Option<PathBuf> {
    start
        .ancestors()
        .map(|d| d.join(".git"))
        .find(|g| g.join("HEAD").is_file())
}

/// `(ref, commit)` from `.git/HEAD`, following one symbolic ref and packed-refs.
fn read_head(git: &Path) -> (Option<String>, Option<String>) {
    let Some(head) = small_file(&git.join("HEAD"), "git HEAD") else {
        return (None, None);
    };
    let head = head.trim();
    let Some(r) = head.strip_prefix("ref: ") else {
        return (None, Some(head.to_string()));
    };
    let loose = small_file(&git.join(r), "git ref").map(|s| s.trim().to_string());
    let packed = || {
        let text = small_file(&git.join("packed-refs"), "git packed-refs")?;
        text.lines().find_map(|l| {
            let (sha, name) = l.split_once(' ')?;
            (name == r).then(|| sha.to_string())
        })
    };
    (Some(r.to_string()), loose.or_else(packed))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn github_pull_request() {
        let env = Env::from_pairs(
            [
                ("GITHUB_ACTIONS", "true"),
                ("GITHUB_REPOSITORY", "octo/api"),
                ("GITHUB_SHA", "0123456789abcdef"),
                ("GITHUB_REF", "refs/pull/42/merge"),
                ("GITHUB_RUN_ID", "99"),
                ("GITHUB_RUN_ATTEMPT", "2"),
                ("GITHUB_SERVER_URL", "https://github.com"),
            ],
            "/w",
        );
        let ci = CiContext::detect(&env);
        assert_eq!(ci.host, HostKind::GitHubActions);
        assert_eq!(ci.pr_number, Some(42));
        assert_eq!(
            ci.run_url.as_deref(),
            Some("https://github.com/octo/api/actions/runs/99/attempts/2")
        );
        assert_eq!(ci.short_sha(), Some("0123456"));
    }

    #[test]
    fn azure_pipelines_pull_request() {
        let env = Env::from_pairs(
            [
                ("TF_BUILD", "True"),
                ("SYSTEM_COLLECTIONURI", "https://dev.azure.com/org/"),
                ("SYSTEM_TEAMPROJECT", "My Project"),
                ("BUILD_BUILDID", "7"),
                ("BUILD_SOURCEBRANCH", "refs/pull/5/merge"),
                ("SYSTEM_PULLREQUEST_PULLREQUESTID", "5"),
                ("BUILD_SOURCEVERSION", "abc"),
            ],
            "/w",
        );
        let ci = CiContext::detect(&env);
        assert_eq!(ci.host, HostKind::AzurePipelines);
        assert_eq!(ci.pr_number, Some(5));
        assert_eq!(
            ci.run_url.as_deref(),
            Some("https://dev.azure.com/org/My%20Project/_build/results?buildId=7")
        );
    }

    /// Issue 13 item 5: a non-ASCII GITHUB_SHA panicked in byte slicing.
    #[test]
    fn a_non_hex_commit_is_no_commit() {
        for sha in ["ééééééééé", "0123456é", "abc\ndef", &"a".repeat(65)] {
            let env = Env::from_pairs([("GITHUB_ACTIONS", "true"), ("GITHUB_SHA", sha)], "/w");
            let ci = CiContext::detect(&env);
            assert_eq!(ci.commit, None, "{sha:?}");
            assert_eq!(ci.short_sha(), None);
        }
        let ci = CiContext {
            commit: Some("ééééééééé".into()),
            ..CiContext::detect(&Env::from_pairs([("GITHUB_ACTIONS", "true")], "/w"))
        };
        assert_eq!(ci.short_sha(), Some("ééééééé"));
    }

    #[test]
    fn local_reads_git_head() {
        let dir = tempfile::tempdir().unwrap();
        let git = dir.path().join(".git");
        std::fs::create_dir_all(git.join("refs/heads")).unwrap();
        std::fs::write(git.join("HEAD"), "ref: refs/heads/main\n").unwrap();
        std::fs::write(git.join("refs/heads/main"), "deadbeef\n").unwrap();
        let ci = CiContext::detect(&Env::from_pairs::<&str, &str>([], dir.path()));
        assert_eq!(ci.host, HostKind::Local);
        assert_eq!(ci.commit.as_deref(), Some("deadbeef"));
        assert_eq!(ci.ref_name(), Some("main"));
    }
}
