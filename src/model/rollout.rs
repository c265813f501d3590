//! What a deploy did, as data: per workload the verdict, the one-line reason, the
//! Warning events, the failing container's own log lines and the rollback. The deploy
//! step returns it and the PR comment writer renders it; nothing here does I/O.

use serde::Serialize;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    Healthy,
    Failed,
    TimedOut,
    /// Not tracked to the end because another workload failed first.
    Cancelled,
    /// Not tracked at all: nothing rolls out by itself (an OnDelete update strategy).
    NotTracked,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Healthy => "healthy",
            Verdict::Failed => "failed",
            Verdict::TimedOut => "timed-out",
            Verdict::Cancelled => "cancelled",
            Verdict::NotTracked => "not-tracked",
        }
    }

    /// Failed, timed out or cancelled: the deploy failed because of it.
    pub fn is_failure(self) -> bool {
        matches!(
            self,
            Verdict::Failed | Verdict::TimedOut | Verdict::Cancelled
        )
    }
}

/// One Warning event, aggregated as the API server stores it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct EventLine {
    /// `Pod/api-7c9d-x2x`.
    pub object: String,
    pub reason: String,
    pub message: String,
    pub count: i32,
}

/// The tail of one container's log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LogExcerpt {
    pub pod: String,
    pub container: String,
    /// The previous (crashed) instance of the container.
    pub previous: bool,
    pub lines: Vec<String>,
    /// Why there are no lines: the log could not be fetched (the kubelet did not answer
    /// in time, or the API server could not reach it), in words.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unavailable: Option<String>,
}

/// What runs in one new pod's container, for the digest check.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RunningImage {
    pub pod: String,
    pub container: String,
    pub image: String,
    pub image_id: String,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RollbackReport {
    /// The revision restored (the one before the failed rollout).
    pub to_revision: Option<i64>,
    pub verdict: Verdict,
    pub reason: Option<String>,
    pub seconds: f64,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct WorkloadReport {
    pub kind: String,
    pub name: String,
    pub namespace: String,
    pub verdict: Verdict,
    /// One line: why it failed (`None` when healthy).
    pub reason: Option<String>,
    /// The revision this rollout created.
    pub revision: Option<i64>,
    pub events: Vec<EventLine>,
    pub logs: Vec<LogExcerpt>,
    pub images: Vec<RunningImage>,
    pub seconds: f64,
    pub rollback: Option<RollbackReport>,
}

/// How one object fared in the server-side dry run and the apply.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ObjectChange {
    pub kind: String,
    pub name: String,
    pub namespace: Option<String>,
    /// `created`, `configured` or `unchanged`.
    pub action: String,
    /// `path: old -> new` lines from the server-side dry run against the live object.
    pub diff: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DeployReport {
    pub namespace: String,
    pub namespace_created: bool,
    pub objects: Vec<ObjectChange>,
    pub workloads: Vec<WorkloadReport>,
    /// `https://HOST` once the certificate is Ready.
    pub url: Option<String>,
    pub certificate_ready: Option<bool>,
    /// What changed on the Azure side (DNS record, NSG rule), one line each.
    #[serde(default)]
    pub azure: Vec<String>,
    pub verdict: Verdict,
    pub seconds: f64,
}

impl DeployReport {
    /// The one-line reason of every workload that failed (not the untracked ones).
    pub fn reasons(&self) -> Vec<String> {
        self.workloads
            .iter()
            .filter(|w| w.verdict.is_failure())
            .map(|w| {
                format!(
                    "{}/{}: {}",
                    w.kind,
                    w.name,
                    w.reason.as_deref().unwrap_or(w.verdict.as_str())
                )
            })
            .collect()
    }
}
