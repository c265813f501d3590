//! The console's view of a summary. Steps render one Markdown summary for GitHub's job
//! summary and Azure Pipelines' build summary; on a terminal (the local host) people read
//! it, so it becomes plain text here: headings and bold without `#`/`**` (bold only when
//! colour is on), Markdown escapes (`\(`) undone, tables aligned in columns, links as
//! `text (url)`, `<details>` folds as a labelled block. Control characters are stripped
//! (the text may hold CVE titles or pod logs).

const BOLD: &str = "\x1b[1m";
const RESET: &str = "\x1b[0m";

/// `markdown` as plain lines for a person at a terminal.
pub fn render(markdown: &str, color: bool) -> Vec<String> {
    let mut out = Vec::new();
    let mut table: Vec<Vec<String>> = Vec::new();
    for raw in markdown.lines() {
        let line = raw.trim_end();
        if let Some(cells) = table_row(line) {
            if !cells.iter().all(|c| is_rule(c)) {
                table.push(cells.iter().map(|c| inline(c, false)).collect());
            }
            continue;
        }
        flush_table(&mut table, &mut out);
        let t = line.trim_start();
        if let Some(h) = heading(t) {
            out.push(strong(&inline(h, false), color));
        } else if t == "</details>" || t == "<details>" || t == "<p>" || t == "</p>" {
            continue;
        } else if let Some(s) = t
            .strip_prefix("<details><summary>")
            .or_else(|| t.strip_prefix("<summary>"))
        {
            let s = s.trim_end_matches("</summary>");
            out.push(format!("{}:", inline(s, false)));
        } else if t == "---" || t == "***" {
            out.push(String::new());
        } else {
            out.push(inline(line, color));
        }
    }
    flush_table(&mut table, &mut out);
    out
}

fn heading(t: &str) -> Option<&str> {
    let rest = t.trim_start_matches('#');
    (rest.len() < t.len() && t.len() - rest.len() <= 6 && rest.starts_with(' '))
        .then(|| rest.trim())
}

fn strong(s: &str, color: bool) -> String {
    if color {
        format!("{BOLD}{s}{RESET}")
    } else {
        s.to_string()
    }
}

/// The cells of a `| a | b |` row (escaped `\|` stays inside its cell).
fn table_row(line: &str) -> Option<Vec<String>> {
    let inner = line.trim().strip_prefix('|')?.strip_suffix('|')?;
    let mut cells = Vec::new();
    let mut cell = String::new();
    let mut chars = inner.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek() == Some(&'|') => {
                cell.push_str("\\|");
                chars.next();
            }
            '|' => cells.push(std::mem::take(&mut cell)),
            c => cell.push(c),
        }
    }
    cells.push(cell);
    Some(cells.into_iter().map(|c| c.trim().to_string()).collect())
}

fn is_rule(cell: &str) -> bool {
    !cell.is_empty() && cell.chars().all(|c| matches!(c, '-' | ':'))
}

fn flush_table(table: &mut Vec<Vec<String>>, out: &mut Vec<String>) {
    if table.is_empty() {
        return;
    }
    let cols = table.iter().map(Vec::len).max().unwrap_or(0);
    let width: Vec<usize> = (0..cols)
        .map(|i| {
            table
                .iter()
                .filter_map(|r| r.get(i))
                .map(|c| c.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    for row in table.drain(..) {
        let mut line = String::new();
        for (i, w) in width.iter().enumerate() {
            let cell = row.get(i).map(String::as_str).unwrap_or("");
            if i > 0 {
                line.push_str("  ");
            }
            line.push_str(cell);
            if i + 1 < cols {
                line.extend(std::iter::repeat_n(' ', w - cell.chars().count()));
            }
        }
        out.push(line.trim_end().to_string());
    }
}

/// Inline Markdown to text: escapes undone, `**`/`__` and backticks dropped, links as
/// `text (url)`, HTML tags (`<br>`, `<sub>`) removed, control characters stripped.
fn inline(s: &str, color: bool) -> String {
    let mut out = String::new();
    let chars: Vec<char> = s.chars().collect();
    let mut bold = false;
    // What is left to read; each turn consumes `used` chars of it.
    let mut rest: &[char] = &chars;
    while let Some((&c, tail)) = rest.split_first() {
        let mut used = 1;
        match (c, tail.first()) {
            ('\\', Some(&n)) if n.is_ascii_punctuation() => {
                out.push(n);
                used = 2;
            }
            ('*' | '_', Some(&n)) if n == c => {
                bold = !bold;
                if color {
                    out.push_str(if bold { BOLD } else { RESET });
                }
                used = 2;
            }
            ('`', _) => {}
            ('<', _) => {
                let tag = (rest.iter().position(|&x| x == '>'))
                    .and_then(|end| rest.get(..=end))
                    .filter(|t| is_tag(t));
                match tag {
                    Some(t) => {
                        if t.starts_with(&['<', 'b', 'r']) {
                            out.push(' ');
                        }
                        used = t.len();
                    }
                    None => out.push(c),
                }
            }
            ('[', _) => match link(rest) {
                Some((text, url, n)) => {
                    out.push_str(&inline(&text, color));
                    out.push_str(&format!(" ({url})"));
                    used = n;
                }
                None => out.push(c),
            },
            (c, _) if c.is_control() => {}
            (c, _) => out.push(c),
        }
        rest = rest.get(used..).unwrap_or_default();
    }
    if bold && color {
        out.push_str(RESET);
    }
    out
}

fn is_tag(t: &[char]) -> bool {
    let s: String = t.iter().collect();
    let name = s.trim_start_matches('<').trim_start_matches('/');
    let name: String = name
        .chars()
        .take_while(|c| c.is_ascii_alphabetic())
        .collect();
    matches!(
        name.as_str(),
        "br" | "sub" | "sup" | "details" | "summary" | "b" | "i" | "code" | "p" | "em" | "strong"
    )
}

/// `[text](url)` at the start of `c`: the text, the url and the chars used.
fn link(c: &[char]) -> Option<(String, String, usize)> {
    let close = c.iter().position(|&x| x == ']')?;
    if c.get(close + 1) != Some(&'(') {
        return None;
    }
    let after = c.get(close + 2..)?;
    let len = after.iter().position(|&x| x == ')')?;
    Some((
        c.get(1..close)?.iter().collect(),
        after.get(..len)?.iter().collect(),
        close + 2 + len + 1,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SCAN: &str = "### Vulnerability scan: `r.io/api@sha256:ab`\n\n\
**gate failed: 10 findings count \\(4 CRITICAL, 6 HIGH\\)**\n\n\
| severity | findings | counted |\n|---|---:|---:|\n| CRITICAL | 4 | 4 |\n| HIGH | 6 | 6 |\n\
| LOW | 12 | 0 |\n\n\
| ID | package | title |\n|---|---|---|\n\
| [CVE-2024-1](https://avd.aquasec.com/nvd/cve-2024-1) | `openssl` 3.0.1 | a \\| b<br>c \\*x\\* |\n\n\
<details><summary>12 more</summary>\n\n- CVE-2024-9 \\_x\\_\n\n</details>\n";

    #[test]
    fn a_summary_reads_as_plain_text_on_a_terminal() {
        let text = render(SCAN, false).join("\n");
        assert!(!text.contains("**") && !text.contains("\\("), "{text}");
        assert!(text.contains("gate failed: 10 findings count (4 CRITICAL, 6 HIGH)"));
        insta::assert_snapshot!(text);
    }

    #[test]
    fn colour_is_bold_only_and_only_when_asked() {
        let colored = render("### Title\n**bold** text", true);
        assert_eq!(colored[0], format!("{BOLD}Title{RESET}"));
        assert_eq!(colored[1], format!("{BOLD}bold{RESET} text"));
        assert!(
            render("### Title\n**bold**", false)
                .iter()
                .all(|l| !l.contains('\x1b'))
        );
    }

    #[test]
    fn control_characters_from_outside_are_stripped() {
        let l = render("| a\x1b[31m | b\x07 |", false);
        assert_eq!(l, ["a[31m  b"]);
    }
}
