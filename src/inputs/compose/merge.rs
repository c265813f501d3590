//! Several Compose files into one model, as 13-merge.md says: mappings merge key by key,
//! sequences append, except `command`, `entrypoint` and `healthcheck.test` (the later
//! file wins), the unique resources (`ports`, `volumes`, `secrets`, `configs`: an entry
//! with the same key replaces the earlier one), and `!reset` / `!override` tags.
//! `environment`, `labels` and `build.args` are brought to their mapping form first, so
//! the list and mapping syntaxes merge with each other.

use serde_json::{Map, Value};

/// What a `!reset` tag became while reading YAML.
pub const RESET: &str = "\u{0}reset";
/// What a `!override` tag became: `{OVERRIDE: value}`.
pub const OVERRIDE: &str = "\u{0}override";

/// `base` with `over` merged into it. `path` is the key path of `base` (for the special
/// cases, which depend on where a value sits).
pub fn merge(base: &mut Value, over: Value, path: &[&str]) {
    if let Some(v) = tagged_override(&over) {
        *base = v;
        return;
    }
    match (base, over) {
        (Value::Object(b), Value::Object(o)) => {
            for (k, v) in o {
                if is_reset(&v) {
                    b.remove(&k);
                    continue;
                }
                let mut p = path.to_vec();
                p.push(&k);
                match b.get_mut(&k) {
                    Some(existing) => merge(existing, v, &p),
                    None => {
                        b.insert(k.clone(), strip(v));
                    }
                }
            }
        }
        (b @ Value::Array(_), Value::Array(o)) => {
            let o: Vec<Value> = o.into_iter().filter(|v| !is_reset(v)).map(strip).collect();
            let last = path.last().copied().unwrap_or("");
            let in_service = matches!(path, ["services", _, _]);
            if in_service && matches!(last, "command" | "entrypoint")
                || matches!(path, ["services", _, "healthcheck", "test"])
            {
                *b = Value::Array(o);
                return;
            }
            let Value::Array(items) = b else { return };
            let unique = in_service && matches!(last, "ports" | "volumes" | "secrets" | "configs");
            for v in o {
                let pos = unique
                    .then(|| {
                        let key = unique_key(last, &v);
                        items.iter().position(|x| unique_key(last, x) == key)
                    })
                    .flatten();
                match pos.and_then(|i| items.get_mut(i)) {
                    Some(slot) => *slot = v,
                    None => items.push(v),
                }
            }
        }
        (b, o) => *b = strip(o),
    }
}

fn is_reset(v: &Value) -> bool {
    matches!(v, Value::Object(m) if m.len() == 1 && m.contains_key(RESET))
}

fn tagged_override(v: &Value) -> Option<Value> {
    match v {
        Value::Object(m) if m.len() == 1 => m.get(OVERRIDE).cloned().map(strip),
        _ => None,
    }
}

/// The value with its tags resolved (a single file: `!reset` removes, `!override` is
/// the value).
pub fn strip(v: Value) -> Value {
    if let Some(v) = tagged_override(&v) {
        return v;
    }
    match v {
        Value::Object(m) => Value::Object(
            m.into_iter()
                .filter(|(_, v)| !is_reset(v))
                .map(|(k, v)| (k, strip(v)))
                .collect(),
        ),
        Value::Array(a) => {
            Value::Array(a.into_iter().filter(|v| !is_reset(v)).map(strip).collect())
        }
        v => v,
    }
}

/// The uniqueness key of a `ports` / `volumes` / `secrets` / `configs` entry.
fn unique_key(attr: &str, v: &Value) -> String {
    match (attr, v) {
        ("ports", v) => v.to_string(),
        (_, Value::Object(m)) => match m.get("target").and_then(Value::as_str) {
            Some(t) => t.to_string(),
            None if attr == "secrets" || attr == "configs" => {
                m.get("source").map(Value::to_string).unwrap_or_default()
            }
            None => v.to_string(),
        },
        ("volumes", Value::String(s)) => {
            let mut parts = s.split(':');
            let first = parts.next().unwrap_or_default();
            parts.next().unwrap_or(first).to_string()
        }
        (_, Value::String(s)) => s.clone(),
        (_, v) => v.to_string(),
    }
}

/// `KEY=VALUE` lists into mappings, for `environment`, `labels` and `build.args` of
/// every service (a bare `KEY` becomes `KEY: null`, "unset unless the environment has it").
pub fn normalize(doc: &mut Value) {
    let Some(services) = doc.get_mut("services").and_then(Value::as_object_mut) else {
        return;
    };
    for svc in services.values_mut() {
        let Some(svc) = svc.as_object_mut() else {
            continue;
        };
        for key in ["environment", "labels"] {
            if let Some(v) = svc.get_mut(key) {
                to_map(v);
            }
        }
        if let Some(args) = svc.get_mut("build").and_then(|b| b.get_mut("args")) {
            to_map(args);
        }
    }
}

fn to_map(v: &mut Value) {
    if let Value::Array(items) = v {
        let mut m = Map::new();
        for item in items.iter() {
            if let Some(s) = item.as_str() {
                match s.split_once('=') {
                    Some((k, val)) => m.insert(k.to_string(), Value::String(val.to_string())),
                    None => m.insert(s.to_string(), Value::Null),
                };
            }
        }
        *v = Value::Object(m);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn merged(a: Value, b: Value) -> Value {
        let mut a = a;
        merge(&mut a, b, &[]);
        a
    }

    #[test]
    fn mappings_merge_and_sequences_append() {
        let got = merged(
            json!({"services": {"web": {"image": "a", "dns": ["1.1.1.1"], "environment": {"A": "1"}}}}),
            json!({"services": {"web": {"image": "b", "dns": ["8.8.8.8"], "environment": {"B": "2"}}}}),
        );
        assert_eq!(
            got,
            json!({"services": {"web": {"image": "b", "dns": ["1.1.1.1", "8.8.8.8"], "environment": {"A": "1", "B": "2"}}}})
        );
    }

    #[test]
    fn commands_are_replaced_and_unique_resources_merge_by_key() {
        let got = merged(
            json!({"services": {"w": {"command": ["echo", "foo"], "volumes": ["foo:/work", "x:/x"],
                   "healthcheck": {"test": ["CMD", "a"]}}}}),
            json!({"services": {"w": {"command": ["echo", "bar"], "volumes": ["bar:/work"],
                   "healthcheck": {"test": ["CMD", "b"]}}}}),
        );
        assert_eq!(got["services"]["w"]["command"], json!(["echo", "bar"]));
        assert_eq!(
            got["services"]["w"]["volumes"],
            json!(["bar:/work", "x:/x"])
        );
        assert_eq!(
            got["services"]["w"]["healthcheck"]["test"],
            json!(["CMD", "b"])
        );
    }

    #[test]
    fn reset_removes_and_override_replaces() {
        let got = merged(
            json!({"services": {"w": {"ports": ["8080:80"], "build": "."}}}),
            json!({"services": {"w": {"ports": {OVERRIDE: ["8443:443"]}, "build": {RESET: null}}}}),
        );
        assert_eq!(got, json!({"services": {"w": {"ports": ["8443:443"]}}}));
    }

    #[test]
    fn list_environments_become_mappings() {
        let mut d =
            json!({"services": {"w": {"environment": ["A=1", "B"], "build": {"args": ["V=2"]}}}});
        normalize(&mut d);
        assert_eq!(
            d["services"]["w"]["environment"],
            json!({"A": "1", "B": null})
        );
        assert_eq!(d["services"]["w"]["build"]["args"], json!({"V": "2"}));
    }
}
