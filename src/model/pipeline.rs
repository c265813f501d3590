//! The summary of one pipeline run: what each step did, for the pull-request comment,
//! the job summary and the state file between separate steps.
//!
//! It is plain data (Serialize + Deserialize) so `run` can keep it in a state file, and
//! it carries its own identity: the comment key (`workflow/job/app`) and the run
//! (number, attempt), written into a hidden marker placed first in the comment so a
//! later run finds the comment and an older run never overwrites a newer one.

use serde::{Deserialize, Serialize};

use super::findings::Severity;

/// Which comment a summary belongs to: one per (workflow, job, app).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SummaryKey {
    pub workflow: String,
    pub job: String,
    pub app: String,
}

impl SummaryKey {
    /// `workflow/job/app`, each part percent-encoded so the key is one token and
    /// cannot close the HTML comment it lives in.
    pub fn encoded(&self) -> String {
        [&self.workflow, &self.job, &self.app]
            .iter()
            .map(|p| encode_part(p))
            .collect::<Vec<_>>()
            .join("/")
    }
}

fn encode_part(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'~' | b'-') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    if out.is_empty() { "-".into() } else { out }
}

/// A CI run: GitHub's run number and attempt, or Azure Pipelines' build id and job
/// attempt. Ordered: a later run compares greater.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub struct RunId {
    pub number: u64,
    pub attempt: u32,
}

impl std::fmt::Display for RunId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.number, self.attempt)
    }
}

/// The hidden first line of every comment we own.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Marker {
    /// [`SummaryKey::encoded`].
    pub key: String,
    pub run: RunId,
}

const MARKER_PREFIX: &str = "<!-- aks-backend:v1 ";

impl Marker {
    pub fn new(key: &SummaryKey, run: RunId) -> Self {
        Marker {
            key: key.encoded(),
            run,
        }
    }

    /// `<!-- aks-backend:v1 key=ci/deploy/api run=42.1 -->`
    pub fn render(&self) -> String {
        format!("{MARKER_PREFIX}key={} run={} -->", self.key, self.run)
    }

    /// The marker on the first line of `body`, if it is one of ours.
    pub fn parse(body: &str) -> Option<Marker> {
        let first = body.lines().next()?.trim();
        let rest = first.strip_prefix(MARKER_PREFIX)?.strip_suffix("-->")?;
        let mut key = None;
        let mut run = None;
        for part in rest.split_whitespace() {
            if let Some(k) = part.strip_prefix("key=") {
                key = Some(k.to_string());
            } else if let Some(r) = part.strip_prefix("run=") {
                let (n, a) = r.split_once('.')?;
                run = Some(RunId {
                    number: n.parse().ok()?,
                    attempt: a.parse().ok()?,
                });
            }
        }
        Some(Marker {
            key: key?,
            run: run?,
        })
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum StepStatus {
    #[default]
    Pending,
    Running,
    Ok,
    Failed,
    Skipped,
}

/// How a fact is shown.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "style")]
pub enum FactStyle {
    /// Plain text (escaped).
    Text,
    /// Inline code: digests, image references.
    Code,
    /// A link with `value` as its label.
    Link { url: String },
    /// Bold text: verdicts.
    Strong,
}

/// One key fact of a step: `digest sha256:…`, `gate failed`, `URL https://…`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fact {
    pub label: String,
    pub value: String,
    #[serde(flatten)]
    pub style: FactStyle,
}

impl Fact {
    pub fn text(label: impl Into<String>, value: impl Into<String>) -> Self {
        Fact {
            label: label.into(),
            value: value.into(),
            style: FactStyle::Text,
        }
    }
    pub fn code(label: impl Into<String>, value: impl Into<String>) -> Self {
        Fact {
            label: label.into(),
            value: value.into(),
            style: FactStyle::Code,
        }
    }
    pub fn strong(label: impl Into<String>, value: impl Into<String>) -> Self {
        Fact {
            label: label.into(),
            value: value.into(),
            style: FactStyle::Strong,
        }
    }
    pub fn link(
        label: impl Into<String>,
        value: impl Into<String>,
        url: impl Into<String>,
    ) -> Self {
        Fact {
            label: label.into(),
            value: value.into(),
            style: FactStyle::Link { url: url.into() },
        }
    }
}

/// Why a step failed: one line, plus the evidence (Kubernetes events, log lines).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Failure {
    pub reason: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub events: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub logs: Vec<String>,
}

/// One finding row for the comment (already decided by the gate).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FindingRow {
    pub severity: String,
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    pub package: String,
    pub installed: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fixed: Option<String>,
    pub title: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepSummary {
    /// `refer`, `build`, `scan`, `deploy`.
    pub name: String,
    pub status: StepStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub facts: Vec<Fact>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<Failure>,
    /// The most severe of the findings that count for the gate, most severe first: at
    /// most [`KEPT_FINDINGS`] (the state file and the comment need no more; every
    /// finding is in the SARIF).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub findings: Vec<FindingRow>,
    /// How many findings count for the gate, kept or not.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub findings_counted: usize,
}

/// How many counted findings a step's summary keeps: more than a pull-request comment
/// can show (GitHub's 65,536 characters hold about 400 rows).
pub const KEPT_FINDINGS: usize = 500;

fn is_zero(n: &usize) -> bool {
    *n == 0
}

impl StepSummary {
    pub fn new(name: impl Into<String>, status: StepStatus) -> Self {
        StepSummary {
            name: name.into(),
            status,
            duration_ms: None,
            facts: Vec::new(),
            failure: None,
            findings: Vec::new(),
            findings_counted: 0,
        }
    }

    /// Keeps the [`KEPT_FINDINGS`] most severe of `rows` (most severe first, the order
    /// among equals kept) out of `counted` findings that count (at least `rows.len()`).
    pub fn keep_findings(&mut self, mut rows: Vec<FindingRow>, counted: usize) {
        rows.sort_by_key(|r| std::cmp::Reverse(Severity::from_report(&r.severity)));
        self.findings_counted = counted.max(rows.len());
        rows.truncate(KEPT_FINDINGS);
        self.findings = rows;
    }

    /// How many findings count for the gate (a summary from an older release kept them all).
    pub fn counted(&self) -> usize {
        self.findings_counted.max(self.findings.len())
    }
}

/// Where to read more.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Links {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub security: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    pub key: SummaryKey,
    pub run: RunId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
    pub steps: Vec<StepSummary>,
    #[serde(default)]
    pub links: Links,
    /// `--compose`: one row per service, filled in by each step (image and digest by
    /// build, findings by scan, rollout by deploy).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub services: Vec<ServiceRow>,
}

/// What the steps did for one Compose service (a field a step did not fill stays `None`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceRow {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub findings: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollout: Option<String>,
}

/// The overall state of a summary.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Overall {
    Failed,
    InProgress,
    Ok,
}

impl Summary {
    /// Merges a step's part of a service's row (what it left `None` is kept).
    pub fn merge_service(&mut self, part: &ServiceRow) {
        if !self.services.iter().any(|r| r.name == part.name) {
            self.services.push(ServiceRow {
                name: part.name.clone(),
                ..Default::default()
            });
        }
        let Some(row) = self.services.iter_mut().find(|r| r.name == part.name) else {
            return;
        };
        for (mine, theirs) in [
            (&mut row.image, &part.image),
            (&mut row.digest, &part.digest),
            (&mut row.findings, &part.findings),
            (&mut row.rollout, &part.rollout),
        ] {
            if theirs.is_some() {
                mine.clone_from(theirs);
            }
        }
    }

    pub fn marker(&self) -> Marker {
        Marker::new(&self.key, self.run)
    }

    pub fn overall(&self) -> Overall {
        if self.steps.iter().any(|s| s.status == StepStatus::Failed) {
            Overall::Failed
        } else if self
            .steps
            .iter()
            .any(|s| matches!(s.status, StepStatus::Pending | StepStatus::Running))
        {
            Overall::InProgress
        } else {
            Overall::Ok
        }
    }

    /// Replaces the step with the same name, or appends it.
    pub fn set_step(&mut self, step: StepSummary) {
        match self.steps.iter_mut().find(|s| s.name == step.name) {
            Some(s) => *s = step,
            None => self.steps.push(step),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(severity: &str, id: usize) -> FindingRow {
        FindingRow {
            severity: severity.into(),
            id: format!("CVE-{id}"),
            url: None,
            package: "p".into(),
            installed: "1".into(),
            fixed: None,
            title: String::new(),
        }
    }

    #[test]
    fn a_step_keeps_the_most_severe_findings_and_counts_them_all() {
        let mut rows: Vec<FindingRow> = (0..KEPT_FINDINGS + 100).map(|i| row("LOW", i)).collect();
        rows.push(row("CRITICAL", 9999));
        let mut s = StepSummary::new("scan", StepStatus::Ok);
        s.keep_findings(rows, 0);
        assert_eq!(s.findings.len(), KEPT_FINDINGS);
        assert_eq!(s.counted(), KEPT_FINDINGS + 101);
        assert_eq!(s.findings[0].id, "CVE-9999", "most severe first");
        assert_eq!(s.findings[1].id, "CVE-0", "equals keep their order");
        // An older summary (no count) counts what it holds.
        let old: StepSummary =
            serde_json::from_str(r#"{"name":"scan","status":"ok","findings":[]}"#).unwrap();
        assert_eq!(old.counted(), 0);
    }

    #[test]
    fn marker_round_trips_and_cannot_be_broken_by_names() {
        let key = SummaryKey {
            workflow: "CI --> deploy".into(),
            job: "build/scan".into(),
            app: "api".into(),
        };
        let m = Marker::new(
            &key,
            RunId {
                number: 42,
                attempt: 2,
            },
        );
        let line = m.render();
        assert_eq!(
            line,
            "<!-- aks-backend:v1 key=CI%20--%3E%20deploy/build%2Fscan/api run=42.2 -->"
        );
        assert_eq!(Marker::parse(&format!("{line}\nbody")), Some(m));
        assert_eq!(
            Marker::parse("hello\n<!-- aks-backend:v1 key=a run=1.1 -->"),
            None
        );
    }

    #[test]
    fn runs_order_by_number_then_attempt() {
        let a = RunId {
            number: 5,
            attempt: 3,
        };
        let b = RunId {
            number: 6,
            attempt: 1,
        };
        assert!(a < b);
        assert!(
            RunId {
                number: 6,
                attempt: 2
            } > b
        );
    }

    #[test]
    fn report_round_trips_through_json() {
        let mut r = Summary::default();
        let mut s = StepSummary::new("deploy", StepStatus::Failed);
        s.facts.push(Fact::link(
            "URL",
            "api.example.com",
            "https://api.example.com",
        ));
        s.failure = Some(Failure {
            reason: "CrashLoopBackOff".into(),
            events: vec!["e".into()],
            logs: vec!["l".into()],
        });
        r.set_step(s);
        let json = serde_json::to_string(&r).unwrap();
        let back: Summary = serde_json::from_str(&json).unwrap();
        assert_eq!(back, r);
        assert_eq!(r.overall(), Overall::Failed);
    }
}
