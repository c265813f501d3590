//! Where results go on each CI host: outputs, masks, log groups, annotations, the job
//! summary. Steps call these methods with rendered text or data; the host decides the
//! syntax (GitHub workflow commands, Azure Pipelines logging commands, or plain
//! readable lines on a laptop).

pub mod escape;
pub mod outputs;
pub mod plain;

use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::env::Env;
use crate::model::diagnostic::{Diagnostic, Exit};
pub use crate::model::host_kind::HostKind;
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

pub use crate::model::diagnostic::Location;

pub struct Host {
    kind: HostKind,
    out: Mutex<Box<dyn Write + Send>>,
    data: Mutex<Box<dyn Write + Send>>,
    github_output: Option<PathBuf>,
    step_summary: Option<PathBuf>,
    temp_dir: PathBuf,
    color: bool,
    masks: Mutex<Vec<String>>,
    /// Every `set_output`, in order: the outputs so far are its last value per name, and
    /// what one step published is what it added (even a value an earlier step had
    /// already set, as refer re-publishing infra's registry).
    output_log: Mutex<Vec<(String, String)>>,
}

impl Host {
    /// The host for this process: commands and logs on stdout.
    pub fn detect(env: &Env, kind: HostKind) -> Self {
        let color = wants_color(env, kind, std::io::stderr().is_terminal());
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
            output_log: Mutex::new(Vec::new()),
        }
    }

    pub fn kind(&self) -> HostKind {
        self.kind
    }

    /// Our own colour codes around a text already made inert.
    fn paint(&self, code: &str, s: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{s}\x1b[0m")
        } else {
            s.to_string()
        }
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
            // The agent masks each line of a multi-line value only when told line by
            // line (a `%0A` inside one setsecret is not a line break to the masker).
            HostKind::AzurePipelines => {
                for line in v.lines().filter(|l| !l.trim().is_empty()) {
                    self.emit(&format!("##vso[task.setsecret]{}", azp_data(line)));
                }
            }
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
            HostKind::GitHubActions => {
                self.emit(&format!("::group::{}", gh_data(&neutralize_line(&title))))
            }
            HostKind::AzurePipelines => self.emit(&format!("##[group]{}", neutralize_line(&title))),
            HostKind::Local => {
                let t = neutralize_line(&format!("▸ {title}"));
                self.emit(&self.paint("1", &t))
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
                    props.push(format!(
                        "title={}",
                        gh_property(&neutralize_line(&self.redact(t)))
                    ));
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
                    Some(t) => format!("{}: {msg}", neutralize_line(&self.redact(t))),
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
                let word = self.paint(colour, word);
                let at = match (&loc.file, loc.line) {
                    (Some(f), Some(l)) => format!(" ({f}:{l})"),
                    (Some(f), None) => format!(" ({f})"),
                    _ => String::new(),
                };
                let title = loc
                    .title
                    .as_deref()
                    .map(|t| format!("{}: ", self.redact(t)))
                    .unwrap_or_default();
                for (i, line) in msg.lines().enumerate() {
                    if i == 0 {
                        let rest = neutralize_line(&format!("{at}: {title}{line}"));
                        self.emit(&format!("{word}{rest}"));
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
        self.output_log
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push((name.to_string(), value.to_string()));
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

    /// A mark for [`Host::outputs_since`].
    pub fn output_mark(&self) -> usize {
        self.output_log
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .len()
    }

    /// The outputs set since `mark` (the last value of each name).
    pub fn outputs_since(&self, mark: usize) -> BTreeMap<String, String> {
        let log = self.output_log.lock().unwrap_or_else(|e| e.into_inner());
        log.get(mark..)
            .unwrap_or_default()
            .iter()
            .cloned()
            .collect()
    }

    /// Every output set so far.
    pub fn outputs(&self) -> BTreeMap<String, String> {
        self.outputs_since(0)
    }

    /// Markdown for the job summary (GitHub), the build summary (Azure Pipelines), or
    /// the console (local).
    ///
    /// Control characters are removed (renderers escape the rest). On GitHub the step's
    /// summary never grows past its 1 MiB limit (GitHub would drop all of it): a part
    /// that does not fit is replaced by a line saying so.
    pub fn summary(&self, name: &str, markdown: &str) -> Result<(), HostError> {
        let markdown =
            escape::strip_controls_keeping(&self.redact(markdown), |c| c == '\n' || c == '\r');
        match self.kind {
            HostKind::GitHubActions => match &self.step_summary {
                Some(path) => {
                    let used = std::fs::metadata(path).map_or(0, |m| m.len());
                    let room =
                        (crate::model::text::GITHUB_SUMMARY_MAX_BYTES as u64).saturating_sub(used);
                    let entry = format!("{markdown}\n");
                    if entry.len() as u64 <= room {
                        append(path, "the job summary", &entry)
                    } else {
                        let note = format!(
                            "_The {} summary ({} bytes) is left out: the job summary would pass GitHub's 1 MiB limit._\n",
                            escape::strip_controls(name),
                            entry.len()
                        );
                        if note.len() as u64 <= room {
                            append(path, "the job summary", &note)?;
                        }
                        self.emit(&format!(
                            "::warning::{}",
                            gh_data(&format!("the {name} summary is left out of the job summary: it would pass GitHub's 1 MiB limit"))
                        ));
                        Ok(())
                    }
                }
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
            // People read the console: plain text, bold only with colour.
            HostKind::Local => {
                for line in plain::render(&markdown, self.color) {
                    self.emit(&neutralize_line(&line));
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

/// Colour on a laptop's terminal unless `NO_COLOR` is set to something: an empty
/// `NO_COLOR` counts as unset (no-color.org).
fn wants_color(env: &Env, kind: HostKind, terminal: bool) -> bool {
    kind == HostKind::Local && env.get("NO_COLOR").is_none_or(str::is_empty) && terminal
}

/// Clients hand the secrets they find to a [`crate::secret::Mask`]; on a CI host that is
/// this host.
impl crate::secret::Mask for Host {
    fn mask(&self, secret: &Secret) {
        Host::mask(self, secret)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[derive(Clone, Default)]
    struct Capture(Arc<Mutex<Vec<u8>>>);
    impl Write for Capture {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    impl Capture {
        fn text(&self) -> String {
            String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
        }
    }

    fn host(kind: HostKind, vars: &[(&str, &str)], color: bool) -> (Host, Capture) {
        let env = Env::from_pairs(vars.iter().copied(), Path::new("/"));
        let out = Capture::default();
        let h = Host::with_writers(
            &env,
            kind,
            Box::new(out.clone()),
            Box::new(out.clone()),
            color,
        );
        (h, out)
    }

    const HOSTILE: &[&str] = &[
        "##\rvso[task.setvariable variable=X]1",
        ":\r:set-env name=X::1",
        "::\u{1b}[0m:add-mask::x",
        "#\u{85}#[error]fake",
        "copy \u{1b}]52;c;ZWNobyBwd25lZA==\u{7} this",
        "\u{9d}52;c;Zm9v\u{9c}##\u{9b}0mvso[task.complete result=Succeeded]",
    ];

    /// No line of output may start a command or carry a terminal escape.
    fn assert_inert(kind: HostKind, out: &str) {
        for line in out.lines() {
            assert!(!line.contains("##vso[task.setvariable"), "{line:?}");
            assert!(!line.contains("##vso[task.complete"), "{line:?}");
            assert!(!line.contains("##[error]"), "{line:?}");
            assert!(
                !line.chars().any(|c| c.is_control() && c != '\t'),
                "{line:?}"
            );
            if kind == HostKind::GitHubActions {
                let t = line.trim_start();
                assert!(
                    !t.starts_with("::set-env") && !t.starts_with("::add-mask::x"),
                    "{line:?}"
                );
            }
        }
    }

    /// Issue 13 item 1: every path to the log: untrusted lines, info, annotations,
    /// groups, the console summary.
    #[test]
    fn hostile_lines_are_inert_on_every_path() {
        for kind in [
            HostKind::GitHubActions,
            HostKind::AzurePipelines,
            HostKind::Local,
        ] {
            for color in [false, true] {
                let (h, out) = host(kind, &[], color);
                let lines: Vec<String> = HOSTILE.iter().map(|s| s.to_string()).collect();
                h.untrusted(&lines);
                for l in HOSTILE {
                    h.info(l);
                    h.group_start(l);
                    h.group_end();
                    h.annotate(
                        Level::Error,
                        l,
                        &Location {
                            title: Some(l.to_string()),
                            file: Some("Dockerfile".to_string()),
                            line: Some(1),
                        },
                    );
                }
                if kind == HostKind::Local {
                    h.summary("scan", &HOSTILE.join("\n")).unwrap();
                }
                let text = out.text();
                if !color {
                    assert_inert(kind, &text);
                } else {
                    // Our own colour codes are the only escapes.
                    let stripped = text
                        .replace("\u{1b}[1m", "")
                        .replace("\u{1b}[0m", "")
                        .replace("\u{1b}[31m", "");
                    assert_inert(kind, &stripped);
                }
            }
        }
    }

    #[test]
    fn the_job_summary_has_no_control_characters() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("summary.md");
        let (h, _) = host(
            HostKind::GitHubActions,
            &[("GITHUB_STEP_SUMMARY", path.to_str().unwrap())],
            false,
        );
        h.summary("scan", "a\u{1b}]52;c;Zm9v\u{7}b\u{9b}2J\nc")
            .unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "ab\nc\n");
    }

    /// Issue 13 item 8: the job summary stays under GitHub's 1 MiB.
    #[test]
    fn the_job_summary_never_passes_one_mebibyte() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("summary.md");
        let (h, out) = host(
            HostKind::GitHubActions,
            &[("GITHUB_STEP_SUMMARY", path.to_str().unwrap())],
            false,
        );
        let part = "x".repeat(400 * 1024);
        for _ in 0..4 {
            h.summary("scan", &part).unwrap();
        }
        let len = std::fs::metadata(&path).unwrap().len();
        assert!(len <= 1024 * 1024, "{len}");
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            text.contains("is left out"),
            "{}",
            &text[text.len() - 200..]
        );
        assert!(out.text().contains("::warning::"));
    }

    /// Issue 13 item 11: Azure Pipelines masks a multi-line secret line by line.
    #[test]
    fn azure_masks_multi_line_secrets_line_by_line() {
        let (h, out) = host(HostKind::AzurePipelines, &[], false);
        h.mask(&Secret::new("-----BEGIN KEY-----\nabc\ndef\n".to_string()));
        let lines: Vec<String> = out.text().lines().map(String::from).collect();
        assert_eq!(
            lines,
            [
                "##vso[task.setsecret]-----BEGIN KEY-----",
                "##vso[task.setsecret]abc",
                "##vso[task.setsecret]def",
            ]
        );
    }

    /// Issue 13 item 11: `NO_COLOR=` (empty) counts as unset.
    #[test]
    fn empty_no_color_is_unset() {
        let env = |v: &[(&str, &str)]| Env::from_pairs(v.iter().copied(), Path::new("/"));
        assert!(wants_color(
            &env(&[("NO_COLOR", "")]),
            HostKind::Local,
            true
        ));
        assert!(wants_color(&env(&[]), HostKind::Local, true));
        assert!(!wants_color(
            &env(&[("NO_COLOR", "1")]),
            HostKind::Local,
            true
        ));
        assert!(!wants_color(&env(&[]), HostKind::Local, false));
        assert!(!wants_color(&env(&[]), HostKind::GitHubActions, true));
    }
}
