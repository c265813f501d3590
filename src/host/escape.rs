//! Escaping for the two CI hosts' command languages, and for terminals.
//!
//! Text from outside (CVE titles, pod logs, commit messages) must never be able to
//! issue a workflow command (`::set-env`, `::add-mask`) or a logging command
//! (`##vso[task.setvariable]`), nor drive the terminal (ANSI escape sequences, OSC 52
//! clipboard writes). Control characters are removed FIRST, so a `\r` or an escape
//! sequence can never hide a command prefix from the checks that follow: `##\rvso[`
//! would otherwise be `##vso[` to the agent. Values inside our own commands are
//! escaped with the host's rules; free lines have any command prefix neutralised.

pub use crate::model::text::{strip_controls, strip_controls_keeping};

/// Keeps CR and LF for the host escapes that encode them.
fn strip_but_newlines(s: &str) -> String {
    strip_controls_keeping(s, |c| c == '\r' || c == '\n')
}

/// GitHub workflow command message: control characters removed; `%`, CR and LF
/// escaped.
pub fn gh_data(s: &str) -> String {
    strip_but_newlines(s)
        .replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// GitHub workflow command property value: data escapes plus `:` and `,`.
pub fn gh_property(s: &str) -> String {
    gh_data(s).replace(':', "%3A").replace(',', "%2C")
}

/// Azure Pipelines logging command message: control characters removed; `%`, CR, LF
/// escaped (`]`, `;` are harmless here).
pub fn azp_data(s: &str) -> String {
    strip_but_newlines(s)
        .replace('%', "%AZP25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// Azure Pipelines logging command property value: data escapes plus `;` and `]`.
pub fn azp_property(s: &str) -> String {
    azp_data(s).replace(';', "%3B").replace(']', "%5D")
}

const ZWSP: char = '\u{200B}';

/// A free line of untrusted text made inert on both hosts and on a terminal: control
/// characters and escape sequences go first (a CR or LF inside is removed: callers
/// split lines before), then a leading `::` (GitHub) and any `##vso[` / `##[` (Azure
/// Pipelines scans the whole line) get a zero-width space, so they read the same to
/// people and mean nothing to the runner.
pub fn neutralize_line(s: &str) -> String {
    let mut out = strip_controls(s)
        .replace("##vso[", "##\u{200B}vso[")
        .replace("##[", "#\u{200B}#[");
    let trimmed = out.trim_start();
    if trimmed.starts_with("::") {
        let at = out.len() - trimmed.len() + 1;
        out.insert(at, ZWSP);
    }
    out
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

    /// Issue 13 item 1: a CR (or any control character) between the characters of a
    /// command prefix must not hide it from the checks.
    #[test]
    fn control_characters_cannot_hide_a_command() {
        for hostile in [
            "##\rvso[task.setvariable variable=X]1",
            "#\r#vso[task.setvariable variable=X]1",
            "##\u{1b}[0mvso[task.setvariable variable=X]1",
            "##\u{85}vso[task.setvariable variable=X]1",
            "##\u{7f}vso[task.setvariable variable=X]1",
            "##\u{0}vso[task.setvariable variable=X]1",
            "x ##\u{9b}31mvso[task.complete result=Succeeded]",
        ] {
            let l = neutralize_line(hostile);
            assert!(!l.contains("##vso["), "{hostile:?} -> {l:?}");
            assert!(!l.chars().any(|c| c.is_control()), "{l:?}");
        }
        for hostile in [
            ":\r:set-env name=X::1",
            " :\u{1b}[K:add-mask::x",
            ":\u{9f}x\u{9c}:warning::x",
        ] {
            let l = neutralize_line(hostile);
            assert!(!l.trim_start().starts_with("::"), "{hostile:?} -> {l:?}");
        }
        let l = neutralize_line("#\r#[error]fake");
        assert!(!l.contains("##["), "{l:?}");
    }

    #[test]
    fn terminal_escapes_are_removed_whole() {
        // OSC 52 writes the clipboard; BEL- and ST-terminated, and the C1 form.
        assert_eq!(neutralize_line("a\u{1b}]52;c;ZWNobyBwd25lZA==\u{7}b"), "ab");
        assert_eq!(neutralize_line("a\u{1b}]52;c;Zm9v\u{1b}\\b"), "ab");
        assert_eq!(neutralize_line("a\u{9d}52;c;Zm9v\u{9c}b"), "ab");
        assert_eq!(neutralize_line("\u{1b}[1;31mred\u{1b}[0m"), "red");
        assert_eq!(neutralize_line("a\u{1b}Pq#0;2;0;0;0\u{1b}\\b"), "ab");
        assert_eq!(neutralize_line("a\u{1b}=b\u{1b}"), "ab");
        assert_eq!(neutralize_line("tab\tkept"), "tab\tkept");
        assert_eq!(
            neutralize_line("no\u{2028}line\u{85}breaks\r"),
            "nolinebreaks"
        );
    }

    #[test]
    fn command_data_has_no_controls_but_keeps_newlines_escaped() {
        assert_eq!(gh_data("a\u{1b}]52;c;Zm9v\u{7}\nb"), "a%0Ab");
        assert_eq!(azp_data("a\u{1b}[31m\r\nb\u{9b}0m"), "a%0D%0Ab");
        assert_eq!(gh_property("t\u{7f}:x"), "t%3Ax");
    }
}
