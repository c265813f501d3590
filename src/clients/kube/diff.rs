//! What an apply would change: the live object against the server-side dry run's
//! answer, as `path: old -> new` lines for the report. Pure.

use serde_json::Value;

/// Fields the server owns and that change on every write; not part of a diff.
const NOISE: &[&str] = &[
    "/metadata/managedFields",
    "/metadata/resourceVersion",
    "/metadata/generation",
    "/metadata/uid",
    "/metadata/creationTimestamp",
    "/status",
];

const MAX_VALUE: usize = 80;

fn show(v: Option<&Value>) -> String {
    match v {
        None => "(none)".into(),
        Some(v) => {
            let s = v.to_string();
            if s.chars().count() > MAX_VALUE {
                format!("{}…", s.chars().take(MAX_VALUE).collect::<String>())
            } else {
                s
            }
        }
    }
}

fn walk(path: &str, old: Option<&Value>, new: Option<&Value>, out: &mut Vec<String>) {
    if NOISE.contains(&path) || old == new {
        return;
    }
    match (old, new) {
        (Some(Value::Object(a)), Some(Value::Object(b))) => {
            let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
            keys.sort();
            keys.dedup();
            for k in keys {
                let p = format!("{path}/{}", k.replace('~', "~0").replace('/', "~1"));
                walk(&p, a.get(k), b.get(k), out);
            }
        }
        (Some(Value::Array(a)), Some(Value::Array(b))) if a.len() == b.len() => {
            for (i, (x, y)) in a.iter().zip(b).enumerate() {
                walk(&format!("{path}/{i}"), Some(x), Some(y), out);
            }
        }
        _ => out.push(format!("{path}: {} -> {}", show(old), show(new))),
    }
}

/// The changed leaves between the live object and what the apply would store.
pub fn diff(live: &Value, applied: &Value) -> Vec<String> {
    let mut out = Vec::new();
    walk("", Some(live), Some(applied), &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn only_real_changes() {
        let live = json!({"metadata": {"name": "a", "resourceVersion": "1", "labels": {"x": "1"}},
            "spec": {"template": {"spec": {"containers": [{"name": "api", "image": "r/api@sha256:1"}]}}},
            "status": {"replicas": 1}});
        let new = json!({"metadata": {"name": "a", "resourceVersion": "2", "labels": {"x": "1", "a/b": "2"}},
            "spec": {"template": {"spec": {"containers": [{"name": "api", "image": "r/api@sha256:2"}]}}},
            "status": {"replicas": 3}});
        assert_eq!(
            diff(&live, &new),
            [
                "/metadata/labels/a~1b: (none) -> \"2\"",
                "/spec/template/spec/containers/0/image: \"r/api@sha256:1\" -> \"r/api@sha256:2\"",
            ]
        );
        assert!(diff(&live, &live).is_empty());
    }
}
