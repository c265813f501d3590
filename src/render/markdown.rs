//! Markdown building blocks that are safe for outside text, and the length budget
//! every summary and comment is held to.
//!
//! CVE titles, package names and pod logs come from outside. In a table cell they must
//! not break the table, open a link, mention a person (`@user`, `@scope/pkg`), turn
//! into an autolink, or inject HTML into a job summary or PR comment. Control
//! characters and terminal escapes are removed before anything else.

use crate::model::text::strip_controls_keeping;

pub use crate::model::text::GITHUB_SUMMARY_MAX_BYTES;

/// A zero-width space as an entity: between `@` and a name it stops a mention, inside
/// `://` or after `www` it stops an autolink, and reads the same.
const BREAK: &str = "&#8203;";

/// Text for a Markdown table cell or inline prose: control characters removed, HTML and
/// Markdown syntax escaped, newlines folded, pipes escaped, mentions and autolinks
/// broken.
pub fn text(s: &str) -> String {
    escape(s, true)
}

/// [`text`]; `outside_links`: break mentions and autolinks too (a link's own label
/// needs neither: GitHub links and mentions nothing inside a link).
fn escape(s: &str, outside_links: bool) -> String {
    let s = strip_controls_keeping(s, |c| c == '\n');
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '|' => out.push_str("\\|"),
            '@' if outside_links => {
                out.push('@');
                out.push_str(BREAK);
            }
            '\\' | '`' | '*' | '_' | '[' | ']' | '(' | ')' | '#' | '!' | '~' => {
                out.push('\\');
                out.push(c);
            }
            '\n' => out.push(' '),
            c => out.push(c),
        }
    }
    if outside_links {
        no_autolinks(&out)
    } else {
        out
    }
}

/// Breaks GitHub's extended autolinks (`scheme://`, `www.`); e-mail addresses are
/// broken by the `@` rule.
fn no_autolinks(s: &str) -> String {
    let mut out = s.replace("://", &format!(":{BREAK}//"));
    let mut from = 0;
    while let Some(i) = out[from..].to_ascii_lowercase().find("www.") {
        let at = from + i + 3;
        out.insert_str(at, BREAK);
        from = at + BREAK.len();
    }
    out
}

/// `s` cut to at most `max` characters, with `…` when cut.
pub fn shorten(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// The largest `n` in `0..=max` for which `ok(n)` holds (`ok` is monotone), or 0.
pub fn largest_fitting(max: usize, ok: impl Fn(usize) -> bool) -> usize {
    let (mut lo, mut hi) = (0usize, max);
    if ok(hi) {
        return hi;
    }
    while lo + 1 < hi {
        let mid = lo + (hi - lo) / 2;
        if ok(mid) {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    lo
}

/// Inline code; the fence grows past any backtick run in `s`.
pub fn code(s: &str) -> String {
    let s = strip_controls_keeping(s, |c| c == '\n').replace('\n', " ");
    let longest = s.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    let fence = "`".repeat(longest + 1);
    let pad = if s.starts_with('`') || s.ends_with('`') {
        " "
    } else {
        ""
    };
    // HTML inside a code span is shown literally by GitHub, but `<` still must not
    // close a surrounding <details>: escape it.
    let s = s.replace('<', "&lt;");
    format!("{fence}{pad}{s}{pad}{fence}")
}

/// A fenced code block for multi-line outside text (logs).
pub fn code_block(lines: &[String]) -> String {
    let lines: Vec<String> = lines
        .iter()
        .map(|l| strip_controls_keeping(l, |_| false))
        .collect();
    let longest = lines
        .iter()
        .flat_map(|l| l.split(|c| c != '`').map(str::len))
        .max()
        .unwrap_or(0);
    let fence = "`".repeat((longest + 1).max(3));
    let mut out = format!("{fence}text\n");
    for l in &lines {
        out.push_str(l);
        out.push('\n');
    }
    out.push_str(&fence);
    out
}

/// A link whose target is only allowed to be http(s); anything else becomes text. The
/// target is percent-encoded past the characters a URL needs, so a `|`, `)`, space or
/// `<` in it can neither end the link nor the table cell.
pub fn link(label: &str, url: &str) -> String {
    if url.starts_with("https://") || url.starts_with("http://") {
        format!("[{}]({})", escape(label, false), encode_url(url))
    } else {
        text(label)
    }
}

/// Percent-encodes every byte of `url` but letters, digits and `-._~:/?#@!$&+,;=%`.
pub fn encode_url(url: &str) -> String {
    let mut out = String::with_capacity(url.len());
    for b in url.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~:/?#@!$&+,;=%".contains(&b) {
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

    #[test]
    fn hostile_title_stays_text() {
        let t = text("<img src=x onerror=alert(1)> | [click](javascript:x)");
        assert!(!t.contains('<'));
        assert!(!t.contains("](javascript"));
        assert!(t.contains("\\|"));
    }

    #[test]
    fn code_spans_survive_backticks() {
        assert_eq!(code("a`b"), "``a`b``");
        assert_eq!(code("plain"), "`plain`");
    }

    #[test]
    fn only_http_links() {
        assert_eq!(link("x", "javascript:alert(1)"), "x");
        assert_eq!(link("CVE", "https://a.b/c"), "[CVE](https://a.b/c)");
    }

    /// Issue 13 item 8: a `|` in a finding's URL broke out of the table cell.
    #[test]
    fn urls_cannot_leave_the_link_or_the_cell() {
        let l = link(
            "CVE-1",
            "https://x.example/a|**INJECTED** [p](https://evil.example) <b>) @octocat",
        );
        assert_eq!(
            l,
            "[CVE-1](https://x.example/a%7C%2A%2AINJECTED%2A%2A%20%5Bp%5D%28https://evil.example%29%20%3Cb%3E%29%20@octocat)"
        );
        assert!(!l.contains('|'));
        assert_eq!(
            link("x", "https://a.example/ü?q=1&r=%41"),
            "[x](https://a.example/%C3%BC?q=1&r=%41)"
        );
    }

    #[test]
    fn mentions_and_autolinks_are_broken() {
        let t = text(
            "@octocat and @scope/pkg, mail a@b.example, see https://evil.example or WWW.evil.example",
        );
        assert!(
            !t.contains("@o") && !t.contains("@s") && !t.contains("@b"),
            "{t}"
        );
        assert!(!t.contains("://"), "{t}");
        assert!(!t.to_ascii_lowercase().contains("www."), "{t}");
        assert!(t.contains("@&#8203;octocat"), "{t}");
    }

    #[test]
    fn control_characters_never_reach_markdown() {
        assert_eq!(text("a\u{1b}]52;c;Zm9v\u{7}b\r\nc"), "ab c");
        assert_eq!(code("a\u{1b}[31mb"), "`ab`");
        assert_eq!(
            code_block(&["x\u{9b}2Jy\r".to_string()]),
            "```text\nxy\n```"
        );
    }

    #[test]
    fn shorten_and_fit() {
        assert_eq!(shorten("abcdef", 4), "abc…");
        assert_eq!(shorten("abc", 4), "abc");
        assert_eq!(largest_fitting(100, |n| n <= 37), 37);
    }
}
