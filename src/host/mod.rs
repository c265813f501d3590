//! Where results go on each CI host: outputs, masks, log groups, annotations, the job
//! summary. Steps call these methods with rendered text or data; the host decides the
//! syntax (GitHub workflow commands, Azure Pipelines logging commands, or plain
//! readable lines on a laptop).

pub mod escape;
mod outputs;

use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::env::Env;
use crate::error::{Diagnostic, Exit};
pub use crate::inputs::ci::HostKind;
use crate::secret::Secret;
use escape::{azp_data, azp_property, gh_data, gh_property, neutralize_line};
pub use outputs::write_outputs_file;

#[derive(Debug, thiserror::Error)]
pub enum HostError {
    #[error("cannot write {what} {path}: {source}")]
    Write {
        what: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Fs(#[from] crate::fsx::FsError),
}

impl Diagnostic for HostError {
    fn exit(&self) -> Exit {
        match self {
            HostError::Fs(e) => e.exit(),
            _ => Exit::External,
        }
    }
    fn hint(&self) -> Option<String> {
        match self {
            HostError::Fs(e) => e.hint(),
            _ => Some("check that the directory exists and is writable".into()),
        }
    }
}

/// Severity of an annotation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Level {
    Notice,
    Warning,
    Error,
}

/// Where an annotation points.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Location {
    pub file: Option<String>,
    pub line: Option<u32>,
    pub title: Option<String>,
}

pub struct Host {
    kind: HostKind,
    out: Mutex<Box<dyn Write + Send>>,
    data: Mutex<Box<dyn Write + Send>>,
    github_output: Option<PathBuf>,
    step_summary: Option<PathBuf>,
    temp_dir: PathBuf,
    color: bool,
    masks: Mutex<Vec<String>>,
    outputs: Mutex<BTreeMap<String, String>>,
}

impl Host {
    /// The host for this process: commands and logs on stdout.
    pub fn detect(env: &Env, kind: HostKind) -> Self {
        let color = kind == HostKind::Local
            && env.get("NO_COLOR").is_none()
            && std::io::stderr().is_terminal();
        let out: Box<dyn Write + Send> = match kind {
            // On a laptop, people read stderr; stdout stays for data.
            HostKind::Local => Box::new(std::io::stderr()),
            _ => Box::new(std::io::stdout()),
        };
        Self::with_writers(env, kind, out, Box::new(std::io::stdout()), color)
    }

    /// A host writing log lines to `out` and data (plans, settings) to `data`; tests
    /// capture both.
    pub fn with_writers(
        env: &Env,
        kind: HostKind,
        out: Box<dyn Write + Send>,
        data: Box<dyn Write + Send>,
        color: bool,
    ) -> Self {
        Host {
            kind,
            out: Mutex::new(out),
            data: Mutex::new(data),
            github_output: env.get("GITHUB_OUTPUT").map(PathBuf::from),
            step_summary: env.get("GITHUB_STEP_SUMMARY").map(PathBuf::from),
            temp_dir: env.temp_dir(),
            color,
            masks: Mutex::new(Vec::new()),
            outputs: Mutex::new(BTreeMap::new()),
        }
    }

    pub fn kind(&self) -> HostKind {
        self.kind
    }

    fn emit(&self, line: &str) {
        let mut out = self.out.lock().unwrap_or_else(|e| e.into_inner());
        // A closed stdout must not turn a finished deploy into a panic.
        let _ = writeln!(out, "{line}");
        let _ = out.flush();
    }

    /// Data for programs (a plan, resolved settings): stdout, never redacted away.
    pub fn print_data(&self, text: &str) {
        let mut out = self.data.lock().unwrap_or_else(|e| e.into_inner());
        let _ = writeln!(out, "{}", self.redact(text));
        let _ = out.flush();
    }

    /// Replaces every known secret in `s` by `***` (the local host has no masking).
    fn redact(&self, s: &str) -> String {
        let masks = self.masks.lock().unwrap_or_else(|e| e.into_inner());
        let mut out = s.to_string();
        for m in masks.iter() {
            out = out.replace(m.as_str(), "***");
        }
        out
    }

    /// Registers a secret with the host: it is masked in all later log output.
    pub fn mask(&self, secret: &Secret) {
        let v = secret.expose();
        if v.is_empty() {
            return;
        }
        {
            let mut masks = self.masks.lock().unwrap_or_else(|e| e.into_inner());
            if masks.iter().any(|m| m == v) {
                return;
            }
            masks.push(v.to_string());
        }
        match self.kind {
            HostKind::GitHubActions => {
                for line in v.lines().filter(|l| !l.trim().is_empty()) {
                    self.emit(&format!("::add-mask::{}", gh_data(line)));
                }
            }
            HostKind::AzurePipelines => self.emit(&format!("##vso[task.setsecret]{}", azp_data(v))),
            HostKind::Local => {}
        }
    }

    /// A plain log line of our own (may contain outside text: it is neutralised).
    pub fn info(&self, msg: &str) {
        for line in self.redact(msg).lines() {
            self.emit(&neutralize_line(line));
        }
    }

    /// Lines from outside (pod logs, Trivy's stderr): inert on every host.
    pub fn untrusted(&self, lines: &[String]) {
        let text: Vec<String> = lines.iter().map(|l| self.redact(l)).collect();
        match self.kind {
            HostKind::GitHubActions => {
                let token = uuid::Uuid::new_v4().simple().to_string();
                self.emit(&format!("::stop-commands::{token}"));
                for l in &text {
                    self.emit(&neutralize_line(l));
                }
                self.emit(&format!("::{token}::"));
            }
            _ => {
                for l in &text {
                    self.emit(&neutralize_line(l));
                }
            }
        }
    }

    pub fn group_start(&self, title: &str) {
        let title = self.redact(title);
        match self.kind {
            HostKind::GitHubActions => self.emit(&format!("::group::{}", gh_data(&title))),
            HostKind::AzurePipelines => self.emit(&format!("##[group]{}", neutralize_line(&title))),
            HostKind::Local => {
                let t = if self.color {
                    format!("\x1b[1m▸ {title}\x1b[0m")
                } else {
                    format!("▸ {title}")
                };
                self.emit(&neutralize_line(&t))
            }
        }
    }

    pub fn group_end(&self) {
        match self.kind {
            HostKind::GitHubActions => self.emit("::endgroup::"),
            HostKind::AzurePipelines => self.emit("##[endgroup]"),
            HostKind::Local => {}
        }
    }

    /// An annotation (GitHub) / issue (Azure Pipelines) / marked line (local).
    pub fn annotate(&self, level: Level, msg: &str, loc: &Location) {
        // The message may quote outside text: make any command inside it inert too.
        let msg: String = self
            .redact(msg)
            .lines()
            .map(neutralize_line)
            .collect::<Vec<_>>()
            .join("\n");
        match self.kind {
            HostKind::GitHubActions => {
                let cmd = match level {
                    Level::Notice => "notice",
                    Level::Warning => "warning",
                    Level::Error => "error",
                };
                let mut props = Vec::new();
                if let Some(f) = &loc.file {
                    props.push(format!("file={}", gh_property(f)));
                }
                if let Some(l) = loc.line {
                    props.push(format!("line={l}"));
                }
                if let Some(t) = &loc.title {
                    props.push(format!("title={}", gh_property(&self.redact(t))));
                }
                let props = if props.is_empty() {
                    String::new()
                } else {
                    format!(" {}", props.join(","))
                };
                self.emit(&format!("::{cmd}{props}::{}", gh_data(&msg)));
            }
            HostKind::AzurePipelines => {
                let ty = match level {
                    Level::Error => "error",
                    _ => "warning",
                };
                let mut props = vec![format!("type={ty}")];
                if let Some(f) = &loc.file {
                    props.push(format!("sourcepath={}", azp_property(f)));
                }
                if let Some(l) = loc.line {
                    props.push(format!("linenumber={l}"));
                }
                let msg = match &loc.title {
                    Some(t) => format!("{}: {msg}", self.redact(t)),
                    None => msg,
                };
                self.emit(&format!(
                    "##vso[task.logissue {}]{}",
                    props.join(";"),
                    azp_data(&msg)
                ));
            }
            HostKind::Local => {
                let (word, colour) = match level {
                    Level::Notice => ("note", "36"),
                    Level::Warning => ("warning", "33"),
                    Level::Error => ("error", "31"),
                };
                let word = if self.color {
                    format!("\x1b[{colour}m{word}\x1b[0m")
                } else {
                    word.to_string()
                };
                let at = match (&loc.file, loc.line) {
                    (Some(f), Some(l)) => format!(" ({f}:{l})"),
                    (Some(f), None) => format!(" ({f})"),
                    _ => String::new(),
                };
                let title = loc
                    .title
                    .as_deref()
                    .map(|t| format!("{t}: "))
                    .unwrap_or_default();
                for (i, line) in msg.lines().enumerate() {
                    if i == 0 {
                        self.emit(&neutralize_line(&format!("{word}{at}: {title}{line}")));
                    } else {
                        self.emit(&neutralize_line(&format!("  {line}")));
                    }
                }
            }
        }
    }

    /// A step output. GitHub: `$GITHUB_OUTPUT` (multi-line safe); Azure Pipelines: an
    /// output variable; local: remembered for `--outputs-file` only.
    pub fn set_output(&self, name: &str, value: &str) -> Result<(), HostError> {
        self.outputs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(name.to_string(), value.to_string());
        match self.kind {
            HostKind::GitHubActions => {
                if let Some(path) = &self.github_output {
                    let delim = format!("ghadelimiter_{}", uuid::Uuid::new_v4());
                    let entry = if value.contains('\n') || value.contains('\r') {
                        format!("{name}<<{delim}\n{value}\n{delim}\n")
                    } else {
                        format!("{name}={value}\n")
                    };
                    append(path, "the step outputs file", &entry)?;
                } else {
                    self.emit(&format!("::set-output name={name}::{}", gh_data(value)));
                }
            }
            HostKind::AzurePipelines => self.emit(&format!(
                "##vso[task.setvariable variable={};isOutput=true]{}",
                azp_property(name),
                azp_data(value)
            )),
            HostKind::Local => {}
        }
        Ok(())
    }

    /// Every output set so far.
    pub fn outputs(&self) -> BTreeMap<String, String> {
        self.outputs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Markdown for the job summary (GitHub), the build summary (Azure Pipelines), or
    /// the console (local).
    pub fn summary(&self, name: &str, markdown: &str) -> Result<(), HostError> {
        let markdown = self.redact(markdown);
        match self.kind {
            HostKind::GitHubActions => match &self.step_summary {
                Some(path) => append(path, "the job summary", &format!("{markdown}\n")),
                None => Ok(()),
            },
            HostKind::AzurePipelines => {
                let path = self.temp_dir.join(format!("aks-backend-{name}-summary.md"));
                crate::fsx::write(&path, "the build summary", markdown.as_bytes(), 0o644)?;
                self.emit(&format!(
                    "##vso[task.uploadsummary]{}",
                    azp_data(&path.display().to_string())
                ));
                Ok(())
            }
            HostKind::Local => {
                for line in markdown.lines() {
                    self.emit(&neutralize_line(line));
                }
                Ok(())
            }
        }
    }

    /// Azure Pipelines: publishes `path` as the build artifact `name` (in folder
    /// `folder`), e.g. SARIF as `CodeAnalysisLogs` for the Scans tab. Other hosts: no-op
    /// (returns false).
    pub fn upload_artifact(&self, folder: &str, name: &str, path: &Path) -> bool {
        if self.kind != HostKind::AzurePipelines {
            return false;
        }
        self.emit(&format!(
            "##vso[artifact.upload containerfolder={};artifactname={}]{}",
            azp_property(folder),
            azp_property(name),
            azp_data(&path.display().to_string())
        ));
        true
    }

    /// Azure Pipelines: set the task result explicitly (the shim also passes our exit code).
    pub fn complete(&self, exit: Exit, message: &str) {
        if self.kind == HostKind::AzurePipelines {
            let result = match exit {
                Exit::Ok => "Succeeded",
                _ => "Failed",
            };
            self.emit(&format!(
                "##vso[task.complete result={result};]{}",
                azp_data(&self.redact(message))
            ));
        }
    }
}

fn append(path: &Path, what: &'static str, text: &str) -> Result<(), HostError> {
    Ok(crate::fsx::append(path, what, text.as_bytes())?)
}
