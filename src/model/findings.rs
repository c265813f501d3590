//! Findings, kept lean: rule text (title, description, links) is stored once per ID,
//! and each finding holds indexes plus the few strings that differ per package. A
//! 48,000-finding report therefore costs a few MB, not hundreds.

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Severity {
    Unknown,
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    /// Most severe first.
    pub const DESCENDING: [Severity; 5] = [
        Severity::Critical,
        Severity::High,
        Severity::Medium,
        Severity::Low,
        Severity::Unknown,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Unknown => "UNKNOWN",
            Severity::Low => "LOW",
            Severity::Medium => "MEDIUM",
            Severity::High => "HIGH",
            Severity::Critical => "CRITICAL",
        }
    }

    /// Lenient: what Trivy writes; anything else is `Unknown`.
    pub fn from_report(s: &str) -> Severity {
        s.parse().unwrap_or(Severity::Unknown)
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Severity {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        Ok(match s.trim().to_ascii_uppercase().as_str() {
            "UNKNOWN" => Severity::Unknown,
            "LOW" => Severity::Low,
            "MEDIUM" => Severity::Medium,
            "HIGH" => Severity::High,
            "CRITICAL" => Severity::Critical,
            _ => return Err(()),
        })
    }
}

/// Counts per severity.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct SeverityCounts {
    pub critical: usize,
    pub high: usize,
    pub medium: usize,
    pub low: usize,
    pub unknown: usize,
}

impl SeverityCounts {
    pub fn add(&mut self, s: Severity) {
        *self.get_mut(s) += 1;
    }

    pub fn get(&self, s: Severity) -> usize {
        match s {
            Severity::Critical => self.critical,
            Severity::High => self.high,
            Severity::Medium => self.medium,
            Severity::Low => self.low,
            Severity::Unknown => self.unknown,
        }
    }

    fn get_mut(&mut self, s: Severity) -> &mut usize {
        match s {
            Severity::Critical => &mut self.critical,
            Severity::High => &mut self.high,
            Severity::Medium => &mut self.medium,
            Severity::Low => &mut self.low,
            Severity::Unknown => &mut self.unknown,
        }
    }

    pub fn total(&self) -> usize {
        self.critical + self.high + self.medium + self.low + self.unknown
    }

    /// `2 CRITICAL, 1 HIGH` (only non-zero counts), or `none`.
    pub fn describe(&self) -> String {
        let parts: Vec<String> = Severity::DESCENDING
            .iter()
            .filter(|s| self.get(**s) > 0)
            .map(|s| format!("{} {s}", self.get(*s)))
            .collect();
        if parts.is_empty() {
            "none".into()
        } else {
            parts.join(", ")
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FindingKind {
    Vulnerability,
    Secret,
    Misconfiguration,
}

/// What is known about one finding ID (CVE, secret rule, misconfiguration check).
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Rule {
    pub id: String,
    pub kind: FindingKind,
    pub title: String,
    pub description: String,
    pub primary_url: Option<String>,
    pub severity: Severity,
    /// CVSS v3 base score from the severity source, else NVD, else any vendor.
    pub cvss_v3: Option<f64>,
    pub cwe_ids: Vec<String>,
    /// Misconfiguration fix advice.
    pub resolution: Option<String>,
}

/// One scanned target (`debian 12.5` OS packages, a lockfile, a file with a secret).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Target {
    pub name: String,
    /// `os-pkgs`, `lang-pkgs`, `secret`, `config`.
    pub class: String,
    /// `debian`, `npm`, `dockerfile`, ...
    pub kind: String,
}

#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Finding {
    pub rule: u32,
    pub target: u32,
    pub severity: Severity,
    /// Package name (vulnerabilities) — empty for secrets and misconfigurations.
    pub package: Box<str>,
    pub installed: Box<str>,
    pub fixed: Option<Box<str>>,
    /// Trivy's status: `fixed`, `affected`, `will_not_fix`, ...
    pub status: Option<Box<str>>,
    /// Where the package was found (language packages).
    pub pkg_path: Option<Box<str>>,
    pub start_line: Option<u32>,
    pub end_line: Option<u32>,
    /// Misconfiguration message, secret category.
    pub message: Option<Box<str>>,
}

impl Finding {
    /// No fix is available (what `--ignore-unfixed` drops).
    pub fn is_unfixed(&self, kind: FindingKind) -> bool {
        kind == FindingKind::Vulnerability && self.fixed.as_deref().is_none_or(str::is_empty)
    }
}

/// Everything one Trivy report said, in our model.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
pub struct ScanFindings {
    pub artifact_name: String,
    pub artifact_type: String,
    /// `Metadata.RepoDigests`: the image Trivy scanned as `REPOSITORY@sha256:…`, one per
    /// registry it is known in (empty for an archive, a root filesystem, or an image the
    /// engine never pushed or pulled).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub repo_digests: Vec<String>,
    pub targets: Vec<Target>,
    pub rules: Vec<Rule>,
    pub findings: Vec<Finding>,
    #[serde(skip)]
    rule_index: HashMap<String, u32>,
}

impl ScanFindings {
    /// The scanned image pinned by digest in `repository` (canonical, as
    /// [`crate::model::image_ref::ImageRef::canonical_repository`] gives it), if Trivy
    /// named its digest there.
    pub fn digest_in(&self, repository: &str) -> Option<crate::model::image_ref::ImageRef> {
        self.repo_digests.iter().find_map(|d| {
            let r = crate::model::image_ref::ImageRef::parse(d).ok()?;
            (r.digest.is_some() && r.canonical_repository() == repository).then_some(r)
        })
    }

    // why: `f.rule` is an index this report's builder handed out into `rules`.
    #[allow(clippy::indexing_slicing)]
    pub fn rule(&self, f: &Finding) -> &Rule {
        &self.rules[f.rule as usize]
    }

    // why: `f.target` is an index this report's builder handed out into `targets`.
    #[allow(clippy::indexing_slicing)]
    pub fn target(&self, f: &Finding) -> &Target {
        &self.targets[f.target as usize]
    }

    pub fn add_target(&mut self, t: Target) -> u32 {
        self.targets.push(t);
        (self.targets.len() - 1) as u32
    }

    /// The index of the rule `id`, created by `make` the first time it is seen.
    pub fn rule_for(&mut self, id: &str, make: impl FnOnce() -> Rule) -> u32 {
        if let Some(i) = self.rule_index.get(id) {
            return *i;
        }
        let i = self.rules.len() as u32;
        self.rules.push(make());
        self.rule_index.insert(id.to_string(), i);
        i
    }

    pub fn counts(&self) -> SeverityCounts {
        let mut c = SeverityCounts::default();
        for f in &self.findings {
            c.add(f.severity);
        }
        c
    }

    /// Findings ordered most severe first (stable within a severity).
    pub fn by_severity(&self) -> Vec<&Finding> {
        let mut v: Vec<&Finding> = self.findings.iter().collect();
        v.sort_by_key(|f| std::cmp::Reverse(f.severity));
        v
    }
}
