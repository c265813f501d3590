//! Outside text made inert: control characters and terminal escape sequences removed.
//! Every place text leaves us (host commands, Markdown, the terminal) starts here, so it
//! lives below `host` and `render`, which both use it. Also the hosts' size limits that
//! both the renderers and the host keep.

/// GitHub's limit for one step's job summary (`$GITHUB_STEP_SUMMARY`), in bytes.
pub const GITHUB_SUMMARY_MAX_BYTES: usize = 1024 * 1024;

/// A control character: C0 (but tab), DEL, C1.
fn is_control(c: char) -> bool {
    (c.is_control() && c != '\t') || matches!(c, '\u{2028}' | '\u{2029}')
}

/// `s` without control characters and terminal escape sequences: a CSI sequence
/// (`ESC [` or U+009B, up to its final byte), an OSC / DCS / SOS / PM / APC string
/// (`ESC ]`, `ESC P`, `ESC X`, `ESC ^`, `ESC _` or their C1 forms, up to BEL or
/// `ESC \`) and a two-byte `ESC x` are removed whole; every other control character
/// (C0 but tab, DEL, C1, CR, LF, the Unicode line separators) is removed. When `keep`
/// accepts a character (CR and LF for the hosts' data escapes) it is kept.
pub fn strip_controls_keeping(s: &str, keep: impl Fn(char) -> bool) -> String {
    if !s.chars().any(is_control) {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len());
    let mut it = s.chars().peekable();
    while let Some(c) = it.next() {
        if !is_control(c) {
            out.push(c);
            continue;
        }
        if keep(c) {
            out.push(c);
            continue;
        }
        // What the escape introduces: a CSI, a string (OSC and friends), or one byte.
        let intro = match c {
            '\u{1b}' => match it.peek() {
                Some('[') => {
                    it.next();
                    Some('[')
                }
                Some(&n @ (']' | 'P' | 'X' | '^' | '_')) => {
                    it.next();
                    Some(n)
                }
                Some(n) if !is_control(*n) => {
                    // `ESC x`: a two-byte sequence (keypad mode, charset, ...).
                    it.next();
                    None
                }
                _ => None,
            },
            '\u{9b}' => Some('['),
            '\u{9d}' => Some(']'),
            '\u{90}' | '\u{98}' | '\u{9e}' | '\u{9f}' => Some('P'),
            _ => None,
        };
        match intro {
            Some('[') => {
                // Parameters and intermediates (0x20..=0x3F), then one final byte
                // (0x40..=0x7E).
                while let Some(&n) = it.peek() {
                    it.next();
                    if ('\u{40}'..='\u{7e}').contains(&n) || !('\u{20}'..='\u{3f}').contains(&n) {
                        break;
                    }
                }
            }
            Some(_) => {
                // A string: ends at BEL, ST (U+009C) or `ESC \` (or the end).
                while let Some(n) = it.next() {
                    if n == '\u{7}' || n == '\u{9c}' {
                        break;
                    }
                    if n == '\u{1b}' {
                        if it.peek() == Some(&'\\') {
                            it.next();
                        }
                        break;
                    }
                }
            }
            None => {}
        }
    }
    out
}

/// `s` without any control character or escape sequence (tab kept).
pub fn strip_controls(s: &str) -> String {
    strip_controls_keeping(s, |_| false)
}
