//! The scan's Markdown summary: verdict, counts by severity, the most severe findings
//! with their fixed versions, the rest folded in `<details>`. Used for the job summary,
//! the console, and (later) the pull-request comment.
//!
//! Length-safe: outside text in a cell is shortened, and the listed findings are cut
//! (least severe first) until the summary fits its share of GitHub's 1 MiB job summary;
//! a line says how many were left out and where they all are.

use std::fmt::Write;

use crate::model::gate::{Disposition, GatePolicy, GateResult, Verdict};
use crate::model::{Finding, FindingKind, ScanFindings, Severity};
use crate::render::markdown::{
    GITHUB_SUMMARY_MAX_BYTES, code, largest_fitting, link, shorten, text,
};

/// At most this many findings are listed in the folded part (job summaries are
/// limited to 1 MiB; PR comments to 65,536 characters).
pub const MAX_LISTED: usize = 300;

/// The scan summary's share of the job summary: `run` writes several summaries in
/// one step, and GitHub's 1 MiB limit is for all of them.
pub const MAX_BYTES: usize = GITHUB_SUMMARY_MAX_BYTES / 2;

/// Outside text in one table cell is cut to this many characters.
const MAX_CELL: usize = 300;
/// A longer PrimaryURL is not linked (no advisory needs one).
const MAX_URL: usize = 2_000;

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
    report: &ScanFindings,
    policy: &GatePolicy,
    gate: &GateResult,
    ctx: &SummaryContext<'_>,
) -> String {
    render_within(report, policy, gate, ctx, MAX_BYTES)
}

/// [`render`] within `max_bytes`: the number of findings shown is the largest that
/// fits.
pub fn render_within(
    report: &ScanFindings,
    policy: &GatePolicy,
    gate: &GateResult,
    ctx: &SummaryContext<'_>,
    max_bytes: usize,
) -> String {
    let full = report
        .findings
        .len()
        .min(ctx.top.saturating_add(MAX_LISTED));
    let with = |shown: usize| render_with(report, policy, gate, ctx, shown);
    let body = with(full);
    if body.len() <= max_bytes {
        return body;
    }
    with(largest_fitting(full, |n| with(n).len() <= max_bytes))
}

/// The summary showing at most `shown` findings (the most severe).
fn render_with(
    report: &ScanFindings,
    policy: &GatePolicy,
    gate: &GateResult,
    ctx: &SummaryContext<'_>,
    shown: usize,
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
    let top = top.get(..top.len().min(shown)).unwrap_or_default();
    let listed = rest
        .get(..rest.len().min(shown - top.len()))
        .unwrap_or_default();
    let left_out = sorted.len() - top.len() - listed.len();
    let more = |md: &mut String| {
        if left_out > 0 {
            let _ = writeln!(md);
            let _ = writeln!(
                md,
                "… and {left_out} more; every finding is in {}.",
                code(ctx.sarif_path)
            );
        }
    };
    if !top.is_empty() {
        table(&mut md, report, policy, top);
    }
    if rest.is_empty() {
        more(&mut md);
    } else {
        let _ = writeln!(md);
        let _ = writeln!(
            md,
            "<details><summary>{} more finding(s)</summary>",
            rest.len()
        );
        let _ = writeln!(md);
        if !listed.is_empty() {
            table(&mut md, report, policy, listed);
        }
        more(&mut md);
        let _ = writeln!(md);
        let _ = writeln!(md, "</details>");
    }
    md
}

fn table(md: &mut String, report: &ScanFindings, policy: &GatePolicy, findings: &[&Finding]) {
    let _ = writeln!(
        md,
        "| Severity | ID | Package / file | Installed | Fixed in | Title |"
    );
    let _ = writeln!(md, "| --- | --- | --- | --- | --- | --- |");
    for f in findings {
        let rule = report.rule(f);
        let cell = |s: &str| text(&shorten(s, MAX_CELL));
        let id = match &rule.primary_url {
            Some(u) if u.len() <= MAX_URL => link(&shorten(&rule.id, MAX_CELL), u),
            _ => cell(&rule.id),
        };
        let what = match rule.kind {
            FindingKind::Vulnerability => cell(&f.package),
            _ => {
                let t = &shorten(&report.target(f).name, MAX_CELL);
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
            cell(&f.installed),
            f.fixed.as_deref().map(cell).unwrap_or_else(|| "—".into()),
            cell(&rule.title),
        );
    }
}

/// One image of a `--compose` scan, for the per-image table.
pub struct ImageRow<'a> {
    pub service: &'a str,
    pub artifact: &'a str,
    pub gate: &'a GateResult,
}

/// `--compose`: one gate over every image, and a row of counts per image (each image's
/// own summary follows it).
pub fn images_table(rows: &[ImageRow<'_>], gate: &GateResult) -> String {
    let mut md = format!(
        "### Scan of {} images: {}\n\n| service | image | critical | high | medium | low | unknown | counted | gate |\n|---|---|---:|---:|---:|---:|---:|---:|---|\n",
        rows.len(),
        gate.verdict.as_str()
    );
    for r in rows {
        let t = &r.gate.total;
        let _ = writeln!(
            md,
            "| {} | `{}` | {} | {} | {} | {} | {} | {} | {} |",
            r.service,
            r.artifact,
            t.critical,
            t.high,
            t.medium,
            t.low,
            t.unknown,
            r.gate.counted.total(),
            r.gate.verdict.as_str()
        );
    }
    let t = &gate.total;
    let _ = writeln!(
        md,
        "| **all** | | {} | {} | {} | {} | {} | {} | **{}** |",
        t.critical,
        t.high,
        t.medium,
        t.low,
        t.unknown,
        gate.counted.total(),
        gate.verdict.as_str()
    );
    md
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ignore::IgnoreList;

    /// A Trivy report of `n` findings, each with a `title_len`-character title and a
    /// hostile PrimaryURL and package name.
    fn report(n: usize, title_len: usize) -> ScanFindings {
        let vulns: Vec<serde_json::Value> = (0..n)
            .map(|i| {
                serde_json::json!({
                    "VulnerabilityID": format!("CVE-2024-{i:05}"),
                    "PkgName": "@scope/pkg",
                    "InstalledVersion": "1.0",
                    "FixedVersion": "1.1",
                    "Severity": "HIGH",
                    "Title": "T".repeat(title_len),
                    "PrimaryURL": "https://x.example/a|**INJECTED**|",
                })
            })
            .collect();
        let json = serde_json::json!({
            "SchemaVersion": 2,
            "ArtifactName": "app",
            "ArtifactType": "container_image",
            "Results": [{"Target": "app", "Class": "os-pkgs", "Type": "debian", "Vulnerabilities": vulns}],
        });
        crate::clients::trivy::results::parse(
            std::path::Path::new("r.json"),
            json.to_string().as_bytes(),
        )
        .unwrap()
    }

    fn policy() -> GatePolicy {
        GatePolicy {
            severities: Severity::DESCENDING.into_iter().collect(),
            ignore_unfixed: false,
            fail_on_findings: true,
            ignores: IgnoreList::default(),
            today: "2026-01-01".parse().unwrap(),
        }
    }

    const CTX: SummaryContext<'static> = SummaryContext {
        artifact: "app",
        sarif_path: "aks-backend.sarif",
        top: 10,
        sarif_omitted: 0,
    };

    /// Issue 13 item 8: 400 findings with long titles made a 2.5 MB job summary, over
    /// GitHub's 1 MiB limit.
    #[test]
    fn four_hundred_long_findings_fit_the_job_summary() {
        let r = report(400, 6_000);
        let p = policy();
        let gate = p.evaluate(&r);
        let md = render(&r, &p, &gate, &CTX);
        assert!(md.len() <= MAX_BYTES, "{} bytes", md.len());
        assert!(md.contains("more; every finding is in `aks-backend.sarif`"));
        assert_eq!(
            md.matches("<details>").count(),
            md.matches("</details>").count()
        );
        // Titles are shortened in the cell.
        assert!(!md.contains(&"T".repeat(MAX_CELL + 1)));
    }

    #[test]
    fn a_tight_budget_cuts_rows_not_structure() {
        let r = report(50, 100);
        let p = policy();
        let gate = p.evaluate(&r);
        let full = render_within(&r, &p, &gate, &CTX, usize::MAX);
        let cut = render_within(&r, &p, &gate, &CTX, full.len() / 3);
        assert!(cut.len() <= full.len() / 3);
        assert!(cut.contains("more; every finding is in"), "{cut}");
        assert_eq!(
            cut.matches("<details>").count(),
            cut.matches("</details>").count()
        );
    }

    /// Issue 13 item 8: the URL's `|` ended the cell; `@scope/pkg` mentioned a user.
    #[test]
    fn hostile_urls_and_package_names_stay_in_their_cell() {
        let r = report(1, 10);
        let p = policy();
        let gate = p.evaluate(&r);
        let md = render(&r, &p, &gate, &CTX);
        let row = md
            .lines()
            .find(|l| l.contains("CVE-2024-00000"))
            .unwrap()
            .to_string();
        // 7 cell borders (unescaped pipes), none of them from the URL.
        let borders = row
            .char_indices()
            .filter(|&(i, c)| c == '|' && !row[..i].ends_with('\\'))
            .count();
        assert_eq!(borders, 7, "{row}");
        assert!(!row.contains("**INJECTED**"), "{row}");
        assert!(row.contains("@&#8203;scope/pkg"), "{row}");
    }
}
