//! Raw inputs to resolved settings, through one funnel:
//! CLI flags > CI inputs (`INPUT_<NAME>`) > config file (`aks-backend.toml`) > defaults.
//!
//! [`Resolved`] keeps where each value came from, so an error can name the exact input
//! ("`--severity`", "`INPUT_SEVERITY`", "`aks-backend.toml` [scan] severity") and the
//! `--print-settings` flag can show it.

pub mod catalog;
pub mod ci;
pub mod compose;
mod ignore_file;
pub mod key;
pub mod parse;
pub mod settings;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use self::key::{Defaulted, Key};
use crate::env::Env;
use crate::model::diagnostic::{Diagnostic, Exit};
use crate::model::step::EarlierOutputs;
pub use catalog::{Kind, Spec, Step};

/// Where a value came from.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Origin {
    Flag,
    Env(String),
    Config(PathBuf),
    /// An earlier step's output, from the state file (`build.image-ref`).
    State(String),
    Default,
}

impl Origin {
    /// How to name the input `name` from this origin in an error.
    pub fn describe(&self, name: &str) -> String {
        match self {
            Origin::Flag => format!("--{name}"),
            Origin::Env(var) => format!("input `{name}` (env {var})"),
            Origin::Config(p) => format!("`{name}` in {}", p.display()),
            Origin::State(from) => format!("`{name}` (from the {from} output of an earlier step)"),
            Origin::Default => format!("the default of `{name}`"),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum InputError {
    #[error("{input}: {problem}")]
    Invalid {
        input: String,
        problem: String,
        expected: String,
    },
    #[error("{0}")]
    Missing(String, String),
    #[error("{0}")]
    Conflict(String, String),
    #[error("cannot read config file {path}: {source}")]
    ConfigRead {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config file {path} is not valid TOML: {message}")]
    ConfigSyntax { path: PathBuf, message: String },
    #[error("config file {path}: unknown key `{key}`{section}")]
    ConfigUnknownKey {
        path: PathBuf,
        key: String,
        section: String,
        suggestion: Option<String>,
    },
    #[error("cannot read {what} {path}: {source}")]
    File {
        what: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Fs(#[from] crate::fsx::FsError),
}

impl InputError {
    /// An input whose value is wrong; `expected` says what would be right.
    pub fn invalid(
        input: impl Into<String>,
        problem: impl Into<String>,
        expected: impl Into<String>,
    ) -> Self {
        InputError::Invalid {
            input: input.into(),
            problem: problem.into(),
            expected: expected.into(),
        }
    }
}

impl Diagnostic for InputError {
    fn exit(&self) -> Exit {
        Exit::BadInput
    }

    fn hint(&self) -> Option<String> {
        match self {
            InputError::Invalid { expected, .. } => Some(format!("expected {expected}")),
            InputError::Missing(_, hint) | InputError::Conflict(_, hint) => Some(hint.clone()),
            InputError::ConfigUnknownKey { suggestion, .. } => Some(match suggestion {
                Some(s) => format!("did you mean `{s}`? Keys are the flag names without `--`"),
                None => {
                    "keys are the flag names without `--`; see `aks-backend <step> --help`".into()
                }
            }),
            InputError::ConfigSyntax { .. } => {
                Some("values are strings, booleans, numbers or arrays of strings".into())
            }
            InputError::Fs(e) => e.hint(),
            _ => None,
        }
    }
}

/// One resolved value.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Value {
    pub values: Vec<String>,
    pub origin: Origin,
}

/// All settings of one step, resolved, with their origins.
#[derive(Clone, Debug, Default)]
pub struct Resolved {
    map: BTreeMap<&'static str, Value>,
}

/// The CLI's view: values given on the command line, by setting name.
pub type Flags = BTreeMap<String, Vec<String>>;

/// The config file: top-level keys apply to every step, `[step]` tables to one.
#[derive(Clone, Debug, Default)]
pub struct ConfigFile {
    path: PathBuf,
    global: BTreeMap<String, Vec<String>>,
    steps: BTreeMap<String, BTreeMap<String, Vec<String>>>,
}

impl ConfigFile {
    pub const DEFAULT_NAME: &'static str = "aks-backend.toml";

    /// Loads `explicit` (must exist) or `./aks-backend.toml` (if it exists).
    pub fn load(env: &Env, explicit: Option<&Path>) -> Result<Option<Self>, InputError> {
        let path = match explicit {
            Some(p) => env.resolve_path(p),
            None => {
                let p = env.cwd().join(Self::DEFAULT_NAME);
                // Not `is_file`: a link or device here is refused below, not skipped.
                if std::fs::symlink_metadata(&p).is_err() {
                    return Ok(None);
                }
                p
            }
        };
        use crate::fsx;
        let text = fsx::read_to_string(&path, "config file", fsx::Follow::No, fsx::SMALL)?;
        Self::parse(&path, &text).map(Some)
    }

    pub fn parse(path: &Path, text: &str) -> Result<Self, InputError> {
        // A UTF-8 byte order mark (Windows editors) is no TOML error.
        let text = text.strip_prefix('\u{FEFF}').unwrap_or(text);
        let table: toml::Table =
            text.parse()
                .map_err(|e: toml::de::Error| InputError::ConfigSyntax {
                    path: path.to_path_buf(),
                    message: e.message().to_string(),
                })?;
        let mut cfg = ConfigFile {
            path: path.to_path_buf(),
            ..Default::default()
        };
        for (key, value) in table {
            if let Some(step) = Step::ALL.iter().find(|s| s.name() == key) {
                let toml::Value::Table(t) = value else {
                    return Err(InputError::ConfigSyntax {
                        path: path.to_path_buf(),
                        message: format!("[{key}] must be a table"),
                    });
                };
                let mut m = BTreeMap::new();
                for (k, v) in t {
                    check_key(path, &k, Some(*step))?;
                    m.insert(k.clone(), toml_values(path, &k, v)?);
                }
                cfg.steps.insert(key, m);
            } else {
                check_key(path, &key, None)?;
                let v = toml_values(path, &key, value)?;
                cfg.global.insert(key, v);
            }
        }
        Ok(cfg)
    }

    /// `spec` under any of its names (`tag`, `tags`), the step's table first.
    fn get(&self, step: Step, spec: &Spec) -> Option<&Vec<String>> {
        let table = self.steps.get(step.name());
        spec.names()
            .find_map(|n| table.and_then(|m| m.get(n)))
            .or_else(|| spec.names().find_map(|n| self.global.get(n)))
    }
}

fn check_key(path: &Path, key: &str, step: Option<Step>) -> Result<(), InputError> {
    let known = match step {
        Some(st) => catalog::for_step(st).any(|s| s.names().any(|n| n == key)),
        None => catalog::lookup(key).is_some(),
    };
    if known {
        return Ok(());
    }
    let candidates: Vec<&str> = match step {
        Some(st) => catalog::for_step(st).flat_map(|s| s.names()).collect(),
        None => catalog::SETTINGS.iter().flat_map(|s| s.names()).collect(),
    };
    Err(InputError::ConfigUnknownKey {
        path: path.to_path_buf(),
        key: key.to_string(),
        section: step
            .map(|s| format!(" in [{}]", s.name()))
            .unwrap_or_default(),
        suggestion: parse::closest(key, candidates),
    })
}

fn toml_values(path: &Path, key: &str, v: toml::Value) -> Result<Vec<String>, InputError> {
    let one = |v: toml::Value| -> Result<String, InputError> {
        match v {
            toml::Value::String(s) => Ok(s),
            toml::Value::Boolean(b) => Ok(b.to_string()),
            toml::Value::Integer(i) => Ok(i.to_string()),
            toml::Value::Float(f) => Ok(f.to_string()),
            other => Err(InputError::ConfigSyntax {
                path: path.to_path_buf(),
                message: format!("`{key}` has an unsupported value {other}"),
            }),
        }
    };
    match v {
        toml::Value::Array(a) => a.into_iter().map(one).collect(),
        v => Ok(vec![one(v)?]),
    }
}

/// Splits a CI input or config string into list items.
fn split(spec: &Spec, raw: &[String]) -> Vec<String> {
    match spec.kind {
        Kind::List => raw
            .iter()
            .flat_map(|r| r.split(['\n', ',']))
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(String::from)
            .collect(),
        Kind::Lines => raw
            .iter()
            .flat_map(|r| r.lines())
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(String::from)
            .collect(),
        Kind::Value | Kind::Bool => raw.iter().map(|s| s.trim().to_string()).collect(),
    }
}

/// `given` names the repository of `pushed` (`r.io/api@sha256:..`) without a digest.
fn same_repository(given: &Value, pushed: &Value) -> bool {
    let (Some(g), Some(p)) = (given.values.last(), pushed.values.last()) else {
        return false;
    };
    if g.contains('@') {
        return false;
    }
    let repo = p.split('@').next().unwrap_or(p);
    let g_repo = match g.rfind(':') {
        Some(i) if !g[i..].contains('/') => &g[..i],
        _ => g.as_str(),
    };
    g_repo == repo
}

impl Resolved {
    /// The funnel: flag > `INPUT_<NAME>` env > an earlier step's output (state file) >
    /// config file > default. One exception: an `image` given without a digest yields to
    /// build's digest of the same repository, so `image: myacr.azurecr.io/api` on every
    /// workflow step still scans and deploys exactly what build pushed.
    pub fn resolve(
        step: Step,
        flags: &Flags,
        env: &Env,
        config: Option<&ConfigFile>,
        state: Option<&dyn EarlierOutputs>,
    ) -> Self {
        let mut map = BTreeMap::new();
        for spec in catalog::for_step(step) {
            let from_flag = flags
                .get(spec.name)
                .filter(|v| !v.is_empty())
                .map(|v| Value {
                    values: split(spec, v),
                    origin: Origin::Flag,
                });
            let from_env = || {
                // The input name first (INPUT_TAGS), then the flag's and the aliases'.
                let names = std::iter::once(spec.input_name()).chain(spec.names());
                let vars = names.flat_map(|n| {
                    let upper = format!("INPUT_{}", n.to_ascii_uppercase());
                    let underscored = upper.replace('-', "_");
                    [upper, underscored]
                });
                vars.into_iter().find_map(|var| {
                    env.get(&var).map(|v| Value {
                        values: split(spec, &[v.to_string()]),
                        origin: Origin::Env(var.clone()),
                    })
                })
            };
            let from_config = || {
                config.and_then(|c| {
                    c.get(step, spec).map(|v| Value {
                        values: split(spec, v),
                        origin: Origin::Config(c.path.clone()),
                    })
                })
            };
            let from_default = || {
                spec.default.map(|d| Value {
                    values: split(spec, &[d.to_string()]),
                    origin: Origin::Default,
                })
            };
            let from_state = state
                .and_then(|st| st.feed(step, spec.name))
                .map(|(v, from)| Value {
                    // A list output (build's `images`) is one item a line.
                    values: split(spec, &[v]),
                    origin: Origin::State(from),
                });
            // A source whose value splits into nothing (`timeout = []` in the config file,
            // `INPUT_SEVERITY=,`) counts as not given: the next source applies.
            let from_flag = from_flag.filter(|v| !v.values.is_empty());
            let from_env = || from_env().filter(|v| !v.values.is_empty());
            let from_config = || from_config().filter(|v| !v.values.is_empty());
            let given = from_flag.or_else(from_env);
            let given = match (given, &from_state) {
                (Some(g), Some(st)) if spec.name == "image" && same_repository(&g, st) => None,
                (g, _) => g,
            };
            if let Some(v) = given
                .or(from_state)
                .or_else(from_config)
                .or_else(from_default)
            {
                map.insert(spec.name, v);
            }
        }
        Resolved { map }
    }

    pub fn get(&self, key: impl Into<Key>) -> Option<&Value> {
        self.map.get(key.into().name())
    }

    /// The single value of `key` (the last one given), with the way to name it.
    pub fn one(&self, key: impl Into<Key>) -> Option<(&str, String)> {
        let name = key.into().name();
        let v = self.map.get(name)?;
        v.values
            .last()
            .map(|s| (s.as_str(), v.origin.describe(name)))
    }

    /// The value of a setting with a default, with the way to name it: never missing
    /// (the catalog's default when nothing else was given, or when every source split
    /// into nothing).
    pub fn value(&self, key: Defaulted) -> (&str, String) {
        self.one(key)
            .unwrap_or_else(|| (key.default, Origin::Default.describe(key.key.name())))
    }

    /// How the user gave `key`, for an error about it (`--name` when it was not given).
    pub fn input(&self, key: impl Into<Key>) -> String {
        let key = key.into();
        self.one(key)
            .map(|(_, i)| i)
            .unwrap_or_else(|| Origin::Flag.describe(key.name()))
    }

    /// The value of a setting with a default, as text.
    pub fn text(&self, key: Defaulted) -> String {
        self.value(key).0.to_string()
    }

    /// The value of a path setting with a default, resolved against the working directory.
    pub fn file(&self, env: &Env, key: Defaulted) -> PathBuf {
        env.resolve_path(self.value(key).0)
    }

    /// The value of a list setting that takes one item today (`platforms`, `trivyignores`:
    /// lists in the action ecosystem); more than one is an error that says so.
    pub fn single(&self, key: impl Into<Key>, what: &str) -> Result<Option<String>, InputError> {
        let name = key.into().name();
        let Some(v) = self.map.get(name) else {
            return Ok(None);
        };
        match v.values.as_slice() {
            [] => Ok(None),
            [one] => Ok(Some(one.clone())),
            many => Err(InputError::invalid(
                v.origin.describe(name),
                format!(
                    "{} values given ({}); one {what} is supported",
                    many.len(),
                    many.join(", ")
                ),
                format!("a single {what}"),
            )),
        }
    }

    pub fn string(&self, key: impl Into<Key>) -> Option<String> {
        self.one(key).map(|(v, _)| v.to_string())
    }

    pub fn list(&self, key: impl Into<Key>) -> Vec<String> {
        self.map
            .get(key.into().name())
            .map(|v| v.values.clone())
            .unwrap_or_default()
    }

    pub fn bool(&self, key: impl Into<Key>) -> Result<bool, InputError> {
        match self.one(key) {
            None => Ok(false),
            Some((v, input)) => parse::boolean(&input, v),
        }
    }

    pub fn path(&self, env: &Env, key: impl Into<Key>) -> Option<PathBuf> {
        self.one(key).map(|(v, _)| env.resolve_path(v))
    }

    /// Each setting with its value (secrets redacted) and origin, for `--print-settings`.
    pub fn describe(&self) -> BTreeMap<&'static str, Value> {
        self.map
            .iter()
            .map(|(k, v)| {
                let secret = catalog::find(k).is_some_and(|s| s.secret);
                let mut v = v.clone();
                if secret {
                    v.values = v.values.iter().map(|_| "***".to_string()).collect();
                }
                (*k, v)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue 13 item 11: a BOM made the config file "invalid TOML".
    #[test]
    fn a_byte_order_mark_in_the_config_file_is_accepted() {
        let c = ConfigFile::parse(
            Path::new("aks-backend.toml"),
            "\u{FEFF}severity = \"HIGH\"\n[deploy]\nreplicas = \"3\"\n",
        )
        .unwrap();
        assert_eq!(c.global["severity"], ["HIGH"]);
    }

    /// Found by the `config_file` fuzz target: `timeout = []` left a value with nothing
    /// in it, and the step's "has a default" expectation panicked.
    #[test]
    fn fuzz_config_empty_array_falls_back_to_the_default() {
        let cfg =
            ConfigFile::parse(Path::new("aks-backend.toml"), "[deploy]\ntimeout = []\n").unwrap();
        let env = Env::from_pairs([("INPUT_SEVERITY", ",")], "/");
        let r = Resolved::resolve(Step::Deploy, &Flags::new(), &env, Some(&cfg), None);
        let (_, from) = r.one(key::TIMEOUT).expect("the default applies");
        assert_eq!(from, "the default of `timeout`");
        let r = Resolved::resolve(Step::Scan, &Flags::new(), &env, None, None);
        assert!(r.one(key::SEVERITY).is_some());
    }
}
