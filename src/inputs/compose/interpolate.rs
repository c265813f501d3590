//! Compose's variable interpolation (12-interpolation.md), applied to every string value
//! of one file before files are merged: `$VAR`, `${VAR}`, `${VAR:-d}`, `${VAR-d}`,
//! `${VAR:?err}`, `${VAR?err}`, `${VAR:+r}`, `${VAR+r}`, nested defaults, and `$$` for a
//! literal `$`. Keys are never interpolated. A `${VAR:?err}` that fails is bad input.

use std::collections::BTreeMap;

use serde_json::Value;

/// A failed `${VAR:?err}` / `${VAR?err}`, or a `${` without its `}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub variable: String,
    pub message: String,
}

/// The variables seen: the environment over the `.env` file. `missing` collects
/// variables used without a value and without a default (Compose warns, uses "").
pub struct Vars<'a> {
    pub values: &'a BTreeMap<String, String>,
    pub missing: Vec<String>,
}

/// Interpolates every string value inside `v` (not keys), depth first.
pub fn value(v: &mut Value, vars: &mut Vars<'_>) -> Result<(), (String, Failure)> {
    walk(v, vars, &mut Vec::new())
}

fn walk(
    v: &mut Value,
    vars: &mut Vars<'_>,
    path: &mut Vec<String>,
) -> Result<(), (String, Failure)> {
    match v {
        Value::String(s) => {
            *s = string(s, vars).map_err(|f| (path.join("."), f))?;
        }
        Value::Array(a) => {
            for (i, x) in a.iter_mut().enumerate() {
                path.push(i.to_string());
                walk(x, vars, path)?;
                path.pop();
            }
        }
        Value::Object(m) => {
            for (k, x) in m.iter_mut() {
                path.push(k.clone());
                walk(x, vars, path)?;
                path.pop();
            }
        }
        _ => {}
    }
    Ok(())
}

fn is_name_start(c: char) -> bool {
    c == '_' || c.is_ascii_alphabetic()
}

fn is_name_char(c: char) -> bool {
    c == '_' || c.is_ascii_alphanumeric()
}

/// One string, interpolated.
pub fn string(s: &str, vars: &mut Vars<'_>) -> Result<String, Failure> {
    let chars: Vec<char> = s.chars().collect();
    let mut out = String::with_capacity(s.len());
    // What is left to read.
    let mut rest: &[char] = &chars;
    while let Some((&c, tail)) = rest.split_first() {
        if c != '$' {
            out.push(c);
            rest = tail;
            continue;
        }
        match tail.split_first() {
            Some(('$', after)) => {
                out.push('$');
                rest = after;
            }
            Some(('{', after)) => {
                // Find the matching `}`, allowing nested `${..}` in the default.
                let mut depth = 1;
                let close = after.iter().position(|&c| {
                    match c {
                        '{' => depth += 1,
                        '}' => depth -= 1,
                        _ => {}
                    }
                    depth == 0
                });
                let Some(close) = close else {
                    return Err(Failure {
                        variable: after.iter().collect(),
                        message: "`${` without its closing `}`".into(),
                    });
                };
                let inner: String = after.iter().take(close).collect();
                out.push_str(&braced(&inner, vars)?);
                rest = after.get(close + 1..).unwrap_or_default();
            }
            Some((&n, _)) if is_name_start(n) => {
                let len = tail.iter().take_while(|&&c| is_name_char(c)).count();
                let name: String = tail.iter().take(len).collect();
                out.push_str(&lookup(&name, vars).unwrap_or_default());
                rest = tail.get(len..).unwrap_or_default();
            }
            _ => {
                out.push('$');
                rest = tail;
            }
        }
    }
    Ok(out)
}

fn lookup(name: &str, vars: &mut Vars<'_>) -> Option<String> {
    let v = vars.values.get(name).cloned();
    if v.is_none() && !vars.missing.iter().any(|m| m == name) {
        vars.missing.push(name.to_string());
    }
    v
}

/// The inside of `${..}`: a name and an optional operator with its word.
fn braced(inner: &str, vars: &mut Vars<'_>) -> Result<String, Failure> {
    let end = inner
        .char_indices()
        .find(|&(_, c)| !is_name_char(c))
        .map_or(inner.len(), |(i, _)| i);
    let (name, rest) = inner.split_at(end);
    if name.is_empty() || !name.starts_with(is_name_start) {
        return Err(Failure {
            variable: inner.to_string(),
            message: format!("`${{{inner}}}` is not a variable reference"),
        });
    }
    let value = vars.values.get(name).cloned();
    let set = value.is_some();
    let non_empty = value.as_deref().is_some_and(|v| !v.is_empty());
    let op = [":-", ":?", ":+", "-", "?", "+"]
        .into_iter()
        .find(|op| rest.starts_with(op));
    let Some(op) = op else {
        if !rest.is_empty() {
            return Err(Failure {
                variable: name.to_string(),
                message: format!(
                    "`${{{inner}}}`: Compose supports only :-, -, :?, ?, :+ and + after a name"
                ),
            });
        }
        return Ok(lookup(name, vars).unwrap_or_default());
    };
    let word = &rest[op.len()..];
    let cond = if op.starts_with(':') { non_empty } else { set };
    match op.trim_start_matches(':') {
        "-" if cond => Ok(value.unwrap_or_default()),
        "-" => string(word, vars),
        "?" if cond => Ok(value.unwrap_or_default()),
        "?" => Err(Failure {
            variable: name.to_string(),
            message: string(word, vars)?,
        }),
        "+" if cond => string(word, vars),
        _ => Ok(String::new()),
    }
}

/// A `.env` file: `NAME=VALUE` lines, `#` comments, optional `export `, values in
/// single quotes taken as they are, in double quotes with `\n` escapes, else trimmed
/// (an unquoted ` #` starts a comment). Lines that are not assignments are reported.
pub fn dotenv(text: &str) -> Result<Vec<(String, String)>, (usize, String)> {
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line.strip_prefix("export ").unwrap_or(line);
        let Some((k, v)) = line.split_once('=') else {
            return Err((n + 1, "is not NAME=VALUE".into()));
        };
        let k = k.trim();
        if k.is_empty() || !k.starts_with(is_name_start) || !k.chars().all(is_name_char) {
            return Err((n + 1, format!("`{k}` is not a variable name")));
        }
        let v = v.trim();
        let v = if let Some(q) = v.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')) {
            q.to_string()
        } else if let Some(q) = v.strip_prefix('"').and_then(|v| v.strip_suffix('"')) {
            q.replace("\\n", "\n").replace("\\\"", "\"")
        } else {
            v.split(" #").next().unwrap_or("").trim_end().to_string()
        };
        out.push((k.to_string(), v));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(s: &str, pairs: &[(&str, &str)]) -> Result<String, Failure> {
        let values: BTreeMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let mut vars = Vars {
            values: &values,
            missing: Vec::new(),
        };
        string(s, &mut vars)
    }

    #[test]
    fn plain_and_braced_variables_take_their_values() {
        let v = [("TAG", "1.2"), ("EMPTY", "")];
        assert_eq!(run("web:${TAG}", &v).unwrap(), "web:1.2");
        assert_eq!(run("web:$TAG-x", &v).unwrap(), "web:1.2-x");
        assert_eq!(run("[$EMPTY]", &v).unwrap(), "[]");
        assert_eq!(run("${NOPE}", &v).unwrap(), "");
    }

    #[test]
    fn defaults_distinguish_unset_from_empty() {
        let v = [("EMPTY", "")];
        assert_eq!(run("${EMPTY:-d}", &v).unwrap(), "d");
        assert_eq!(run("${EMPTY-d}", &v).unwrap(), "");
        assert_eq!(run("${UNSET-d}", &v).unwrap(), "d");
        assert_eq!(run("${UNSET:-${EMPTY:-inner}}", &v).unwrap(), "inner");
        assert_eq!(run("${EMPTY+set}", &v).unwrap(), "set");
        assert_eq!(run("${EMPTY:+set}", &v).unwrap(), "");
    }

    #[test]
    fn a_required_variable_without_value_fails_with_its_message() {
        let e = run("${DB:?give the database}", &[]).unwrap_err();
        assert_eq!(e.variable, "DB");
        assert_eq!(e.message, "give the database");
        assert!(run("${DB?x}", &[("DB", "")]).is_ok());
        assert!(run("${DB:?x}", &[("DB", "")]).is_err());
    }

    #[test]
    fn double_dollar_is_a_literal_dollar_and_stray_dollars_stay() {
        assert_eq!(
            run("$$HOME and 5$ and $1", &[("HOME", "/h")]).unwrap(),
            "$HOME and 5$ and $1"
        );
        assert!(run("${UNCLOSED", &[]).is_err());
    }

    #[test]
    fn dotenv_lines_quotes_and_comments() {
        let got = dotenv("# c\nA=1\nexport B = two # note\nC='x # y'\nD=\"l1\\nl2\"\n").unwrap();
        assert_eq!(
            got,
            vec![
                ("A".into(), "1".into()),
                ("B".into(), "two".into()),
                ("C".into(), "x # y".into()),
                ("D".into(), "l1\nl2".into()),
            ]
        );
        assert_eq!(dotenv("oops").unwrap_err().0, 1);
    }
}
