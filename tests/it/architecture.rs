//! The import rules of `../shared/docs/architecture.md` ("Import direction"), kept by a test.
//!
//! Reads every `crate::` path in `src/` (in `use` statements, brace groups expanded, and
//! inline paths), outside `#[cfg(test)]` modules, and builds two graphs: rooms (`model`,
//! `inputs`, `clients`, ...) and modules (one node per file). It fails on
//! - an arrow a room may not draw (e.g. `plan` -> `clients`),
//! - an import cycle between modules, even inside one room.
//!
//! The code does not obey every rule yet (issue "Architecture: one direction"). What it
//! breaks today is written down in `KNOWN_ARROWS` and `KNOWN_CYCLES`: a new violation
//! fails, and so does a listed one that is gone, so the lists can only shrink.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// What each room may import of ours (besides itself). `error` holds the one `Error` the
/// library returns (it gathers every room's error) and sits with `steps`; `internal` is
/// the hidden packaging command beside `cli`.
const RULES: &[(&str, &[&str])] = &[
    ("model", &["secret", "env"]),
    ("secret", &["model", "env"]),
    ("env", &["model", "secret"]),
    ("fsx", &["model", "secret", "env"]),
    ("inputs", &["model", "secret", "env", "fsx"]),
    ("plan", &["inputs", "model", "secret"]),
    ("render", &["model"]),
    ("clients", &["model", "secret", "env", "fsx"]),
    ("host", &["model", "secret", "env", "fsx"]),
    ("state", &["model", "fsx"]),
    (
        "steps",
        &[
            "model", "secret", "env", "fsx", "inputs", "plan", "render", "clients", "host",
            "state", "error",
        ],
    ),
    (
        "error",
        &[
            "model", "secret", "env", "fsx", "inputs", "plan", "render", "clients", "host", "state",
        ],
    ),
    (
        "cli",
        &[
            "model", "secret", "env", "fsx", "inputs", "plan", "render", "clients", "host",
            "state", "error", "steps", "internal",
        ],
    ),
    (
        "internal",
        &[
            "model", "secret", "env", "fsx", "inputs", "plan", "render", "clients", "host",
            "state", "error", "steps",
        ],
    ),
];

/// Arrows against the rules that exist today: (importing file, imported room). Remove a
/// line when its arrow is gone (the test says which).
const KNOWN_ARROWS: &[(&str, &str)] = &[];

/// Module cycles that exist today, each as its sorted member list joined by " ".
const KNOWN_CYCLES: &[&str] = &[];

fn src_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// `src/a/b.rs` and `src/a/b/mod.rs` -> `a::b`; `src/lib.rs`, `src/main.rs` -> "".
fn module_of(path: &Path) -> String {
    let rel = path.strip_prefix(src_dir()).unwrap_or(path);
    let mut parts: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if let Some(last) = parts.pop() {
        let stem = last.trim_end_matches(".rs").to_string();
        if stem != "mod" && stem != "lib" && stem != "main" {
            parts.push(stem);
        }
    }
    parts.join("::")
}

fn rs_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<_> = entries.flatten().map(|e| e.path()).collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            rs_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "rs") {
            out.push(p);
        }
    }
}

/// The file's text without its `#[cfg(test)]` items and without comments.
fn production_text(text: &str) -> String {
    let mut out = String::new();
    let mut lines = text.lines().peekable();
    while let Some(line) = lines.next() {
        let t = line.trim_start();
        if t.starts_with("#[cfg(test)]") {
            // Skip the item that follows: up to its matching closing brace (or `;`).
            let mut depth = 0i32;
            let mut opened = false;
            for l in lines.by_ref() {
                let code = strip_line_comment(l);
                for ch in code.chars() {
                    match ch {
                        '{' => {
                            depth += 1;
                            opened = true;
                        }
                        '}' => depth -= 1,
                        _ => {}
                    }
                }
                if (opened && depth <= 0) || (!opened && code.trim_end().ends_with(';')) {
                    break;
                }
            }
            continue;
        }
        if t.starts_with("//") {
            continue;
        }
        out.push_str(strip_line_comment(line));
        out.push('\n');
    }
    out
}

fn strip_line_comment(line: &str) -> &str {
    // Good enough for this code base: no `//` inside the string literals that hold paths.
    match line.find("//") {
        Some(i) if !line[..i].contains('"') => &line[..i],
        _ => line,
    }
}

/// Expand `a::{b, c::{d, e}}` into `a::b`, `a::c::d`, `a::c::e`.
fn expand(prefix: &str, tree: &str, out: &mut Vec<String>) {
    let tree = tree.trim();
    if let Some(open) = tree.find('{') {
        let head = tree[..open].trim().trim_end_matches("::");
        let close = tree.rfind('}').unwrap_or(tree.len());
        let inner = &tree[open + 1..close];
        let base = join(prefix, head);
        let mut depth = 0;
        let mut start = 0;
        for (i, ch) in inner.char_indices() {
            match ch {
                '{' => depth += 1,
                '}' => depth -= 1,
                ',' if depth == 0 => {
                    expand(&base, &inner[start..i], out);
                    start = i + 1;
                }
                _ => {}
            }
        }
        expand(&base, &inner[start..], out);
    } else {
        let path = tree.split(" as ").next().unwrap_or("").trim();
        if !path.is_empty() {
            out.push(join(prefix, path));
        }
    }
}

fn join(a: &str, b: &str) -> String {
    match (a.is_empty(), b.is_empty() || b == "self") {
        (true, _) => b.to_string(),
        (false, true) => a.to_string(),
        (false, false) => format!("{a}::{b}"),
    }
}

/// Every `crate::...` path the text names.
fn crate_paths(text: &str) -> Vec<String> {
    paths_after(text, "crate::")
}

/// Every path of ours the text of module `module` names: `crate::`, `super::`, `self::`.
fn module_paths(text: &str, module: &str) -> Vec<String> {
    let mut out = crate_paths(text);
    for p in paths_after(text, "super::") {
        let mut base: Vec<&str> = module.split("::").filter(|s| !s.is_empty()).collect();
        base.pop();
        let mut rest = p.as_str();
        while let Some(r) = rest.strip_prefix("super::") {
            base.pop();
            rest = r;
        }
        let mut full = base.join("::");
        full = join(&full, rest);
        out.push(full);
    }
    for p in paths_after(text, "self::") {
        out.push(join(module, &p));
    }
    out
}

/// Every path that follows `keyword` (`crate::`, `super::`, ...), brace groups expanded.
fn paths_after(text: &str, keyword: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find(keyword) {
        let before = rest[..i].chars().last();
        let after = &rest[i + keyword.len()..];
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':') {
            rest = after;
            continue;
        }
        if after.starts_with('{') {
            let mut depth = 0;
            let mut end = after.len();
            for (j, ch) in after.char_indices() {
                match ch {
                    '{' => depth += 1,
                    '}' => {
                        depth -= 1;
                        if depth == 0 {
                            end = j + 1;
                            break;
                        }
                    }
                    _ => {}
                }
            }
            expand("", &after[..end], &mut out);
            rest = &after[end..];
        } else {
            let end = after
                .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
                .unwrap_or(after.len());
            let path = after[..end].trim_end_matches(':');
            if after[end..].starts_with('{') && after[..end].ends_with("::") {
                // `crate::a::{b, c}`
                let group = &after[end..];
                let mut depth = 0;
                let mut stop = group.len();
                for (j, ch) in group.char_indices() {
                    match ch {
                        '{' => depth += 1,
                        '}' => {
                            depth -= 1;
                            if depth == 0 {
                                stop = j + 1;
                                break;
                            }
                        }
                        _ => {}
                    }
                }
                expand(path, &group[..stop], &mut out);
                rest = &group[stop..];
            } else {
                out.push(path.to_string());
                rest = &after[end..];
            }
        }
    }
    out
}

/// The longest prefix of `path` that is a module of ours.
fn resolve(path: &str, modules: &BTreeSet<String>) -> Option<String> {
    let parts: Vec<&str> = path.split("::").collect();
    (1..=parts.len())
        .rev()
        .map(|n| parts[..n].join("::"))
        .find(|m| modules.contains(m))
}

fn room(module: &str) -> &str {
    module.split("::").next().unwrap_or("")
}

struct Graph {
    /// module -> modules it imports
    edges: BTreeMap<String, BTreeSet<String>>,
    files: BTreeMap<String, String>,
}

fn graph() -> Graph {
    let mut files = Vec::new();
    rs_files(&src_dir(), &mut files);
    let modules: BTreeSet<String> = files.iter().map(|f| module_of(f)).collect();
    let mut edges = BTreeMap::new();
    let mut names = BTreeMap::new();
    for f in &files {
        let m = module_of(f);
        let text = std::fs::read_to_string(f).unwrap_or_default();
        let mut to = BTreeSet::new();
        for p in module_paths(&production_text(&text), &m) {
            if let Some(target) = resolve(&p, &modules)
                && target != m
                && !target.is_empty()
            {
                to.insert(target);
            }
        }
        let rel = f
            .strip_prefix(src_dir().parent().unwrap_or(Path::new(".")))
            .unwrap_or(f)
            .display()
            .to_string();
        names.insert(m.clone(), rel);
        edges.insert(m, to);
    }
    Graph {
        edges,
        files: names,
    }
}

fn allowed(from: &str, to: &str) -> bool {
    if from == to || from.is_empty() {
        return true;
    }
    RULES
        .iter()
        .find(|(r, _)| *r == from)
        .is_some_and(|(_, may)| may.contains(&to))
}

/// Strongly connected components with more than one module (Tarjan).
fn cycles(edges: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    struct T<'a> {
        edges: &'a BTreeMap<String, BTreeSet<String>>,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        on: BTreeSet<&'a str>,
        next: usize,
        out: Vec<Vec<String>>,
    }
    fn visit<'a>(t: &mut T<'a>, v: &'a str) {
        t.index.insert(v, t.next);
        t.low.insert(v, t.next);
        t.next += 1;
        t.stack.push(v);
        t.on.insert(v);
        if let Some(ws) = t.edges.get(v) {
            for w in ws {
                let w = w.as_str();
                if !t.edges.contains_key(w) {
                    continue;
                }
                if !t.index.contains_key(w) {
                    visit(t, w);
                    let lw = t.low[w];
                    let lv = t.low[v];
                    t.low.insert(v, lv.min(lw));
                } else if t.on.contains(w) {
                    let iw = t.index[w];
                    let lv = t.low[v];
                    t.low.insert(v, lv.min(iw));
                }
            }
        }
        if t.low[v] == t.index[v] {
            let mut comp = Vec::new();
            while let Some(w) = t.stack.pop() {
                t.on.remove(w);
                comp.push(w.to_string());
                if w == v {
                    break;
                }
            }
            if comp.len() > 1 {
                comp.sort();
                t.out.push(comp);
            }
        }
    }
    let mut t = T {
        edges,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on: BTreeSet::new(),
        next: 0,
        out: Vec::new(),
    };
    for v in edges.keys() {
        if !t.index.contains_key(v.as_str()) {
            visit(&mut t, v.as_str());
        }
    }
    t.out.sort();
    t.out
}

#[test]
fn no_room_imports_against_the_import_rules() {
    let g = graph();
    let mut found = BTreeSet::new();
    for (from, tos) in &g.edges {
        for to in tos {
            if !allowed(room(from), room(to)) {
                found.insert((g.files[from].clone(), room(to).to_string()));
            }
        }
    }
    let known: BTreeSet<(String, String)> = KNOWN_ARROWS
        .iter()
        .map(|(f, t)| (f.to_string(), t.to_string()))
        .collect();
    let new: Vec<_> = found.difference(&known).collect();
    let gone: Vec<_> = known.difference(&found).collect();
    assert!(
        new.is_empty() && gone.is_empty(),
        "import rules (../shared/docs/architecture.md):\n  new arrows against the rules \
         (file -> room): {new:#?}\n  listed in KNOWN_ARROWS but gone (remove them): {gone:#?}"
    );
}

#[test]
fn no_import_cycle_between_modules() {
    let g = graph();
    let found: BTreeSet<String> = cycles(&g.edges).into_iter().map(|c| c.join(" ")).collect();
    let known: BTreeSet<String> = KNOWN_CYCLES.iter().map(|c| c.to_string()).collect();
    let new: Vec<_> = found.difference(&known).collect();
    let gone: Vec<_> = known.difference(&found).collect();
    assert!(
        new.is_empty() && gone.is_empty(),
        "import cycles:\n  new: {new:#?}\n  listed in KNOWN_CYCLES but gone (remove them): {gone:#?}"
    );
}

#[test]
fn the_guard_sees_use_groups_and_inline_paths() {
    let text = "use crate::a::{b::C, d::{e, f as g}};\nfn x() { crate::h::i(); }\n\
                #[cfg(test)]\nmod tests {\n use crate::z::Y;\n}\n";
    let paths = crate_paths(&production_text(text));
    assert_eq!(paths, ["a::b::C", "a::d::e", "a::d::f", "h::i"]);
    let rel = module_paths("use super::super::x::Y;\nuse self::z;\n", "a::b::c");
    assert_eq!(rel, ["a::x::Y", "a::b::c::z"]);
    let mut edges = BTreeMap::new();
    edges.insert("a".to_string(), BTreeSet::from(["b".to_string()]));
    edges.insert("b".to_string(), BTreeSet::from(["a".to_string()]));
    edges.insert("c".to_string(), BTreeSet::from(["a".to_string()]));
    assert_eq!(cycles(&edges), vec![vec!["a".to_string(), "b".to_string()]]);
    assert!(!allowed("plan", "clients"));
    assert!(allowed("steps", "clients"));
}

/// Functions in `src/steps/` longer than this are hard to read as a sequence of steps.
const MAX_STEP_FN_LINES: usize = 80;

/// Functions in `src/steps/` that are still longer (file, function): the list can only
/// shrink, like `KNOWN_ARROWS`.
const KNOWN_LONG: &[(&str, &str)] = &[];

/// Every `fn` in the text with its line count, from its signature to the closing brace
/// at the signature's indentation (rustfmt's layout).
fn function_lengths(text: &str) -> Vec<(String, usize)> {
    let lines: Vec<&str> = text.lines().collect();
    let mut out = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let t = line.trim_start();
        let indent = &line[..line.len() - t.len()];
        let rest = ["pub(super) ", "pub(crate) ", "pub "]
            .iter()
            .find_map(|p| t.strip_prefix(p))
            .unwrap_or(t);
        let rest = rest.strip_prefix("async ").unwrap_or(rest);
        let Some(sig) = rest.strip_prefix("fn ") else {
            continue;
        };
        let name: String = sig
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        let close = format!("{indent}}}");
        if let Some(end) = lines[i + 1..].iter().position(|l| *l == close) {
            out.push((name, end + 2));
        }
    }
    out
}

#[test]
fn no_function_in_the_steps_is_over_eighty_lines() {
    let mut files = Vec::new();
    rs_files(&src_dir().join("steps"), &mut files);
    let mut found = BTreeSet::new();
    for f in &files {
        let text = std::fs::read_to_string(f).unwrap_or_default();
        let rel = f
            .strip_prefix(src_dir().parent().unwrap_or(Path::new(".")))
            .unwrap_or(f)
            .display()
            .to_string();
        for (name, n) in function_lengths(&text) {
            if n > MAX_STEP_FN_LINES {
                found.insert((rel.clone(), name));
            }
        }
    }
    let known: BTreeSet<(String, String)> = KNOWN_LONG
        .iter()
        .map(|(f, n)| (f.to_string(), n.to_string()))
        .collect();
    let new: Vec<_> = found.difference(&known).collect();
    let gone: Vec<_> = known.difference(&found).collect();
    assert!(
        new.is_empty() && gone.is_empty(),
        "functions over {MAX_STEP_FN_LINES} lines in src/steps/:\n  new: {new:#?}\n  \
         listed in KNOWN_LONG but now short enough (remove them): {gone:#?}"
    );
}

#[test]
fn the_length_guard_counts_from_signature_to_closing_brace() {
    let text = "fn a() {\n    x();\n}\n\nimpl T {\n    pub(super) async fn b(\n        y: u8,\n    ) {\n        z();\n    }\n}\n";
    assert_eq!(
        function_lengths(text),
        [("a".to_string(), 3), ("b".to_string(), 5)]
    );
}
