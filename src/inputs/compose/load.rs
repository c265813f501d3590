//! Reading Compose files the way Compose does: each file (never through a symlink) is
//! parsed as YAML, interpolated with the environment over the `.env` next to the first
//! file, validated against the official schema (vendored: `compose-spec.json`), then the
//! files are merged in order and the services of inactive profiles dropped.
//! Errors name the file, the key path and what the schema allows.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use serde_json::{Map, Value};

use super::interpolate::{self, Vars};
use super::merge::{self, OVERRIDE, RESET};
use crate::env::Env;
use crate::fsx::{self, Follow};

/// The Compose Specification's JSON schema, byte for byte from compose-spec/compose-spec.
pub const SCHEMA: &str = include_str!("compose-spec.json");

/// A Compose file larger than this is not a Compose file.
const LIMIT: u64 = 4 * 1024 * 1024;

/// Why a Compose file cannot be used (always bad input, exit 2).
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error(transparent)]
    Fs(#[from] fsx::FsError),
    #[error("{file}: not valid YAML: {message}")]
    Yaml { file: PathBuf, message: String },
    #[error("{file}: {path}: {message}")]
    Schema {
        file: PathBuf,
        path: String,
        message: String,
    },
    #[error("{file}: {path}: variable {variable}: {message}")]
    Interpolation {
        file: PathBuf,
        path: String,
        variable: String,
        message: String,
    },
    #[error("{file}: line {line} {message}")]
    DotEnv {
        file: PathBuf,
        line: usize,
        message: String,
    },
    #[error("{0}: no services (after profiles)")]
    NoServices(PathBuf),
}

/// The merged application model.
#[derive(Debug, Clone)]
pub struct Project {
    /// The first file's directory: relative paths (build contexts, bind mounts,
    /// env_file) start there.
    pub dir: PathBuf,
    pub files: Vec<PathBuf>,
    /// The whole merged document (services, secrets, volumes, ...).
    pub doc: Value,
    /// Services left out because none of their profiles is active.
    pub inactive: Vec<String>,
    /// Variables used without a value (Compose warns and uses "").
    pub unset_variables: Vec<String>,
    /// The variables interpolation saw (environment over `.env`).
    pub vars: BTreeMap<String, String>,
}

// why: the schema is vendored in the binary and compiled by every compose test; it
// cannot fail at run time.
#[allow(clippy::expect_used)]
fn schema() -> &'static jsonschema::Validator {
    static V: OnceLock<jsonschema::Validator> = OnceLock::new();
    V.get_or_init(|| {
        // Built on a thread of its own: with the crate's HTTP resolution on (as in test
        // builds, where features unify), its options own a blocking client whose drop
        // must not happen inside the async runtime.
        std::thread::spawn(|| {
            let schema: Value = serde_json::from_str(SCHEMA).expect("the vendored schema is JSON");
            jsonschema::draft7::options()
                .build(&schema)
                .expect("the vendored schema compiles")
        })
        .join()
        .expect("the schema compiles")
    })
}

/// Reads, interpolates, validates and merges `files`, keeping the services of
/// `profiles` (and those without profiles).
pub fn load(files: &[PathBuf], profiles: &[String], env: &Env) -> Result<Project, LoadError> {
    let dir = files
        .first()
        .and_then(|f| f.parent())
        .map(Path::to_path_buf)
        .unwrap_or_else(|| env.cwd().to_path_buf());
    let mut vars = BTreeMap::new();
    let dotenv = dir.join(".env");
    if std::fs::symlink_metadata(&dotenv).is_ok() {
        let text = fsx::read_to_string(&dotenv, "Compose .env file", Follow::No, LIMIT)?;
        let pairs = interpolate::dotenv(&text).map_err(|(line, message)| LoadError::DotEnv {
            file: dotenv.clone(),
            line,
            message,
        })?;
        vars.extend(pairs);
    }
    // The environment wins over `.env`, as in Compose.
    vars.extend(env.vars().map(|(k, v)| (k.to_string(), v.to_string())));

    let mut doc = Value::Object(Map::new());
    let mut unset = Vec::new();
    for file in files {
        let text = fsx::read_to_string(file, "Compose file", Follow::No, LIMIT)?;
        let mut one = parse(file, &text)?;
        let mut v = Vars {
            values: &vars,
            missing: Vec::new(),
        };
        interpolate::value(&mut one, &mut v).map_err(|(path, f)| LoadError::Interpolation {
            file: file.clone(),
            path,
            variable: f.variable,
            message: f.message,
        })?;
        unset.extend(v.missing);
        validate(file, &merge::strip(one.clone()))?;
        merge::normalize(&mut one);
        merge::merge(&mut doc, one, &[]);
    }
    let doc = merge::strip(doc);
    let mut doc = doc;
    let inactive = apply_profiles(&mut doc, profiles);
    let empty = doc
        .get("services")
        .and_then(Value::as_object)
        .is_none_or(Map::is_empty);
    if empty {
        return Err(LoadError::NoServices(
            files.first().cloned().unwrap_or_default(),
        ));
    }
    unset.sort();
    unset.dedup();
    Ok(Project {
        dir,
        files: files.to_vec(),
        doc,
        inactive,
        unset_variables: unset,
        vars,
    })
}

/// YAML into JSON values: anchors and `<<` merge keys resolved, `!reset` / `!override`
/// kept as markers for the merge, keys as strings.
pub fn parse(file: &Path, text: &str) -> Result<Value, LoadError> {
    let yaml_err = |message: String| LoadError::Yaml {
        file: file.to_path_buf(),
        message,
    };
    let mut y: serde_norway::Value =
        serde_norway::from_str(text).map_err(|e| yaml_err(e.to_string()))?;
    y.apply_merge().map_err(|e| yaml_err(e.to_string()))?;
    let v = to_json(y).map_err(yaml_err)?;
    if !v.is_object() {
        return Err(yaml_err("the top level is not a mapping".into()));
    }
    Ok(v)
}

fn to_json(y: serde_norway::Value) -> Result<Value, String> {
    use serde_norway::Value as Y;
    Ok(match y {
        Y::Null => Value::Null,
        Y::Bool(b) => Value::Bool(b),
        Y::Number(n) => serde_json::to_value(&n).map_err(|e| e.to_string())?,
        Y::String(s) => Value::String(s),
        Y::Sequence(s) => Value::Array(s.into_iter().map(to_json).collect::<Result<_, _>>()?),
        Y::Mapping(m) => {
            let mut out = Map::new();
            for (k, v) in m {
                let k = match k {
                    Y::String(s) => s,
                    Y::Number(n) => n.to_string(),
                    Y::Bool(b) => b.to_string(),
                    other => return Err(format!("a mapping key is not a string: {other:?}")),
                };
                out.insert(k, to_json(v)?);
            }
            Value::Object(out)
        }
        Y::Tagged(t) if t.tag == "reset" => serde_json::json!({ RESET: null }),
        Y::Tagged(t) if t.tag == "override" => {
            let mut m = Map::new();
            m.insert(OVERRIDE.into(), to_json(t.value)?);
            Value::Object(m)
        }
        Y::Tagged(t) => return Err(format!("unsupported YAML tag {}", t.tag)),
    })
}

/// The schema's verdict on one file; the first few errors, each with its key path.
fn validate(file: &Path, doc: &Value) -> Result<(), LoadError> {
    let mut errors = schema().iter_errors(doc).take(5).peekable();
    if errors.peek().is_none() {
        return Ok(());
    }
    let mut paths = Vec::new();
    let mut messages = Vec::new();
    for e in errors {
        let p = key_path(&e);
        messages.push(format!("{p}: {}", describe(&e)));
        paths.push(p);
    }
    Err(LoadError::Schema {
        file: file.to_path_buf(),
        path: paths.remove(0),
        message: format!(
            "does not match the Compose Specification: {}",
            messages.join("; ")
        ),
    })
}

fn key_path(e: &jsonschema::ValidationError<'_>) -> String {
    let p = e.instance_path().to_string();
    if p.is_empty() {
        "(top level)".to_string()
    } else {
        p.trim_start_matches('/').replace('/', ".")
    }
}

/// A `oneOf` / `anyOf` failure says why the alternative of the right type failed
/// (`publishd` is not allowed), not only that none matched.
fn describe(e: &jsonschema::ValidationError<'_>) -> String {
    use jsonschema::error::ValidationErrorKind as K;
    match e.kind() {
        K::OneOfNotValid { context } | K::AnyOf { context } => {
            let detail: Vec<String> = context
                .iter()
                .filter(|alt| !alt.iter().all(|x| matches!(x.kind(), K::Type { .. })))
                .flat_map(|alt| {
                    alt.iter().map(|x| match key_path(x) {
                        p if p == key_path(e) => describe(x),
                        p => format!("{p}: {}", describe(x)),
                    })
                })
                .collect();
            if detail.is_empty() {
                e.masked().to_string()
            } else {
                detail.join("; ")
            }
        }
        _ => e.masked().to_string(),
    }
}

/// Drops services none of whose `profiles` is active (15-profiles.md); services without
/// `profiles` are always on. Returns the dropped names.
fn apply_profiles(doc: &mut Value, active: &[String]) -> Vec<String> {
    let Some(services) = doc.get_mut("services").and_then(Value::as_object_mut) else {
        return Vec::new();
    };
    let all = active.iter().any(|p| p == "*");
    let off: Vec<String> = services
        .iter()
        .filter(|(_, s)| {
            s.get("profiles")
                .and_then(Value::as_array)
                .is_some_and(|ps| {
                    !ps.is_empty()
                        && !all
                        && !ps
                            .iter()
                            .filter_map(Value::as_str)
                            .any(|p| active.iter().any(|a| a == p))
                })
        })
        .map(|(k, _)| k.clone())
        .collect();
    for k in &off {
        services.remove(k);
    }
    off
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    #[test]
    fn the_vendored_schema_is_the_specifications() {
        let shared =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/specs/compose/compose-spec.json");
        if let Ok(official) = std::fs::read_to_string(shared) {
            assert_eq!(
                SCHEMA, official,
                "src/inputs/compose/compose-spec.json drifted"
            );
        }
    }

    #[test]
    fn dot_env_feeds_interpolation_and_the_environment_wins() {
        let d = tempfile::tempdir().unwrap();
        write(d.path(), ".env", "TAG=from-file\nPORT=9000\n");
        let f = write(
            d.path(),
            "compose.yaml",
            "services:\n  web:\n    image: \"web:${TAG}\"\n    ports: [\"${PORT}:80\"]\n",
        );
        let env = Env::from_pairs([("TAG", "from-env")], d.path());
        let p = load(&[f], &[], &env).unwrap();
        assert_eq!(p.doc["services"]["web"]["image"], "web:from-env");
        assert_eq!(p.doc["services"]["web"]["ports"][0], "9000:80");
    }

    #[test]
    fn schema_errors_name_the_file_and_key_path() {
        let d = tempfile::tempdir().unwrap();
        let f = write(
            d.path(),
            "compose.yaml",
            "services:\n  web:\n    image: x\n    restart_policy: always\n",
        );
        let e = load(
            std::slice::from_ref(&f),
            &[],
            &Env::from_pairs::<&str, &str>([], d.path()),
        )
        .unwrap_err();
        let s = e.to_string();
        assert!(
            s.contains("compose.yaml") && s.contains("services.web"),
            "{s}"
        );
        assert!(s.contains("restart_policy"), "{s}");
    }

    #[test]
    fn a_symlinked_compose_file_is_refused() {
        let d = tempfile::tempdir().unwrap();
        let real = write(d.path(), "real.yaml", "services:\n  a:\n    image: x\n");
        let link = d.path().join("compose.yaml");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        let e = load(&[link], &[], &Env::from_pairs::<&str, &str>([], d.path())).unwrap_err();
        assert!(e.to_string().contains("symbolic link"), "{e}");
    }

    #[test]
    fn profiles_switch_services_on() {
        let d = tempfile::tempdir().unwrap();
        let f = write(
            d.path(),
            "compose.yaml",
            "services:\n  web:\n    image: x\n  debug:\n    image: y\n    profiles: [debug]\n",
        );
        let env = Env::from_pairs::<&str, &str>([], d.path());
        let p = load(std::slice::from_ref(&f), &[], &env).unwrap();
        assert_eq!(p.inactive, vec!["debug".to_string()]);
        let p = load(&[f], &["debug".into()], &env).unwrap();
        assert!(p.doc["services"].get("debug").is_some());
    }
}
