//! The ARM template language, as much of it as the infra template uses: `[...]`
//! expressions with function calls, string literals, numbers and property access,
//! evaluated against the mock's state. A function this evaluator does not know is an
//! error, so a template that starts using a new one fails its tests until the mock
//! learns it (and the module doc of `plan::infra::template` lists it).

use serde_json::{Value, json};
use sha2::Digest;

/// What expressions can see.
pub trait Scope {
    fn subscription(&self) -> &str;
    fn tenant(&self) -> &str;
    /// The resource group the deployment targets.
    fn resource_group(&self) -> &str;
    fn parameter(&self, name: &str) -> Option<Value>;
    /// `reference(id)`: the resource's properties, if it exists.
    fn reference(&self, id: &str) -> Option<Value>;
}

/// The functions the evaluator knows.
pub const FUNCTIONS: &[&str] = &[
    "parameters",
    "resourceId",
    "subscriptionResourceId",
    "extensionResourceId",
    "reference",
    "guid",
    "resourceGroup",
    "subscription",
    "not",
    "empty",
];

/// A value the evaluator could not know yet (a `reference()` before the resource
/// exists): what-if reports such properties as changing, like ARM does.
pub const UNKNOWN: &str = "[unknown until deployed]";

#[derive(Debug)]
enum Tok {
    Ident(String),
    Str(String),
    Num(i64),
    LParen,
    RParen,
    Comma,
    Dot,
    LBracket,
    RBracket,
}

fn lex(s: &str) -> Result<Vec<Tok>, String> {
    let c: Vec<char> = s.chars().collect();
    let mut i = 0;
    let mut out = Vec::new();
    while i < c.len() {
        match c[i] {
            ' ' => i += 1,
            '(' => {
                out.push(Tok::LParen);
                i += 1
            }
            ')' => {
                out.push(Tok::RParen);
                i += 1
            }
            ',' => {
                out.push(Tok::Comma);
                i += 1
            }
            '.' => {
                out.push(Tok::Dot);
                i += 1
            }
            '[' => {
                out.push(Tok::LBracket);
                i += 1
            }
            ']' => {
                out.push(Tok::RBracket);
                i += 1
            }
            '\'' => {
                let mut v = String::new();
                i += 1;
                loop {
                    match c.get(i) {
                        None => return Err(format!("unterminated string in {s}")),
                        Some('\'') if c.get(i + 1) == Some(&'\'') => {
                            v.push('\'');
                            i += 2
                        }
                        Some('\'') => {
                            i += 1;
                            break;
                        }
                        Some(x) => {
                            v.push(*x);
                            i += 1
                        }
                    }
                }
                out.push(Tok::Str(v));
            }
            d if d.is_ascii_digit() => {
                let mut v = String::new();
                while i < c.len() && c[i].is_ascii_digit() {
                    v.push(c[i]);
                    i += 1;
                }
                out.push(Tok::Num(v.parse().unwrap()));
            }
            a if a.is_ascii_alphabetic() || a == '_' => {
                let mut v = String::new();
                while i < c.len() && (c[i].is_ascii_alphanumeric() || c[i] == '_') {
                    v.push(c[i]);
                    i += 1;
                }
                out.push(Tok::Ident(v));
            }
            x => return Err(format!("unexpected `{x}` in {s}")),
        }
    }
    Ok(out)
}

struct Parser<'a> {
    toks: Vec<Tok>,
    pos: usize,
    scope: &'a dyn Scope,
    /// Functions seen (for the "exactly these" check).
    used: &'a mut Vec<String>,
}

impl Parser<'_> {
    fn next(&mut self) -> Option<&Tok> {
        let t = self.toks.get(self.pos);
        self.pos += 1;
        t
    }

    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos)
    }

    fn expr(&mut self) -> Result<Value, String> {
        let mut v = match self.next() {
            Some(Tok::Str(s)) => Value::String(s.clone()),
            Some(Tok::Num(n)) => json!(*n),
            Some(Tok::Ident(name)) => {
                let name = name.clone();
                match self.next() {
                    Some(Tok::LParen) => {}
                    t => return Err(format!("expected `(` after {name}, got {t:?}")),
                }
                let mut args = Vec::new();
                if !matches!(self.peek(), Some(Tok::RParen)) {
                    loop {
                        args.push(self.expr()?);
                        match self.next() {
                            Some(Tok::Comma) => continue,
                            Some(Tok::RParen) => break,
                            t => return Err(format!("expected `,` or `)`, got {t:?}")),
                        }
                    }
                } else {
                    self.next();
                }
                self.used.push(name.clone());
                call(&name, &args, self.scope)?
            }
            t => return Err(format!("unexpected {t:?}")),
        };
        loop {
            match self.peek() {
                Some(Tok::Dot) => {
                    self.next();
                    let Some(Tok::Ident(p)) = self.next() else {
                        return Err("expected a property name after `.`".into());
                    };
                    let p = p.clone();
                    v = if v == json!(UNKNOWN) {
                        v
                    } else {
                        v.get(&p).cloned().unwrap_or(Value::Null)
                    };
                }
                Some(Tok::LBracket) => {
                    self.next();
                    let i = self.expr()?;
                    self.next();
                    v = match i {
                        Value::Number(n) => v[n.as_u64().unwrap_or(0) as usize].clone(),
                        Value::String(s) => v[s.as_str()].clone(),
                        _ => Value::Null,
                    };
                }
                _ => return Ok(v),
            }
        }
    }
}

fn s(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        v => v.to_string(),
    }
}

fn type_id(prefix: &str, kind: &str, names: &[Value]) -> String {
    let segs: Vec<&str> = kind.split('/').collect();
    let mut id = format!("{prefix}/providers/{}/{}", segs[0], segs[1]);
    for (i, n) in names.iter().enumerate() {
        if i > 0 {
            id.push('/');
            id.push_str(segs.get(i + 1).copied().unwrap_or("?"));
        }
        id.push('/');
        id.push_str(&s(n));
    }
    id
}

/// ARM's `guid()`: a deterministic GUID of its arguments.
pub fn guid(args: &[String]) -> String {
    let h = sha2::Sha256::digest(args.join("-").as_bytes());
    let b: Vec<u8> = h[..16].to_vec();
    uuid::Uuid::from_slice(&b).unwrap().to_string()
}

fn call(name: &str, a: &[Value], sc: &dyn Scope) -> Result<Value, String> {
    let rg_id = |rg: &str| format!("/subscriptions/{}/resourceGroups/{rg}", sc.subscription());
    Ok(match name {
        "parameters" => sc
            .parameter(&s(&a[0]))
            .ok_or_else(|| format!("parameter {} is not defined", s(&a[0])))?,
        "resourceId" => {
            // resourceId([rg,] type, name...): a type has a `/`.
            let (rg, rest) = if s(&a[0]).contains('/') {
                (sc.resource_group().to_string(), a)
            } else {
                (s(&a[0]), &a[1..])
            };
            json!(type_id(&rg_id(&rg), &s(&rest[0]), &rest[1..]))
        }
        "subscriptionResourceId" => json!(type_id(
            &format!("/subscriptions/{}", sc.subscription()),
            &s(&a[0]),
            &a[1..]
        )),
        "extensionResourceId" => json!(type_id(&s(&a[0]), &s(&a[1]), &a[2..])),
        "reference" => sc.reference(&s(&a[0])).unwrap_or_else(|| json!(UNKNOWN)),
        "guid" => json!(guid(&a.iter().map(s).collect::<Vec<_>>())),
        "resourceGroup" => json!({
            "id": rg_id(sc.resource_group()),
            "name": sc.resource_group(),
        }),
        "subscription" => json!({
            "id": format!("/subscriptions/{}", sc.subscription()),
            "subscriptionId": sc.subscription(),
            "tenantId": sc.tenant(),
        }),
        "not" => json!(!a[0].as_bool().ok_or("not() of a non-boolean")?),
        "empty" => json!(match &a[0] {
            Value::Null => true,
            Value::String(x) => x.is_empty(),
            Value::Array(x) => x.is_empty(),
            Value::Object(x) => x.is_empty(),
            _ => false,
        }),
        other => return Err(format!("unknown template function `{other}`")),
    })
}

/// Evaluates one string: `[expr]` is an expression, `[[` an escaped literal.
pub fn eval_str(text: &str, scope: &dyn Scope, used: &mut Vec<String>) -> Result<Value, String> {
    if text.starts_with("[[") || !(text.starts_with('[') && text.ends_with(']')) {
        return Ok(Value::String(
            text.strip_prefix('[')
                .filter(|_| text.starts_with("[["))
                .map(|t| format!("[{t}"))
                .unwrap_or_else(|| text.to_string()),
        ));
    }
    let mut p = Parser {
        toks: lex(&text[1..text.len() - 1])?,
        pos: 0,
        scope,
        used,
    };
    let v = p.expr()?;
    if p.pos < p.toks.len() {
        return Err(format!("trailing tokens in {text}"));
    }
    Ok(v)
}

/// Evaluates every string (and object key) of `v`.
pub fn eval(v: &Value, scope: &dyn Scope, used: &mut Vec<String>) -> Result<Value, String> {
    Ok(match v {
        Value::String(t) => eval_str(t, scope, used)?,
        Value::Array(a) => Value::Array(
            a.iter()
                .map(|x| eval(x, scope, used))
                .collect::<Result<_, _>>()?,
        ),
        Value::Object(o) => {
            let mut m = serde_json::Map::new();
            for (k, x) in o {
                let k = s(&eval_str(k, scope, used)?);
                m.insert(k, eval(x, scope, used)?);
            }
            Value::Object(m)
        }
        v => v.clone(),
    })
}
