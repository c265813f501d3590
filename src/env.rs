//! A snapshot of the process environment, taken once in `main`.
//!
//! Nothing else reads `std::env`: tests build an [`Env`] from a scrubbed map, so a
//! developer's `GITHUB_*` variables never leak into snapshots.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

#[derive(Clone, Debug, Default)]
pub struct Env {
    vars: BTreeMap<String, String>,
    cwd: PathBuf,
}

impl Env {
    /// The real environment of this process.
    pub fn from_process() -> Self {
        Self {
            vars: std::env::vars_os()
                .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
                .collect(),
            cwd: std::env::current_dir().unwrap_or_else(|_| PathBuf::from(".")),
        }
    }

    /// An environment made of exactly these variables (tests).
    pub fn from_pairs<K: Into<String>, V: Into<String>>(
        pairs: impl IntoIterator<Item = (K, V)>,
        cwd: impl Into<PathBuf>,
    ) -> Self {
        Self {
            vars: pairs
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
            cwd: cwd.into(),
        }
    }

    /// The value of `name`, or `None` when unset or empty (CI hosts set empty strings
    /// for inputs nobody gave).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.vars
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    pub fn is_true(&self, name: &str) -> bool {
        self.get(name)
            .is_some_and(|v| v.eq_ignore_ascii_case("true") || v == "1")
    }

    pub fn set(&mut self, name: impl Into<String>, value: impl Into<String>) {
        self.vars.insert(name.into(), value.into());
    }

    pub fn cwd(&self) -> &Path {
        &self.cwd
    }

    /// A path relative to the working directory made absolute.
    pub fn resolve_path(&self, p: impl AsRef<Path>) -> PathBuf {
        let p = p.as_ref();
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            self.cwd.join(p)
        }
    }

    pub fn vars(&self) -> impl Iterator<Item = (&str, &str)> {
        self.vars.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// The directory for the user's cache (`$XDG_CACHE_HOME`, `~/.cache`), or the temp dir.
    pub fn cache_home(&self) -> PathBuf {
        if let Some(x) = self.get("XDG_CACHE_HOME") {
            return PathBuf::from(x);
        }
        if let Some(h) = self.get("HOME") {
            return Path::new(h).join(".cache");
        }
        std::env::temp_dir()
    }

    /// The runner's temp dir (`RUNNER_TEMP`, `AGENT_TEMPDIRECTORY`) or the system one.
    pub fn temp_dir(&self) -> PathBuf {
        self.get("RUNNER_TEMP")
            .or_else(|| self.get("AGENT_TEMPDIRECTORY"))
            .map(PathBuf::from)
            .unwrap_or_else(std::env::temp_dir)
    }
}
