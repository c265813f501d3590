//! Markdown building blocks that are safe for outside text.
//!
//! CVE titles, package names and pod logs come from outside. In a table cell they must
//! not break the table, open a link, or inject HTML into a job summary or PR comment.

/// Text for a Markdown table cell or inline prose: HTML and Markdown syntax escaped,
/// newlines folded, pipes escaped.
pub fn text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '|' => out.push_str("\\|"),
            '\\' | '`' | '*' | '_' | '[' | ']' | '(' | ')' | '#' | '!' | '~' => {
                out.push('\\');
                out.push(c);
            }
            '\r' => {}
            '\n' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// Inline code; the fence grows past any backtick run in `s`.
pub fn code(s: &str) -> String {
    let s = s.replace(['\r', '\n'], " ");
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
    let longest = lines
        .iter()
        .flat_map(|l| l.split(|c| c != '`').map(str::len))
        .max()
        .unwrap_or(0);
    let fence = "`".repeat((longest + 1).max(3));
    let mut out = format!("{fence}text\n");
    for l in lines {
        out.push_str(&l.replace('\r', ""));
        out.push('\n');
    }
    out.push_str(&fence);
    out
}

/// A link whose target is only allowed to be http(s); anything else becomes text.
pub fn link(label: &str, url: &str) -> String {
    if (url.starts_with("https://") || url.starts_with("http://"))
        && !url.contains(|c: char| c.is_whitespace() || c == ')' || c == '<' || c == '>')
    {
        format!("[{}]({url})", text(label))
    } else {
        text(label)
    }
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
}
