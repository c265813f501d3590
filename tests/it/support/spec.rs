//! The official API descriptions in `../shared/specs/`, as validators.
//!
//! Every mock server validates each request body it accepts (and each response body it
//! builds) against the publisher's own schema, so a mock cannot drift from the real API.
//! Recipe from `../shared/specs/README.md`: compile the whole document with a root
//! `$ref` to the schema wanted, Draft 4, OpenAPI 3 `nullable` rewritten, BOM stripped.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};

use serde_json::Value;

/// `../shared` beside the repository (or `$AKS_BACKEND_SHARED`).
pub fn shared_dir() -> PathBuf {
    if let Ok(p) = std::env::var("AKS_BACKEND_SHARED") {
        return PathBuf::from(p);
    }
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared");
    assert!(
        p.join("specs").is_dir(),
        "the shared inputs are missing at {}: clone the project with shared/ beside it",
        p.display()
    );
    p
}

pub struct Spec {
    name: String,
    doc: Value,
    compiled: Mutex<HashMap<String, Arc<jsonschema::Validator>>>,
}

/// Loads a spec once per test process (`rel` is relative to `shared/specs/`).
pub fn spec(rel: &str) -> Arc<Spec> {
    static CACHE: OnceLock<Mutex<HashMap<String, Arc<Spec>>>> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    let mut cache = cache.lock().unwrap();
    cache
        .entry(rel.to_string())
        .or_insert_with(|| Arc::new(Spec::load(rel)))
        .clone()
}

impl Spec {
    fn load(rel: &str) -> Spec {
        let path = shared_dir().join("specs").join(rel);
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
        let text = text.trim_start_matches('\u{feff}');
        let mut doc: Value = serde_json::from_str(text)
            .unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()));
        rewrite_nullable(&mut doc);
        if let Some(o) = doc.as_object_mut() {
            // The document's own `$schema`/`$id` would pick another draft or base URI.
            o.remove("$schema");
            o.remove("$id");
            o.remove("id");
        }
        Spec {
            name: rel.to_string(),
            doc,
            compiled: Mutex::new(HashMap::new()),
        }
    }

    /// The raw document (for parameter lists, examples).
    pub fn doc(&self) -> &Value {
        &self.doc
    }

    fn validator(&self, pointer: &str) -> Arc<jsonschema::Validator> {
        let mut compiled = self.compiled.lock().unwrap();
        compiled
            .entry(pointer.to_string())
            .or_insert_with(|| {
                let mut root = self.doc.clone();
                if pointer != "#" {
                    root["$ref"] = Value::String(pointer.to_string());
                }
                Arc::new(
                    jsonschema::draft4::options()
                        .should_validate_formats(false)
                        .build(&root)
                        .unwrap_or_else(|e| {
                            panic!("{} {pointer} does not compile: {e}", self.name)
                        }),
                )
            })
            .clone()
    }

    /// Validates `instance` against the schema at `pointer` (e.g.
    /// `#/definitions/Registry`); the error lists every violation.
    pub fn check(&self, pointer: &str, instance: &Value) -> Result<(), String> {
        let v = self.validator(pointer);
        let errors: Vec<String> = v
            .iter_errors(instance)
            .map(|e| format!("{} at {}", e, e.instance_path()))
            .collect();
        if errors.is_empty() {
            Ok(())
        } else {
            Err(format!("{} {pointer}: {}", self.name, errors.join("; ")))
        }
    }

    /// Like `check`, for the body schema of an operation:
    /// `request_pointer("/repos/{owner}/{repo}/issues/{issue_number}/comments", "post")`.
    pub fn request_pointer(path: &str, method: &str) -> String {
        format!(
            "#/paths/{}/{method}/requestBody/content/application~1json/schema",
            path.replace('~', "~0")
                .replace('/', "~1")
                .replace('{', "%7B")
                .replace('}', "%7D")
        )
    }
}

/// OpenAPI 3.0 `nullable: true` is not JSON Schema; rewrite it so null validates.
fn rewrite_nullable(v: &mut Value) {
    match v {
        Value::Object(o) => {
            for (_, child) in o.iter_mut() {
                rewrite_nullable(child);
            }
            if o.remove("nullable") == Some(Value::Bool(true)) {
                match o.get("type").cloned() {
                    Some(Value::String(t)) => {
                        o.insert("type".into(), serde_json::json!([t, "null"]));
                        if let Some(Value::Array(e)) = o.get_mut("enum") {
                            e.push(Value::Null);
                        }
                    }
                    _ => {
                        let inner = Value::Object(std::mem::take(o));
                        o.insert("anyOf".into(), serde_json::json!([inner, {"type": "null"}]));
                    }
                }
            }
        }
        Value::Array(a) => a.iter_mut().for_each(rewrite_nullable),
        _ => {}
    }
}

#[test]
fn github_comment_body_validates_and_a_wrong_one_does_not() {
    let s = spec("github/api.github.com.2022-11-28.subset.json");
    let p = Spec::request_pointer(
        "/repos/{owner}/{repo}/issues/{issue_number}/comments",
        "post",
    );
    s.check(&p, &serde_json::json!({"body": "hi"})).unwrap();
    assert!(s.check(&p, &serde_json::json!({"text": "hi"})).is_err());
}

#[test]
fn sarif_schema_loads() {
    let s = spec("schemas/sarif-schema-2.1.0.json");
    assert!(
        s.check("#", &serde_json::json!({"version": "2.1.0", "runs": []}))
            .is_ok()
    );
    assert!(s.check("#", &serde_json::json!({"version": "9"})).is_err());
}
