//! `.dockerignore` with Docker's exact semantics, so the context we send is the one
//! `docker build` would send.
//!
//! A line-by-line port of `github.com/moby/patternmatcher` (v0.6: `Pattern.compile`,
//! `Pattern.match`, `MatchesOrParentMatches`) and `patternmatcher/ignorefile.ReadAll`,
//! plus the CLI's `TrimBuildFilesFromExcludes` (the Dockerfile and `.dockerignore` are
//! always sent). Unix separators only (`/`), as on the Linux runners we target.

use regex::Regex;

/// A pattern that does not compile (Go's `filepath.ErrBadPattern`), or a bare `!`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("bad .dockerignore pattern `{pattern}`: {reason}")]
pub struct PatternError {
    pub pattern: String,
    pub reason: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum MatchType {
    Exact,
    Prefix,
    Suffix,
    Regexp,
}

#[derive(Debug, Clone)]
pub struct Pattern {
    cleaned: String,
    exclusion: bool,
    match_type: MatchType,
    regexp: Option<Regex>,
}

impl Pattern {
    /// The pattern without its `!`, as Docker's `Pattern.String()`.
    pub fn as_str(&self) -> &str {
        &self.cleaned
    }

    pub fn exclusion(&self) -> bool {
        self.exclusion
    }

    fn compile(cleaned: String, exclusion: bool) -> Result<Pattern, PatternError> {
        let bad = |reason: &str| PatternError {
            pattern: cleaned.clone(),
            reason: reason.to_string(),
        };
        let mut re = String::from("^");
        let mut mt = MatchType::Exact;
        let chars: Vec<char> = cleaned.chars().collect();
        let mut pos = 0;
        let mut i = 0;
        while let Some(&ch) = chars.get(pos) {
            pos += 1;
            let peek = chars.get(pos).copied();
            if ch == '*' {
                if peek == Some('*') {
                    pos += 1;
                    // Treat `**/` as `**`: eat the `/`.
                    if chars.get(pos) == Some(&'/') {
                        pos += 1;
                    }
                    if pos >= chars.len() {
                        // `**` at the end: like .gitignore, accept everything.
                        if mt == MatchType::Exact {
                            mt = MatchType::Prefix;
                        } else {
                            re.push_str(".*");
                            mt = MatchType::Regexp;
                        }
                    } else {
                        re.push_str("(.*/)?");
                        mt = MatchType::Regexp;
                    }
                    if i == 0 {
                        mt = MatchType::Suffix;
                    }
                } else {
                    re.push_str("[^/]*");
                    mt = MatchType::Regexp;
                }
            } else if ch == '?' {
                re.push_str("[^/]");
                mt = MatchType::Regexp;
            } else if ".+()|{}$".contains(ch) {
                re.push('\\');
                re.push(ch);
            } else if ch == '\\' {
                match peek {
                    Some(n) => {
                        pos += 1;
                        re.push('\\');
                        re.push(n);
                        mt = MatchType::Regexp;
                    }
                    None => re.push('\\'),
                }
            } else if ch == '[' || ch == ']' {
                re.push(ch);
                mt = MatchType::Regexp;
            } else {
                re.push(ch);
            }
            i += 1;
        }
        // Go's `filepath.Match(p, ".")` rejects malformed classes and trailing `\`.
        go_match_syntax(&cleaned).map_err(bad)?;
        let regexp = if mt == MatchType::Regexp {
            re.push('$');
            // Go's regexp and Rust's regex are both RE2 syntax for what is emitted here.
            Some(Regex::new(&re).map_err(|_| bad("not a valid pattern"))?)
        } else {
            None
        };
        Ok(Pattern {
            cleaned,
            exclusion,
            match_type: mt,
            regexp,
        })
    }

    /// `Pattern.match`: does `path` (relative, `/`-separated) match?
    pub fn matches(&self, path: &str) -> bool {
        match self.match_type {
            MatchType::Exact => path == self.cleaned,
            MatchType::Prefix => path.starts_with(&self.cleaned[..self.cleaned.len() - 2]),
            MatchType::Suffix => {
                let suffix = &self.cleaned[2..];
                if path.ends_with(suffix) {
                    return true;
                }
                suffix.starts_with('/') && path == &suffix[1..]
            }
            MatchType::Regexp => self.regexp.as_ref().is_some_and(|r| r.is_match(path)),
        }
    }
}

/// The syntax checks of Go's `filepath.Match` (ErrBadPattern), as in its `matchChunk`
/// and `getEsc`.
fn go_match_syntax(p: &str) -> Result<(), &'static str> {
    fn get_esc(c: &[char], mut i: usize) -> Result<(char, usize), &'static str> {
        const BAD: &str = "malformed character class";
        match c.get(i) {
            None | Some('-') | Some(']') => return Err(BAD),
            Some('\\') => i += 1,
            _ => {}
        }
        let r = *c.get(i).ok_or(BAD)?;
        i += 1;
        if i >= c.len() {
            return Err(BAD);
        }
        Ok((r, i))
    }
    let c: Vec<char> = p.chars().collect();
    let mut i = 0;
    while let Some(&ch) = c.get(i) {
        match ch {
            '\\' => {
                if i + 1 >= c.len() {
                    return Err("trailing backslash");
                }
                i += 2;
            }
            '[' => {
                i += 1;
                if c.get(i) == Some(&'^') {
                    i += 1;
                }
                let mut nrange = 0;
                loop {
                    if c.get(i) == Some(&']') && nrange > 0 {
                        i += 1;
                        break;
                    }
                    let (lo, next) = get_esc(&c, i)?;
                    i = next;
                    if c.get(i) == Some(&'-') {
                        let (hi, next) = get_esc(&c, i + 1)?;
                        i = next;
                        if hi < lo {
                            return Err("bad range in character class");
                        }
                    }
                    nrange += 1;
                }
            }
            _ => i += 1,
        }
    }
    Ok(())
}

/// Go's `filepath.Clean` for `/`-separated paths.
pub fn clean(p: &str) -> String {
    if p.is_empty() {
        return ".".into();
    }
    let rooted = p.starts_with('/');
    let mut out: Vec<&str> = Vec::new();
    for part in p.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if out.last().is_some_and(|l| *l != "..") {
                    out.pop();
                } else if !rooted {
                    out.push("..");
                }
            }
            x => out.push(x),
        }
    }
    let body = out.join("/");
    match (rooted, body.is_empty()) {
        (true, _) => format!("/{body}"),
        (false, true) => ".".into(),
        (false, false) => body,
    }
}

/// Docker's `PatternMatcher`.
#[derive(Debug, Clone, Default)]
pub struct Matcher {
    patterns: Vec<Pattern>,
    exclusions: bool,
}

impl Matcher {
    /// `patternmatcher.New`.
    pub fn new<S: AsRef<str>>(patterns: &[S]) -> Result<Matcher, PatternError> {
        let mut out = Vec::new();
        let mut exclusions = false;
        for p in patterns {
            let p = p.as_ref().trim();
            if p.is_empty() {
                continue;
            }
            let mut p = clean(p);
            let mut exclusion = false;
            if let Some(rest) = p.strip_prefix('!') {
                if rest.is_empty() {
                    return Err(PatternError {
                        pattern: "!".into(),
                        reason: "illegal exclusion pattern".into(),
                    });
                }
                exclusion = true;
                exclusions = true;
                p = rest.to_string();
            }
            out.push(Pattern::compile(p, exclusion)?);
        }
        Ok(Matcher {
            patterns: out,
            exclusions,
        })
    }

    pub fn patterns(&self) -> &[Pattern] {
        &self.patterns
    }

    pub fn has_exclusions(&self) -> bool {
        self.exclusions
    }

    pub fn is_empty(&self) -> bool {
        self.patterns.is_empty()
    }

    /// `MatchesOrParentMatches`: is `file` excluded?
    pub fn excluded(&self, file: &str) -> bool {
        let parents = parent_prefixes(file);
        self.excluded_with(file, |i| {
            self.patterns
                .get(i)
                .is_some_and(|p| parents.iter().any(|d| p.matches(d)))
        })
    }

    /// The same decision, with "does pattern `i` match one of the parents" supplied by
    /// the caller (the walker caches it per directory: same answer, less work).
    pub fn excluded_with(&self, file: &str, parent_matches: impl Fn(usize) -> bool) -> bool {
        let mut matched = false;
        for (i, p) in self.patterns.iter().enumerate() {
            if p.exclusion != matched {
                continue;
            }
            let m = p.matches(file) || parent_matches(i);
            if m {
                matched = !p.exclusion;
            }
        }
        matched
    }
}

/// `a/b/c` -> `["a", "a/b"]` (the parents Docker tries, outermost first).
fn parent_prefixes(file: &str) -> Vec<&str> {
    file.match_indices('/').map(|(i, _)| &file[..i]).collect()
}

/// `ignorefile.ReadAll`: the patterns of a `.dockerignore` file.
pub fn parse_dockerignore(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for (n, line) in text.split('\n').enumerate() {
        let line = line.strip_suffix('\r').unwrap_or(line);
        let line = if n == 0 {
            line.strip_prefix('\u{feff}').unwrap_or(line)
        } else {
            line
        };
        if line.starts_with('#') {
            continue;
        }
        let mut p = line.trim();
        if p.is_empty() {
            continue;
        }
        let invert = p.starts_with('!');
        if invert {
            p = p[1..].trim();
        }
        let mut p = if p.is_empty() {
            String::new()
        } else {
            let c = clean(p);
            if c.len() > 1 && c.starts_with('/') {
                c[1..].to_string()
            } else {
                c
            }
        };
        if invert {
            p.insert(0, '!');
        }
        out.push(p);
    }
    out
}

/// The CLI's `TrimBuildFilesFromExcludes`: the Dockerfile (when inside the context)
/// and `.dockerignore` are sent even when a pattern excludes them.
pub fn keep_build_files(
    mut excludes: Vec<String>,
    dockerfile: Option<&str>,
) -> Result<Vec<String>, PatternError> {
    let m = Matcher::new(&excludes)?;
    if m.excluded(".dockerignore") {
        excludes.push("!.dockerignore".into());
    }
    if let Some(df) = dockerfile
        && m.excluded(df)
    {
        excludes.push(format!("!{df}"));
    }
    Ok(excludes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn excl(patterns: &[&str], file: &str) -> bool {
        Matcher::new(patterns).unwrap().excluded(file)
    }

    // Cases in the style of moby/patternmatcher's `TestMatches` table (patternmatcher_test.go),
    // `pattern, text, pass`.
    #[test]
    fn upstream_match_table() {
        let cases: &[(&str, &str, bool)] = &[
            ("**", "file", true),
            ("**", "file/", true),
            ("**/", "file", true),
            ("**/", "file/", true),
            ("**", "/", true),
            ("**/", "/", true),
            ("**", "dir/file", true),
            ("**/", "dir/file", true),
            ("**", "dir/file/", true),
            ("**/", "dir/file/", true),
            ("**/**", "dir/file", true),
            ("**/**", "dir/file/", true),
            ("dir/**", "dir/file", true),
            ("dir/**", "dir/file/", true),
            ("dir/**", "dir/dir2/file", true),
            ("dir/**", "dir/dir2/file/", true),
            ("**/dir", "dir", true),
            ("**/dir", "dir/file", true),
            ("**/dir2/*", "dir/dir2/file", true),
            ("**/dir2/*", "dir/dir2/file/", true),
            ("**/dir2/**", "dir/dir2/dir3/file", true),
            ("**/dir2/**", "dir/dir2/dir3/file/", true),
            ("**file", "file", true),
            ("**file", "dir/file", true),
            ("**/file", "dir/file", true),
            ("**file", "dir/dir/file", true),
            ("**/file", "dir/dir/file", true),
            ("**/file*", "dir/dir/file", true),
            ("**/file*", "dir/dir/file.txt", true),
            ("**/file*txt", "dir/dir/file.txt", true),
            ("**/file*.txt", "dir/dir/file.txt", true),
            ("**/file*.txt*", "dir/dir/file.txt", true),
            ("**/**/*.txt", "dir/dir/file.txt", true),
            ("**/**/*.txt2", "dir/dir/file.txt", false),
            ("**/*.txt", "file.txt", true),
            ("**/**/*.txt", "file.txt", true),
            ("a**/*.txt", "a/file.txt", true),
            ("a**/*.txt", "a/dir/file.txt", true),
            ("a**/*.txt", "a/dir/dir/file.txt", true),
            ("a/*.txt", "a/dir/file.txt", false),
            ("a/*.txt", "a/file.txt", true),
            ("a/*.txt**", "a/file.txt", true),
            ("a[b-d]e", "ae", false),
            ("a[b-d]e", "ace", true),
            ("a[b-d]e", "aae", false),
            ("a[^b-d]e", "aze", true),
            (".*", ".foo", true),
            (".*", "foo", false),
            ("abc.def", "abcdef", false),
            ("abc.def", "abc.def", true),
            ("abc.def", "abcZdef", false),
            ("abc?def", "abcZdef", true),
            ("abc?def", "abcdef", false),
            ("a\\\\", "a\\", true),
            ("**/foo/bar", "foo/bar", true),
            ("**/foo/bar", "dir/foo/bar", true),
            ("**/foo/bar", "dir/dir2/foo/bar", true),
            ("abc/**", "abc", false),
            ("abc/**", "abc/def", true),
            ("abc/**", "abc/def/ghi", true),
            ("**/.foo", ".foo", true),
            ("**/.foo", "bar.foo", false),
            ("a(b)c/def", "a(b)c/def", true),
            ("a(b)c/def", "a(b)c/xyz", false),
            ("a.|)$(}+{bc", "a.|)$(}+{bc", true),
            (
                "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl",
                "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl",
                true,
            ),
            (
                "dist/*.whl",
                "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl",
                true,
            ),
        ];
        for (pattern, text, pass) in cases {
            let p = Pattern::compile(clean(pattern), false).unwrap();
            // Upstream calls MatchesOrParentMatches with the pattern alone.
            let m = Matcher {
                patterns: vec![p],
                exclusions: false,
            };
            assert_eq!(m.excluded(text), *pass, "pattern {pattern:?} text {text:?}");
        }
    }

    // Matcher-level cases (inclusion/exclusion order); the CLI comparison is in tests/it/build.rs.
    #[test]
    fn upstream_matcher_cases() {
        assert!(excl(&["*"], "fileutils.go"));
        assert!(excl(&["*.go"], "fileutils.go"));
        assert!(!excl(&["!fileutils.go"], "fileutils.go"));
        assert!(excl(&["*.go", "!fileutils.go", "*.go"], "fileutils.go"));
        assert!(!excl(&["*.go", "!fileutils.go"], "fileutils.go"));
        assert!(excl(&["docs", "!docs/README.md"], "docs/"));
        assert!(!excl(&["docs/*", "!docs/README.md"], "docs/README.md"));
        assert!(excl(&["docs"], "docs/README.md"));
        assert!(!excl(&["*.go"], "test/fileutils.go"));
        assert!(excl(&["docs/**"], "docs/a/b"));
        assert!(excl(&["foo"], "foo/bar/baz"));
        assert!(!excl(&["foo/", "!foo/bar"], "foo/bar/baz"));
    }

    #[test]
    fn bang_alone_is_an_error() {
        assert!(Matcher::new(&["!"]).is_err());
        assert!(Matcher::new(&["[a-"]).is_err());
        assert!(Matcher::new(&["a\\"]).is_err());
    }

    #[test]
    fn dockerignore_file_parsing() {
        let text = "\u{feff}# comment\n  node_modules  \n\n/abs/../abs/x\n! keep.txt\n #notacomment\r\n**/*.log\n";
        assert_eq!(
            parse_dockerignore(text),
            vec![
                "node_modules",
                "abs/x",
                "!keep.txt",
                "#notacomment",
                "**/*.log"
            ]
        );
    }

    #[test]
    fn build_files_are_always_sent() {
        let ex = keep_build_files(vec!["*".into()], Some("Dockerfile")).unwrap();
        let m = Matcher::new(&ex).unwrap();
        assert!(!m.excluded("Dockerfile"));
        assert!(!m.excluded(".dockerignore"));
        assert!(m.excluded("src"));
        let ex = keep_build_files(vec!["build/".into()], Some("build/app.Dockerfile")).unwrap();
        let m = Matcher::new(&ex).unwrap();
        assert!(!m.excluded("build/app.Dockerfile"));
        assert!(m.excluded("build/other"));
        // Nothing excluded: nothing added.
        assert_eq!(
            keep_build_files(vec![], Some("Dockerfile")).unwrap().len(),
            0
        );
    }

    #[test]
    fn exceptions_and_double_star() {
        let p = ["**/*.md", "!README.md", "!docs/**", "docs/private"];
        assert!(excl(&p, "CHANGES.md"));
        assert!(!excl(&p, "README.md"));
        assert!(excl(&p, "src/a.md"));
        assert!(!excl(&p, "docs/a.md"));
        assert!(excl(&p, "docs/private/x.md"));
        assert!(excl(&p, "docs/private"));
        assert!(!excl(&p, "src/main.rs"));
    }

    #[test]
    fn clean_is_go_clean() {
        assert_eq!(clean("a//b/./c/.."), "a/b");
        assert_eq!(clean("/../a"), "/a");
        assert_eq!(clean("../a"), "../a");
        assert_eq!(clean("a/"), "a");
        assert_eq!(clean(""), ".");
        assert_eq!(clean("!a/"), "!a");
    }
}
