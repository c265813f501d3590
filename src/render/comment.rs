//! The pull-request comment: one body, kept true by every step of a run.
//!
//! - The hidden marker is the FIRST line, so no cut can ever drop it.
//! - A table of steps (status, duration, key facts), then the failure's root cause with
//!   its events and log lines folded in `<details>`, then the findings that count, then
//!   links to the run, the Security tab and the job summary.
//! - Length-safe: the body never exceeds the platform's limit (GitHub 65,536,
//!   Azure DevOps 150,000 characters, counted in UTF-16 units, which is never fewer than
//!   either platform counts). Lists are cut on row boundaries (findings first, then the
//!   oldest log lines, then the oldest events); every `<details>` and code fence is
//!   opened and closed by the same piece of code, so they stay balanced; a line says
//!   what was cut.
//! - All outside text goes through `render::markdown`.

use std::fmt::Write;

use crate::model::pipeline::{Fact, FactStyle, FindingRow, Overall, StepStatus, Summary};
use crate::render::markdown::{code, code_block, largest_fitting, link, shorten, text};

/// GitHub's limit for an issue or pull-request comment body.
pub const GITHUB_MAX_CHARS: usize = 65_536;
/// Azure DevOps' limit for a pull-request thread comment.
pub const AZURE_DEVOPS_MAX_CHARS: usize = 150_000;

/// Outside text longer than this is shortened (one reason, one fact, one log line).
const MAX_TEXT: usize = 1_000;
const MAX_LINE: usize = 500;

/// Which platform the comment is for (its limit and the name in the cut note).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Platform {
    GitHub,
    AzureDevOps,
}

impl Platform {
    pub fn max_chars(self) -> usize {
        match self {
            Platform::GitHub => GITHUB_MAX_CHARS,
            Platform::AzureDevOps => AZURE_DEVOPS_MAX_CHARS,
        }
    }
    fn name(self) -> &'static str {
        match self {
            Platform::GitHub => "GitHub",
            Platform::AzureDevOps => "Azure DevOps",
        }
    }
}

/// The length both platforms are measured against (UTF-16 code units).
pub fn length(s: &str) -> usize {
    s.encode_utf16().count()
}

/// How much of each list is kept.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Caps {
    findings: usize,
    logs: usize,
    events: usize,
    text: usize,
}

/// Renders `report` for `platform`, within `max_chars` (normally
/// [`Platform::max_chars`]).
pub fn render(summary: &Summary, platform: Platform, max_chars: usize) -> String {
    let most = |f: fn(&crate::model::pipeline::StepSummary) -> usize| {
        summary.steps.iter().map(f).max().unwrap_or(0)
    };
    let full = Caps {
        findings: most(|s| s.findings.len()),
        logs: most(|s| s.failure.as_ref().map_or(0, |f| f.logs.len())),
        events: most(|s| s.failure.as_ref().map_or(0, |f| f.events.len())),
        text: MAX_TEXT,
    };
    let fits = |c: &Caps| length(&render_with(summary, platform, c)) <= max_chars;
    let mut caps = full;
    if fits(&caps) {
        return render_with(summary, platform, &caps);
    }
    // Cut the lists in order of how little they are missed: findings are all in the
    // Security tab anyway, then old log lines, then old events.
    caps.findings = largest_fitting(full.findings, |n| {
        fits(&Caps {
            findings: n,
            ..caps
        })
    });
    if !fits(&caps) {
        caps.logs = largest_fitting(full.logs, |n| fits(&Caps { logs: n, ..caps }));
    }
    if !fits(&caps) {
        caps.events = largest_fitting(full.events, |n| fits(&Caps { events: n, ..caps }));
    }
    if !fits(&caps) {
        caps.text = largest_fitting(MAX_TEXT, |n| fits(&Caps { text: n, ..caps }));
    }
    let body = render_with(summary, platform, &caps);
    if length(&body) <= max_chars {
        return body;
    }
    // Only reachable with absurd reports (thousands of steps): the marker and a note.
    let mut out = summary.marker().render();
    out.push('\n');
    let _ = writeln!(
        out,
        "The report is too large for a {} comment; see the job summary.",
        platform.name()
    );
    out
}

fn status_cell(s: StepStatus) -> &'static str {
    match s {
        StepStatus::Pending => "⏳ pending",
        StepStatus::Running => "🔄 running",
        StepStatus::Ok => "✅ ok",
        StepStatus::Failed => "❌ failed",
        StepStatus::Skipped => "⏭️ skipped",
    }
}

/// `850 ms`, `3.2 s`, `1 min 05 s`.
pub fn duration(ms: u64) -> String {
    if ms < 1_000 {
        format!("{ms} ms")
    } else if ms < 60_000 {
        format!("{:.1} s", ms as f64 / 1000.0)
    } else {
        let s = ms / 1000;
        format!("{} min {:02} s", s / 60, s % 60)
    }
}

/// A log line or event made plain: no terminal escapes or control characters.
fn plain_line(s: &str) -> String {
    shorten(&crate::model::text::strip_controls(s), MAX_LINE)
}

fn fact(f: &Fact, max: usize) -> String {
    let value = shorten(&f.value, max);
    let label = text(&f.label);
    let shown = match &f.style {
        FactStyle::Text => text(&value),
        FactStyle::Code => code(&value),
        FactStyle::Strong => format!("**{}**", text(&value)),
        FactStyle::Link { url } => link(&value, url),
    };
    if label.is_empty() {
        shown
    } else {
        format!("{label}: {shown}")
    }
}

fn headline(summary: &Summary) -> (&'static str, String) {
    match summary.overall() {
        Overall::Ok => ("✅", "all steps passed".into()),
        Overall::InProgress => ("🔄", "in progress".into()),
        Overall::Failed => {
            let failed: Vec<&str> = summary
                .steps
                .iter()
                .filter(|s| s.status == StepStatus::Failed)
                .map(|s| s.name.as_str())
                .collect();
            ("❌", format!("{} failed", failed.join(", ")))
        }
    }
}

/// `--compose`: one row per service (image, digest, findings, rollout).
fn services_table(md: &mut String, summary: &Summary, max: usize) {
    if summary.services.is_empty() {
        return;
    }
    let cell = |v: &Option<String>, as_code: bool| match v {
        Some(v) if as_code => code(&shorten(v, max)),
        Some(v) => text(&shorten(v, max)),
        None => "—".into(),
    };
    let _ = writeln!(md);
    let _ = writeln!(md, "| Service | Image | Digest | Findings | Rollout |");
    let _ = writeln!(md, "| --- | --- | --- | --- | --- |");
    for r in &summary.services {
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {} |",
            text(&shorten(&r.name, max)),
            cell(&r.image, true),
            cell(&r.digest, true),
            cell(&r.findings, false),
            cell(&r.rollout, false)
        );
    }
}

fn render_with(summary: &Summary, platform: Platform, caps: &Caps) -> String {
    let mut md = String::new();
    let _ = writeln!(md, "{}", summary.marker().render());
    let (icon, head) = headline(summary);
    let _ = writeln!(
        md,
        "### {icon} aks-backend: {} — {}",
        code(&shorten(&summary.key.app, 200)),
        text(&head)
    );
    let _ = writeln!(md);
    let _ = writeln!(md, "| Step | Status | Duration | Details |");
    let _ = writeln!(md, "| --- | --- | ---: | --- |");
    for s in &summary.steps {
        let facts: Vec<String> = s.facts.iter().map(|f| fact(f, caps.text)).collect();
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} |",
            text(&s.name),
            status_cell(s.status),
            s.duration_ms.map(duration).unwrap_or_else(|| "—".into()),
            if facts.is_empty() {
                "—".into()
            } else {
                facts.join(" · ")
            }
        );
    }

    services_table(&mut md, summary, caps.text);

    let mut cut = Cuts::default();
    for s in &summary.steps {
        let Some(f) = &s.failure else { continue };
        let _ = writeln!(md);
        let _ = writeln!(md, "#### ❌ {} failed", text(&s.name));
        let _ = writeln!(md);
        let _ = writeln!(md, "{}", text(&shorten(&f.reason, caps.text)));
        // Keep the newest lines: they are the ones nearest the failure.
        folded_lines(&mut md, "Events", &f.events, caps.events, &mut cut.events);
        folded_lines(&mut md, "Log lines", &f.logs, caps.logs, &mut cut.logs);
    }

    for s in summary.steps.iter().filter(|s| !s.findings.is_empty()) {
        let kept = s
            .findings
            .get(..s.findings.len().min(caps.findings))
            .unwrap_or_default();
        cut.findings.0 += s.counted() - kept.len();
        cut.findings.1 += s.counted();
        let _ = writeln!(md);
        let _ = writeln!(
            md,
            "<details><summary>{} finding(s) count for the gate ({})</summary>",
            s.counted(),
            text(&s.name)
        );
        let _ = writeln!(md);
        if !kept.is_empty() {
            findings_table(&mut md, kept, caps.text);
        }
        if kept.len() < s.counted() {
            let _ = writeln!(md);
            let _ = writeln!(
                md,
                "… {} more not shown here; every finding is in the SARIF and the Security tab.",
                s.counted() - kept.len()
            );
        }
        let _ = writeln!(md);
        let _ = writeln!(md, "</details>");
    }

    if let Some(note) = cut.note(platform) {
        let _ = writeln!(md);
        let _ = writeln!(md, "> ✂️ {note}");
    }

    let mut links = Vec::new();
    if let Some(u) = &summary.links.run {
        let label = if summary.run.number > 0 {
            format!(
                "Run {}, attempt {}",
                summary.run.number, summary.run.attempt
            )
        } else {
            "Run".to_string()
        };
        links.push(link(&label, u));
    }
    if let Some(u) = &summary.links.security {
        links.push(link("Security tab", u));
    }
    if let Some(u) = &summary.links.summary {
        links.push(link("Job summary", u));
    }
    if !links.is_empty() {
        let _ = writeln!(md);
        let _ = writeln!(md, "{}", links.join(" · "));
    }
    md
}

/// (left out, total) per kind of list.
#[derive(Default)]
struct Cuts {
    findings: (usize, usize),
    logs: (usize, usize),
    events: (usize, usize),
}

impl Cuts {
    fn note(&self, platform: Platform) -> Option<String> {
        let parts: Vec<String> = [
            (self.findings, "findings"),
            (self.logs, "log lines"),
            (self.events, "events"),
        ]
        .iter()
        .filter(|((cut, _), _)| *cut > 0)
        .map(|((cut, total), what)| format!("{cut} of {total} {what}"))
        .collect();
        if parts.is_empty() {
            return None;
        }
        Some(format!(
            "Shortened to fit {}'s {}-character comment limit: {} left out (the job summary and the run's log have them).",
            platform.name(),
            thousands(platform.max_chars()),
            parts.join(", ")
        ))
    }
}

fn thousands(n: usize) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A `<details>` with the newest `cap` of `lines` in a code block.
fn folded_lines(
    md: &mut String,
    what: &str,
    lines: &[String],
    cap: usize,
    cut: &mut (usize, usize),
) {
    if lines.is_empty() {
        return;
    }
    let kept = lines
        .get(lines.len() - lines.len().min(cap)..)
        .unwrap_or_default();
    cut.0 += lines.len() - kept.len();
    cut.1 += lines.len();
    let _ = writeln!(md);
    let summary = if kept.len() < lines.len() {
        format!("{what} (last {} of {})", kept.len(), lines.len())
    } else {
        format!("{what} ({})", lines.len())
    };
    let _ = writeln!(md, "<details><summary>{summary}</summary>");
    let _ = writeln!(md);
    if !kept.is_empty() {
        let plain: Vec<String> = kept.iter().map(|l| plain_line(l)).collect();
        let _ = writeln!(md, "{}", code_block(&plain));
        let _ = writeln!(md);
    }
    let _ = writeln!(md, "</details>");
}

fn findings_table(md: &mut String, rows: &[FindingRow], max: usize) {
    let max = max.min(300);
    let _ = writeln!(
        md,
        "| Severity | ID | Package / file | Installed | Fixed in | Title |"
    );
    let _ = writeln!(md, "| --- | --- | --- | --- | --- | --- |");
    for r in rows {
        let id = match &r.url {
            Some(u) => link(&shorten(&r.id, max), u),
            None => text(&shorten(&r.id, max)),
        };
        let _ = writeln!(
            md,
            "| {} | {id} | {} | {} | {} | {} |",
            text(&r.severity),
            text(&shorten(&r.package, max)),
            text(&shorten(&r.installed, max)),
            r.fixed
                .as_deref()
                .map(|f| text(&shorten(f, max)))
                .unwrap_or_else(|| "—".into()),
            text(&shorten(&r.title, max)),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_well() {
        assert_eq!(duration(850), "850 ms");
        assert_eq!(duration(3_240), "3.2 s");
        assert_eq!(duration(65_000), "1 min 05 s");
    }

    #[test]
    fn largest_fitting_finds_the_boundary() {
        assert_eq!(largest_fitting(100, |n| n <= 37), 37);
        assert_eq!(largest_fitting(100, |_| true), 100);
        assert_eq!(largest_fitting(100, |_| false), 0);
    }

    #[test]
    fn osc52_and_c1_in_log_lines_are_dropped() {
        assert_eq!(plain_line("a\u{1b}]52;c;Zm9v\u{7}b\u{9b}2Jc\r"), "abc");
    }

    #[test]
    fn control_characters_and_terminal_colours_are_dropped() {
        assert_eq!(plain_line("\u{1b}[31mred\u{1b}[0m\u{7}!"), "red!");
    }

    #[test]
    fn thousands_separators() {
        assert_eq!(thousands(65_536), "65,536");
        assert_eq!(thousands(150_000), "150,000");
        assert_eq!(thousands(999), "999");
    }
}
