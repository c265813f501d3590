//! The gate: which findings count, and whether the pipeline goes on. Separate from
//! what the SARIF file contains (that always holds every finding).

use std::collections::BTreeSet;

use jiff::civil::Date;

use super::findings::{Finding, ScanFindings, Severity, SeverityCounts};
use super::ignore::{IgnoreList, IgnoreMatch};

#[derive(Clone, Debug)]
pub struct GatePolicy {
    pub severities: BTreeSet<Severity>,
    pub ignore_unfixed: bool,
    pub fail_on_findings: bool,
    pub ignores: IgnoreList,
    pub today: Date,
}

/// What the gate decided about one finding.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Disposition {
    Counts,
    /// Listed in the ignore file (until the date, if any).
    Ignored {
        until: Option<Date>,
    },
    /// Its severity is not among those that count.
    SeverityNotCounted,
    /// No fix available and `ignore-unfixed` is on.
    Unfixed,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    Pass,
    Fail,
    /// Findings counted but `fail-on-findings` is false.
    ReportOnly,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::Fail => "fail",
            Verdict::ReportOnly => "report-only",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct GateResult {
    pub verdict: Verdict,
    /// Every finding, by severity.
    pub total: SeverityCounts,
    /// The findings that count, by severity.
    pub counted: SeverityCounts,
    pub ignored: usize,
    pub unfixed_skipped: usize,
    /// Ignore entries that matched but had expired.
    pub expired_ignores: Vec<String>,
}

impl GatePolicy {
    pub fn disposition(&self, report: &ScanFindings, f: &Finding) -> Disposition {
        let rule = report.rule(f);
        if let Some(IgnoreMatch::Ignored { until }) = self.ignores.check(&rule.id, self.today) {
            return Disposition::Ignored { until };
        }
        if !self.severities.contains(&f.severity) {
            return Disposition::SeverityNotCounted;
        }
        if self.ignore_unfixed && f.is_unfixed(rule.kind) {
            return Disposition::Unfixed;
        }
        Disposition::Counts
    }

    pub fn evaluate(&self, report: &ScanFindings) -> GateResult {
        let mut total = SeverityCounts::default();
        let mut counted = SeverityCounts::default();
        let mut ignored = 0;
        let mut unfixed_skipped = 0;
        let mut expired = BTreeSet::new();
        for f in &report.findings {
            total.add(f.severity);
            let id = &report.rule(f).id;
            if let Some(IgnoreMatch::Expired(_)) = self.ignores.check(id, self.today) {
                expired.insert(id.clone());
            }
            match self.disposition(report, f) {
                Disposition::Counts => counted.add(f.severity),
                Disposition::Ignored { .. } => ignored += 1,
                Disposition::Unfixed => unfixed_skipped += 1,
                Disposition::SeverityNotCounted => {}
            }
        }
        let verdict = match (counted.total(), self.fail_on_findings) {
            (0, _) => Verdict::Pass,
            (_, true) => Verdict::Fail,
            (_, false) => Verdict::ReportOnly,
        };
        GateResult {
            verdict,
            total,
            counted,
            ignored,
            unfixed_skipped,
            expired_ignores: expired.into_iter().collect(),
        }
    }
}
