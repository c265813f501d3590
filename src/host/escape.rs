//! Escaping for the two CI hosts' command languages.
//!
//! Text from outside (CVE titles, pod logs, commit messages) must never be able to
//! issue a workflow command (`::set-env`, `::add-mask`) or a logging command
//! (`##vso[task.setvariable]`). Values inside our own commands are escaped with the
//! host's rules; free lines have any command prefix neutralised.

/// GitHub workflow command message: `%`, CR and LF are escaped.
pub fn gh_data(s: &str) -> String {
    s.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// GitHub workflow command property value: data escapes plus `:` and `,`.
pub fn gh_property(s: &str) -> String {
    gh_data(s).replace(':', "%3A").replace(',', "%2C")
}

/// Azure Pipelines logging command message: `%`, CR, LF (and `]`, `;` are harmless here).
pub fn azp_data(s: &str) -> String {
    s.replace('%', "%AZP25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// Azure Pipelines logging command property value: data escapes plus `;` and `]`.
pub fn azp_property(s: &str) -> String {
    azp_data(s).replace(';', "%3B").replace(']', "%5D")
}

const ZWSP: char = '\u{200B}';

/// A free line of untrusted text made inert on both hosts: a leading `::` (GitHub)
/// and any `##vso[` / `##[` (Azure Pipelines scans the whole line) get a zero-width
/// space, so they read the same to people and mean nothing to the runner.
pub fn neutralize_line(s: &str) -> String {
    let mut out = s
        .replace("##vso[", "##\u{200B}vso[")
        .replace("##[", "#\u{200B}#[");
    let trimmed = out.trim_start();
    if trimmed.starts_with("::") {
        let at = out.len() - trimmed.len() + 1;
        out.insert(at, ZWSP);
    }
    out.replace(['\r'], "")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn github_escapes() {
        assert_eq!(gh_data("a%b\r\nc"), "a%25b%0D%0Ac");
        assert_eq!(gh_property("f:1,2"), "f%3A1%2C2");
    }

    #[test]
    fn azure_escapes() {
        assert_eq!(azp_data("50%\nx"), "50%AZP25%0Ax");
        assert_eq!(azp_property("a;b]c"), "a%3Bb%5Dc");
    }

    #[test]
    fn hostile_lines_are_inert() {
        let l = neutralize_line("  ::set-env name=X::1");
        assert!(!l.trim_start().starts_with("::"), "{l}");
        let l = neutralize_line("boom ##vso[task.setvariable variable=x]1");
        assert!(!l.contains("##vso["), "{l}");
        let l = neutralize_line("##[error]fake");
        assert!(!l.contains("##["), "{l}");
        assert_eq!(neutralize_line("plain text"), "plain text");
    }
}
