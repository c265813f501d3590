//! The scan's Markdown summary: verdict, counts by severity, the most severe findings
//! with their fixed versions, the rest folded in `<details>`. Used for the job summary,
//! the console, and (later) the pull-request comment.

use std::fmt::Write;

use crate::model::gate::{Disposition, GatePolicy, GateResult, Verdict};
use crate::model::{Finding, FindingKind, ScanReport, Severity};
use crate::render::markdown::{code, link, text};

/// At most this many findings are listed in the folded part (job summaries are
/// limited to 1 MiB; PR comments to 65,536 characters).
pub const MAX_LISTED: usize = 300;

pub struct SummaryContext<'a> {
    pub artifact: &'a str,
    pub sarif_path: &'a str,
    pub top: usize,
    pub sarif_omitted: usize,
}

fn icon(v: Verdict) -> &'static str {
    match v {
        Verdict::Pass => "✅",
        Verdict::Fail => "❌",
        Verdict::ReportOnly => "⚠️",
    }
}

pub fn verdict_line(gate: &GateResult, policy: &GatePolicy) -> String {
    let sev: Vec<&str> = Severity::DESCENDING
        .iter()
        .filter(|s| policy.severities.contains(s))
        .map(|s| s.as_str())
        .collect();
    let n = gate.counted.total();
    let findings = if n == 1 { "finding" } else { "findings" };
    match gate.verdict {
        Verdict::Pass => format!(
            "gate passed: no finding counts (severities {}{})",
            sev.join(","),
            if policy.ignore_unfixed {
                ", fixed only"
            } else {
                ""
            }
        ),
        Verdict::Fail => format!(
            "gate failed: {n} {findings} count ({})",
            gate.counted.describe()
        ),
        Verdict::ReportOnly => format!(
            "report only: {n} {findings} would fail the gate ({}), fail-on-findings is false",
            gate.counted.describe()
        ),
    }
}

pub fn render(
    report: &ScanReport,
    policy: &GatePolicy,
    gate: &GateResult,
    ctx: &SummaryContext<'_>,
) -> String {
    let mut md = String::new();
    let _ = writeln!(
        md,
        "### {} Scan of {}",
        icon(gate.verdict),
        code(ctx.artifact)
    );
    let _ = writeln!(md);
    let _ = writeln!(md, "**{}**", text(&verdict_line(gate, policy)));
    let _ = writeln!(md);
    let _ = writeln!(md, "| Severity | Found | Counts for the gate |");
    let _ = writeln!(md, "| --- | ---: | ---: |");
    for s in Severity::DESCENDING {
        let counts = if policy.severities.contains(&s) {
            gate.counted.get(s).to_string()
        } else {
            "—".to_string()
        };
        let _ = writeln!(md, "| {s} | {} | {counts} |", gate.total.get(s));
    }
    let _ = writeln!(
        md,
        "| **Total** | **{}** | **{}** |",
        gate.total.total(),
        gate.counted.total()
    );
    let _ = writeln!(md);
    let mut notes = Vec::new();
    if gate.ignored > 0 {
        notes.push(format!("{} ignored by the ignore file", gate.ignored));
    }
    if gate.unfixed_skipped > 0 {
        notes.push(format!(
            "{} without a fix not counted",
            gate.unfixed_skipped
        ));
    }
    if !gate.expired_ignores.is_empty() {
        notes.push(format!(
            "expired ignore entries (counted again): {}",
            gate.expired_ignores
                .iter()
                .map(|i| code(i))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    if ctx.sarif_omitted > 0 {
        notes.push(format!(
            "SARIF holds the {} most severe findings; {} left out to fit GitHub's limits",
            report.findings.len() - ctx.sarif_omitted,
            ctx.sarif_omitted
        ));
    }
    if !notes.is_empty() {
        let _ = writeln!(md, "{}.", notes.join("; "));
        let _ = writeln!(md);
    }
    if report.findings.is_empty() {
        let _ = writeln!(
            md,
            "No vulnerabilities, secrets or misconfigurations found."
        );
        return md;
    }

    let sorted = report.by_severity();
    let (top, rest) = sorted.split_at(ctx.top.min(sorted.len()));
    table(&mut md, report, policy, top);
    if !rest.is_empty() {
        let _ = writeln!(md);
        let _ = writeln!(
            md,
            "<details><summary>{} more finding(s)</summary>",
            rest.len()
        );
        let _ = writeln!(md);
        let listed = &rest[..rest.len().min(MAX_LISTED)];
        table(&mut md, report, policy, listed);
        if rest.len() > listed.len() {
            let _ = writeln!(md);
            let _ = writeln!(
                md,
                "… and {} more; every finding is in {}.",
                rest.len() - listed.len(),
                code(ctx.sarif_path)
            );
        }
        let _ = writeln!(md);
        let _ = writeln!(md, "</details>");
    }
    md
}

fn table(md: &mut String, report: &ScanReport, policy: &GatePolicy, findings: &[&Finding]) {
    let _ = writeln!(
        md,
        "| Severity | ID | Package / file | Installed | Fixed in | Title |"
    );
    let _ = writeln!(md, "| --- | --- | --- | --- | --- | --- |");
    for f in findings {
        let rule = report.rule(f);
        let id = match &rule.primary_url {
            Some(u) => link(&rule.id, u),
            None => text(&rule.id),
        };
        let what = match rule.kind {
            FindingKind::Vulnerability => text(&f.package),
            _ => {
                let t = &report.target(f).name;
                match f.start_line {
                    Some(l) => format!("{}:{l}", text(t)),
                    None => text(t),
                }
            }
        };
        let mut sev = f.severity.to_string();
        match policy.disposition(report, f) {
            Disposition::Ignored { .. } => sev.push_str(" (ignored)"),
            Disposition::Unfixed => sev.push_str(" (unfixed)"),
            _ => {}
        }
        let _ = writeln!(
            md,
            "| {sev} | {id} | {what} | {} | {} | {} |",
            text(&f.installed),
            f.fixed.as_deref().map(text).unwrap_or_else(|| "—".into()),
            text(&rule.title),
        );
    }
}
